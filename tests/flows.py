"""Builders of JobFlows and requests for the tests, shaped as users and Metacontroller send."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def job_template(**pod_spec: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}]}
    spec.update(pod_spec)
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": spec}}}


def step(name: str, *dependencies: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "template": job_template()}
    if dependencies:
        body["dependencies"] = list(dependencies)
    body.update(fields)
    return body


def jobflow(name: str, *steps: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}", "generation": 1},
        "spec": {"steps": list(steps), **spec},
    }


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class HttpTransport:
    """Sends hook requests to a running server, with the test clock header."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.bodies: list[bytes] = []

    def post(self, path: str, body: bytes, now: datetime | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if now is not None:
            headers["X-Zen-Flow-Now"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
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
            path, json.dumps({**request, "finalizing": finalizing}).encode(), now
        )
        assert code == 200, body
        self.bodies.append(body)
        answer: dict[str, Any] = json.loads(body)
        return answer
