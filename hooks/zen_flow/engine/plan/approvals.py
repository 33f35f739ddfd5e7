"""Approval gates: a step of ``type: Approval`` runs nothing; once it may start, it waits for
the flow's annotation ``workflow.zen.io/approve-<step>``: ``"true"`` approves it (Succeeded),
``"false"`` rejects it (Failed, reason Rejected)."""

from __future__ import annotations

from zen_flow.api.labels import approval_annotation
from zen_flow.api.reasons import StepReason
from zen_flow.api.status import StepStatus
from zen_flow.api.times import format_time
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.transitions import failed, succeeded, updated, waiting


def decide(ctx: PassContext, state: StepStatus) -> StepStatus:
    """The gate's state: decided by its annotation, or waiting for it (since its startTime)."""
    since = state.start_time or format_time(ctx.now)
    annotation = approval_annotation(state.name)
    decision = ctx.approvals.get(state.name)
    if decision == "true":
        return succeeded(updated(state, start_time=since), ctx.now, StepReason.APPROVED)
    if decision == "false":
        message = f'rejected ({annotation}: "false")'
        return failed(updated(state, start_time=since), StepReason.REJECTED, message, ctx.now)
    message = f'waiting for {annotation}: "true" to approve, "false" to reject'
    if decision is not None:
        message += f' (it is "{decision[:40]}")'
    return updated(waiting(state, StepReason.AWAITING_APPROVAL, message), start_time=since)
