"""The HTTP layer: parse, call the core, serialise, map errors to status codes.

Status codes matter to Metacontroller: a 200 is applied (children missing from it are
deleted, a missing status is wiped), anything else is retried with backoff. So a request we
cannot answer fully is never a 200.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from zen_flow.api.times import parse_time
from zen_flow.engine.sync import SyncResult, sync
from zen_flow.engine.wire import HookRequest, WireError, decode_request, encode, encode_response
from zen_flow.server.logs import configure
from zen_flow.server.metrics import HookMetrics
from zen_flow.server.settings import Settings

CLOCK_HEADER = "X-Zen-Flow-Now"
JSON = "application/json"


class BadRequest(ValueError):
    """A request we refuse with 400 and this message."""


def create_app(settings: Settings | None = None) -> Flask:
    """A hook server app; all its state lives in this call, none at module level."""
    settings = settings or Settings.from_env()
    log = configure(settings.log_level)
    metrics = HookMetrics()
    app = Flask("zen_flow")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    def answer(hook: str, finalizing: bool) -> Response:
        started = time.perf_counter()
        code = 500
        try:
            response = _answer_hook(finalizing, settings, metrics)
            code = 200
            return response
        except (BadRequest, WireError) as error:
            code = 400
            return _error(400, str(error))
        except RequestEntityTooLarge:
            code = 413
            return _error(413, f"request body larger than {settings.max_body_bytes} bytes")
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_request(hook, code, seconds)
            fields = {**_flow_fields(), "hook": hook, "code": code, "seconds": round(seconds, 4)}
            level = logging.INFO if code == 200 else logging.WARNING
            log.log(level, "hook %s answered %d", hook, code, extra=fields)

    app.add_url_rule("/sync", "sync", lambda: answer("sync", False), methods=["POST"])
    app.add_url_rule("/finalize", "finalize", lambda: answer("finalize", True), methods=["POST"])
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


def _answer_hook(finalizing: bool, settings: Settings, metrics: HookMetrics) -> Response:
    body = request.get_data(cache=False)
    if not body:
        raise BadRequest("empty body: expected a JSON hook request")
    hook_request = decode_request(body)
    meta = hook_request.parent.metadata
    g.flow = {"namespace": meta.namespace, "name": meta.name}
    if finalizing and not hook_request.finalizing:
        hook_request = HookRequest(hook_request.parent, hook_request.children, finalizing=True)
    result: SyncResult = sync(hook_request, _now(settings))
    metrics.observe_sync(result.jobs_created, result.step_transitions, result.flow_transition)
    return Response(encode_response(result.response), status=200, mimetype=JSON)


def _now(settings: Settings) -> datetime:
    header = request.headers.get(CLOCK_HEADER)
    if settings.test_clock and header:
        try:
            return parse_time(header)
        except ValueError:
            raise BadRequest(f"{CLOCK_HEADER}: {header!r} is not an RFC 3339 time") from None
    return datetime.now(UTC)


def _flow_fields() -> dict[str, Any]:
    flow = g.get("flow")
    return {"flow": flow} if flow else {}


def _error(code: int, message: str) -> Response:
    return Response(encode({"error": message}), status=code, mimetype=JSON)


def _plain(text: str) -> Response:
    return Response(text + "\n", mimetype="text/plain")
