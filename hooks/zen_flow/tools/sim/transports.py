"""How a simulated Metacontroller reaches the hooks: in process, or over HTTP.

A transport moves bytes (``exchange``): the request as Metacontroller posts it, the answer as
the hooks write it. Called with a request object instead, it answers with the decoded answer,
for tests that build or inspect requests themselves.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any, Protocol

from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response

CLOCK_HEADER = "X-Zen-Flow-Now"


class Transport(Protocol):
    """Sends one hook call (a sync, or a finalize when ``finalizing``) at ``now``."""

    def exchange(self, body: bytes, now: datetime, finalizing: bool) -> bytes:
        """The answer's bytes to the request ``body``."""
        ...

    def __call__(self, request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
        """The decoded answer to the request object ``request``."""
        ...


def _as_body(request: dict[str, Any], finalizing: bool) -> bytes:
    return json.dumps({**request, "finalizing": finalizing}, separators=(",", ":")).encode()


class InProcess:
    """Calls the engine directly, through the same bytes as the server."""

    def exchange(self, body: bytes, now: datetime, finalizing: bool) -> bytes:
        return encode_response(sync(decode_request(body), now).response)

    def __call__(self, request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
        body = _as_body(request, finalizing)
        answer: dict[str, Any] = json.loads(self.exchange(body, now, finalizing))
        return answer


in_process = InProcess()


class HttpTransport:
    """Sends hook requests to a running server, ``now`` in the test-clock header."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.bodies: list[bytes] = []

    def post(self, path: str, body: bytes, now: datetime | None = None) -> tuple[int, bytes]:
        """The status code and body of one POST; error statuses are returned, not raised."""
        headers = {"Content-Type": "application/json"}
        if now is not None:
            headers[CLOCK_HEADER] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        request = urllib.request.Request(
            self.base_url + path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def exchange(self, body: bytes, now: datetime, finalizing: bool) -> bytes:
        path = "/finalize" if finalizing else "/sync"
        code, answer = self.post(path, body, now)
        if code != 200:
            raise HookError(f"POST {path} answered {code}: {answer[:500]!r}")
        self.bodies.append(answer)
        return answer

    def __call__(self, request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(
            self.exchange(_as_body(request, finalizing), now, finalizing)
        )
        return answer


class HookError(AssertionError):
    """The hooks answered something other than 200."""
