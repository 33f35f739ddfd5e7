"""Builders of JobFlows and requests for the tests, shaped as users and Metacontroller send."""

from __future__ import annotations

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
