"""The JobFlow's status: phase, progress, steps and conditions, as the Job controller would.

Conditions follow metav1.Condition: a ``lastTransitionTime`` moves only when the condition's
status changes, so an unchanged flow gets byte-identical status and no new sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zen_flow.api.reasons import ConditionType, FlowReason
from zen_flow.api.status import (
    Condition,
    ConditionStatus,
    FlowPhase,
    JobFlowStatus,
    Progress,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import format_time
from zen_flow.spec.validation import Problem

MAX_CONDITION_MESSAGE = 2048

# Which condition is True in which phase.
_TRUE_IN_PHASE = {
    ConditionType.RUNNING: FlowPhase.RUNNING,
    ConditionType.COMPLETE: FlowPhase.SUCCEEDED,
    ConditionType.FAILED: FlowPhase.FAILED,
    ConditionType.SUSPENDED: FlowPhase.SUSPENDED,
}


def progress(steps: Sequence[StepStatus]) -> Progress:
    succeeded = sum(1 for s in steps if s.phase is StepPhase.SUCCEEDED)
    failed = sum(1 for s in steps if s.phase is StepPhase.FAILED)
    skipped = sum(1 for s in steps if s.phase is StepPhase.SKIPPED)
    done = succeeded + failed + skipped
    return Progress(
        total_steps=len(steps),
        completed_steps=done,
        successful_steps=succeeded,
        failed_steps=failed,
        skipped_steps=skipped,
        summary=f"{done}/{len(steps)}",
    )


def flow_status(
    *,
    previous: JobFlowStatus,
    phase: FlowPhase,
    reason: FlowReason,
    message: str | None,
    steps: list[StepStatus],
    start_time: datetime | None,
    completion_time: datetime | None,
    generation: int,
    problems: Sequence[Problem],
    now: datetime,
) -> JobFlowStatus:
    """The new status, keeping condition transition times that did not change."""
    invalid = bool(problems)
    conditions = []
    for kind in ConditionType:
        if kind == ConditionType.INVALID_SPEC:
            true = invalid
            detail = _problems_text(problems) if invalid else ""
            why: str = FlowReason.INVALID_SPEC if invalid else FlowReason.SPEC_VALID
        else:
            true = phase is _TRUE_IN_PHASE[kind]
            detail = (message or "") if true else ""
            why = reason if true else phase.value
        conditions.append(_condition(previous, kind, true, why, detail, generation, now))
    return JobFlowStatus(
        phase=phase,
        reason=reason,
        message=message,
        observed_generation=generation,
        start_time=format_time(start_time) if start_time else None,
        completion_time=format_time(completion_time) if completion_time else None,
        progress=progress(steps),
        steps=steps,
        conditions=conditions,
    )


def status_document(status: JobFlowStatus) -> dict[str, Any]:
    """Status as written to the API: camelCase, empty fields left out."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _condition(
    previous: JobFlowStatus,
    kind: str,
    true: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> Condition:
    status = ConditionStatus.TRUE if true else ConditionStatus.FALSE
    before = next((c for c in previous.conditions if c.type == kind), None)
    # The transition time moves only when the status does.
    if before is not None and before.status == status:
        when = before.last_transition_time
    else:
        when = format_time(now)
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message[:MAX_CONDITION_MESSAGE],
        last_transition_time=when,
        observed_generation=generation,
    )


def _problems_text(problems: Sequence[Problem]) -> str:
    return "; ".join(str(p) for p in problems)
