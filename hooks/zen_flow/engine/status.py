"""The JobFlow's status: phase, progress, steps and conditions, as the Job controller would.

Conditions follow metav1.Condition: a ``lastTransitionTime`` moves only when the condition's
status changes, so an unchanged flow gets byte-identical status and no new sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zen_flow.api.reasons import ConditionType, FlowReason
from zen_flow.api.status import (
    Condition,
    ConditionStatus,
    FlowPhase,
    JobFlowStatus,
    Progress,
    RerunStatus,
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


@dataclass(frozen=True)
class FlowState:
    """What a sync decided about the flow as a whole: the input of its status."""

    phase: FlowPhase
    reason: FlowReason
    message: str | None
    steps: list[StepStatus]
    start_time: datetime | None
    completion_time: datetime | None
    rerun: RerunStatus | None = None


def flow_status(
    previous: JobFlowStatus,
    flow: FlowState,
    *,
    generation: int,
    problems: Sequence[Problem],
    now: datetime,
) -> JobFlowStatus:
    """The new status, keeping condition transition times that did not change."""
    before = {c.type: c for c in previous.conditions}
    conditions = []
    for kind in ConditionType:
        if kind == ConditionType.INVALID_SPEC:
            true = bool(problems)
            detail = _problems_text(problems)
            why: str = FlowReason.INVALID_SPEC if problems else FlowReason.SPEC_VALID
        else:
            true = flow.phase is _TRUE_IN_PHASE[kind]
            detail = (flow.message or "") if true else ""
            why = flow.reason if true else flow.phase.value
        status = ConditionStatus.TRUE if true else ConditionStatus.FALSE
        conditions.append(
            Condition(
                type=kind,
                status=status,
                reason=why,
                message=detail[:MAX_CONDITION_MESSAGE],
                last_transition_time=_transition_time(before.get(kind), status, now),
                observed_generation=generation,
            )
        )
    return JobFlowStatus(
        phase=flow.phase,
        reason=flow.reason,
        message=flow.message,
        observed_generation=generation,
        start_time=format_time(flow.start_time) if flow.start_time else None,
        completion_time=format_time(flow.completion_time) if flow.completion_time else None,
        progress=progress(flow.steps),
        steps=flow.steps,
        conditions=conditions,
        rerun=flow.rerun,
    )


def status_document(status: JobFlowStatus) -> dict[str, Any]:
    """Status as written to the API: camelCase, empty fields left out."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _transition_time(before: Condition | None, status: ConditionStatus, now: datetime) -> str:
    """The transition time moves only when the condition's status does."""
    if before is not None and before.status == status:
        return before.last_transition_time
    return format_time(now)


def _problems_text(problems: Sequence[Problem]) -> str:
    return "; ".join(str(p) for p in problems)
