"""Operating a whole run: terminate it, or rerun its failed and skipped steps.

Both act on every step at once, before the pass advances the steps; both may end running
Jobs, which is the only way a pass ever drops an observed child (the guard checks that
only active step Jobs are dropped, and only when asked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zen_flow.api.reasons import StepReason
from zen_flow.api.status import FailedAttempt, StepPhase, StepStatus
from zen_flow.api.times import format_time
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.transitions import failed, rerun, skipped, with_failure


@dataclass(frozen=True)
class RunChange:
    """The steps' new states, and the running Jobs to delete."""

    states: dict[str, StepStatus]
    deleted_jobs: frozenset[str]


def terminated(ctx: PassContext, states: Mapping[str, StepStatus]) -> RunChange:
    """``workflow.zen.io/terminate``: running steps fail, steps not finished are skipped,
    running Jobs are deleted (their pods with them); finished steps keep their results."""
    changed = {}
    for name, state in states.items():
        if state.phase is StepPhase.RUNNING:
            message = f"terminated during attempt {state.attempt}"
            changed[name] = failed(state, StepReason.TERMINATED, message, ctx.now)
        elif state.phase is StepPhase.PENDING:
            changed[name] = skipped(state, StepReason.TERMINATED, "flow terminated", ctx.now)
        else:
            changed[name] = state
    return RunChange(changed, ctx.active_jobs)


def rerun_steps(ctx: PassContext, states: Mapping[str, StepStatus], token: str) -> RunChange:
    """A rerun: failed and skipped steps start over with new attempts (and fresh retry
    budgets), and every finished finally step, since the run they end is a new one; with
    ``replace``, steps still running are stopped first and start over too."""
    changed = {}
    deleted: frozenset[str] = frozenset()
    for name, state in states.items():
        if ctx.replace and state.phase is StepPhase.RUNNING:
            state = _replaced(ctx, state, token)
        again: tuple[StepPhase, ...] = (StepPhase.FAILED, StepPhase.SKIPPED)
        if name in ctx.final:
            again = (*again, StepPhase.SUCCEEDED)
        if state.phase in again:
            changed[name] = rerun(state, token)
        else:
            changed[name] = state
    if ctx.replace:
        deleted = ctx.active_jobs
    return RunChange(changed, deleted)


def _replaced(ctx: PassContext, state: StepStatus, token: str) -> StepStatus:
    """A running step stopped for a rerun with ``concurrencyPolicy: Replace``."""
    if state.job_ref is not None and not any(
        f.attempt == state.attempt for f in state.failed_attempts
    ):
        failure = FailedAttempt(
            attempt=state.attempt,
            job_name=state.job_ref.name,
            reason=StepReason.REPLACED,
            finish_time=format_time(ctx.now),
        )
        state = with_failure(state, failure)
    return failed(state, StepReason.REPLACED, f"replaced by rerun {token}", ctx.now)
