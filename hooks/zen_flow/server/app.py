"""The HTTP layer: parse, call the core, serialise, map errors to status codes.

Status codes matter to Metacontroller: a 200 is applied (children missing from it are
deleted, a missing status is wiped), anything else is retried with backoff. So a request we
cannot answer fully is never a 200.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from flask import Flask, Response, g, request
from gevent import Timeout, monkey
from werkzeug.exceptions import HTTPException

from zen_flow.api.times import parse_time
from zen_flow.engine.customize import customize
from zen_flow.engine.guard import UnsafeAnswer
from zen_flow.engine.sync import SyncResult, sync
from zen_flow.engine.wire import (
    WireError,
    allow_deep_json,
    decode_request,
    encode,
    encode_response,
)
from zen_flow.server.logs import configure
from zen_flow.server.metrics import HookMetrics
from zen_flow.server.settings import Settings

CLOCK_HEADER = "X-Zen-Flow-Now"
JSON = "application/json"
READ_CHUNK = 256 * 1024


class RequestError(ValueError):
    """A request we refuse with ``code`` and this message."""

    code = 400


class BodyTooLarge(RequestError):
    code = 413


class BodyTooSlow(RequestError):
    code = 408


def create_app(settings: Settings | None = None) -> Flask:
    """A hook server app; all its state lives in this call, none at module level."""
    settings = settings or Settings.from_env()
    allow_deep_json()
    log = configure(settings.log_level)
    metrics = HookMetrics()
    app = Flask("zen_flow")

    def answer(hook: str, handler: Callable[[], Response]) -> Response:
        started = time.perf_counter()
        code = 500
        try:
            response = handler()
            code = 200
            return response
        except (RequestError, WireError) as error:
            code = error.code if isinstance(error, RequestError) else 400
            return _error(code, str(error), close=code != 400)
        except UnsafeAnswer as error:
            # A bug: the answer would have crossed the trust boundary. Never sent.
            log.error("answer refused by the guard: %s", error, extra=_flow_fields())
            return _error(500, "internal error; see the hook server's log")
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_request(hook, code, seconds)
            fields = {**_flow_fields(), "hook": hook, "code": code, "seconds": round(seconds, 4)}
            log.log(_answer_level(code), "hook %s answered %d", hook, code, extra=fields)

    def sync_hook(finalizing: bool) -> Callable[[], Response]:
        return lambda: _answer_hook(finalizing, settings, metrics, log)

    def customize_hook() -> Response:
        body = _read_body(settings)
        return Response(encode(customize(body)), status=200, mimetype=JSON)

    app.add_url_rule("/sync", "sync", lambda: answer("sync", sync_hook(False)), methods=["POST"])
    app.add_url_rule(
        "/finalize", "finalize", lambda: answer("finalize", sync_hook(True)), methods=["POST"]
    )
    app.add_url_rule(
        "/customize", "customize", lambda: answer("customize", customize_hook), methods=["POST"]
    )
    app.add_url_rule("/healthz", "healthz", lambda: _plain("ok"), methods=["GET"])
    app.add_url_rule("/readyz", "readyz", lambda: _plain("ready"), methods=["GET"])
    app.add_url_rule(
        "/metrics",
        "metrics",
        lambda: Response(metrics.exposition(), mimetype="text/plain; version=0.0.4"),
        methods=["GET"],
    )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # No traceback in the body; the log has it, with the flow it was about.
        log.error("unexpected error: %r", error, exc_info=error, extra=_flow_fields())
        return _error(500, "internal error; see the hook server's log")

    return app


def _answer_hook(
    finalizing: bool, settings: Settings, metrics: HookMetrics, log: logging.Logger
) -> Response:
    body = _read_body(settings)
    if not body:
        raise RequestError("empty body: expected a JSON hook request")
    hook_request = decode_request(body)
    meta = hook_request.parent.metadata
    g.flow = {"namespace": meta.namespace, "name": meta.name}
    if finalizing and not hook_request.finalizing:
        hook_request = msgspec.structs.replace(hook_request, finalizing=True)
    result: SyncResult = sync(hook_request, _now(settings))
    metrics.observe_sync(result.jobs_created, result.step_transitions, result.flow_transition)
    if result.flow_transition is not None:
        reason = result.response.status.get("reason")
        log.info(
            "flow is now %s%s",
            result.flow_transition,
            f" ({reason})" if reason else "",
            extra={**_flow_fields(), "phase": result.flow_transition, "reason": reason},
        )
    if result.ignored_bookkeeping:
        metrics.observe_ignored_bookkeeping(result.ignored_bookkeeping)
        log.warning(
            "ignored %s last-applied annotation(s) that describe another object: %s",
            len(result.ignored_bookkeeping),
            ", ".join(result.ignored_bookkeeping[:10]),
            extra={**_flow_fields(), "children": list(result.ignored_bookkeeping[:100])},
        )
    return Response(encode_response(result.response), status=200, mimetype=JSON)


def _read_body(settings: Settings) -> bytes:
    """The request body, whole: 413 over the limit however it is framed (a length or
    chunks), 408 when it takes longer than ``read_timeout`` to arrive."""
    limit = settings.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(f"request body larger than {limit} bytes")
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    total = 0
    with _deadline(settings.read_timeout):
        while True:
            chunk = stream.read(min(READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(f"request body larger than {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Under gunicorn's gevent workers, cut the block off after ``seconds``: a greenlet
    reading a slow client yields at every read, where the timeout strikes."""
    if not monkey.is_module_patched("socket"):
        yield
        return
    timeout = Timeout(seconds, BodyTooSlow(f"request body not received within {seconds}s"))
    timeout.start()
    try:
        yield
    finally:
        timeout.cancel()


def _answer_level(code: int) -> int:
    """Answered calls are many and alike: debug. Refused ones (4xx) are warnings, failed ones
    (5xx) errors; the unexpected ones are logged once more with their traceback."""
    if code < 400:
        return logging.DEBUG
    return logging.WARNING if code < 500 else logging.ERROR


def _now(settings: Settings) -> datetime:
    header = request.headers.get(CLOCK_HEADER)
    if settings.test_clock and header:
        try:
            return parse_time(header)
        except ValueError:
            raise RequestError(f"{CLOCK_HEADER}: {header!r} is not an RFC 3339 time") from None
    return datetime.now(UTC)


def _flow_fields() -> dict[str, Any]:
    flow = g.get("flow")
    return {"flow": flow} if flow else {}


def _error(code: int, message: str, *, close: bool = False) -> Response:
    response = Response(encode({"error": message}), status=code, mimetype=JSON)
    if close:
        # What the client still sends is not read: the connection ends with the answer.
        response.headers["Connection"] = "close"
    return response


def _plain(text: str) -> Response:
    return Response(text + "\n", mimetype="text/plain")
