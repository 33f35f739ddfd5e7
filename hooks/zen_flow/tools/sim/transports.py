"""How a simulated Metacontroller reaches the hooks: in process, or over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response

Transport = Callable[[dict[str, Any], datetime, bool], dict[str, Any]]
"""Sends a hook request (request, now, finalizing) and returns the decoded response."""

CLOCK_HEADER = "X-Zen-Flow-Now"


def in_process(request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
    """Call the engine directly, through the same bytes as the server."""
    decoded = decode_request(
        json.dumps({**request, "finalizing": finalizing}, separators=(",", ":")).encode()
    )
    answer: dict[str, Any] = json.loads(encode_response(sync(decoded, now).response))
    return answer


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

    def __call__(self, request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
        path = "/finalize" if finalizing else "/sync"
        code, body = self.post(
            path,
            json.dumps({**request, "finalizing": finalizing}, separators=(",", ":")).encode(),
            now,
        )
        if code != 200:
            raise HookError(f"POST {path} answered {code}: {body[:500]!r}")
        self.bodies.append(body)
        answer: dict[str, Any] = json.loads(body)
        return answer


class HookError(AssertionError):
    """The hooks answered something other than 200."""
