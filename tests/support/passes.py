"""A planning pass's context built the way the engine builds it: from a hook request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tests.support.flows import T0, jobflow, step
from zen_flow.api.status import StepPhase, StepStatus
from zen_flow.engine.observe import observe
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.wire import decode_request
from zen_flow.spec.validation import parse_spec


def job(
    step_name: str,
    attempt: int = 1,
    *,
    finished: str | None = None,
    at: str = "2026-03-01T12:00:00Z",
    reason: str = "",
    suspend: bool = False,
) -> dict[str, Any]:
    """A Job of flow "f", as the API server lists it; ``finished`` is Complete or Failed."""
    conditions = []
    if finished is not None:
        conditions.append(
            {"type": finished, "status": "True", "reason": reason, "lastTransitionTime": at}
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"f-{step_name}-{attempt}",
            "namespace": "team-a",
            "creationTimestamp": "2026-03-01T12:00:00Z",
            "labels": {
                "workflow.zen.io/step": step_name,
                "workflow.zen.io/attempt": str(attempt),
            },
        },
        "spec": {"suspend": suspend},
        "status": {"conditions": conditions, "startTime": "2026-03-01T12:00:00Z"},
    }


def context(
    flow: dict[str, Any] | None = None,
    *,
    jobs: tuple[dict[str, Any], ...] = (),
    status: dict[str, Any] | None = None,
    now: datetime = T0,
    suspended: bool = False,
) -> PassContext:
    """The context of a pass over ``flow`` (default: one step "a") and ``jobs``."""
    flow = json.loads(json.dumps(flow or jobflow("f", step("a"))))
    if status is not None:
        flow["status"] = status
    if suspended:
        flow["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    request = {
        "parent": flow,
        "children": {"Job.batch/v1": {j["metadata"]["name"]: j for j in jobs}},
    }
    observation = observe(decode_request(json.dumps(request).encode()))
    return PassContext.build(observation, parse_spec(observation.spec_json), now)


def pending(name: str) -> StepStatus:
    return StepStatus(name=name, phase=StepPhase.PENDING)


def state(name: str, phase: StepPhase, **fields: Any) -> StepStatus:
    return StepStatus(name=name, phase=phase, **fields)
