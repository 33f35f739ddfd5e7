"""The flow's phase, a function of its steps' states (and of the pass's facts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_

from zen_flow.api.reasons import FlowReason, StepReason
from zen_flow.api.status import TERMINAL_STEP_PHASES, FlowPhase, StepPhase, StepStatus
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.transitions import short


@dataclass(frozen=True)
class FlowVerdict:
    phase: FlowPhase
    reason: FlowReason
    message: str | None = None


def first_blocking_failure(ctx: PassContext, states: Iterable[StepStatus]) -> StepStatus | None:
    """The first step that failed for good without continueOnFailure, if any."""
    states = list(states)
    if StepPhase.FAILED not in map(_phase, states):
        return None
    for state in states:
        if state.phase is StepPhase.FAILED and not ctx.tolerated(state.name):
            return state
    return None


def main_outcome(ctx: PassContext, main: Sequence[StepStatus]) -> FlowVerdict | None:
    """The outcome of spec.steps once each is final (what finally steps see as ``flow``)."""
    if TERMINAL_STEP_PHASES.issuperset(map(_phase, main)):
        return _outcome(ctx, main)
    return None


def flow_phase(
    ctx: PassContext, main: Sequence[StepStatus], final: Sequence[StepStatus] = ()
) -> FlowVerdict:
    """Succeeded or Failed once every step (``main``: spec.steps; ``final``: the finally
    steps) is final; else Suspended, Pending or Running."""
    steps = [*main, *final]
    outcome = main_outcome(ctx, main)
    if outcome is not None and TERMINAL_STEP_PHASES.issuperset(map(_phase, final)):
        return _with_finally(ctx, outcome, final)
    if ctx.suspended:
        return FlowVerdict(FlowPhase.SUSPENDED, FlowReason.SUSPENDED)
    phases = set(map(_phase, steps))
    active = list(compress(steps, map(is_, map(_phase, steps), repeat(StepPhase.RUNNING))))
    if active and all(s.reason == StepReason.JOB_SUSPENDED for s in active):
        return FlowVerdict(
            FlowPhase.SUSPENDED, FlowReason.JOB_SUSPENDED, "every running Job is suspended"
        )
    if outcome is not None:
        detail = outcome.message or outcome.reason.value
        message = short(f"spec.steps {outcome.phase.value.lower()} ({detail}); running finally")
        return FlowVerdict(FlowPhase.RUNNING, FlowReason.RUNNING_FINALLY, message)
    awaiting = []
    if StepReason.AWAITING_APPROVAL in set(map(_reason, steps)):
        awaiting = [s.name for s in steps if s.reason == StepReason.AWAITING_APPROVAL]
    notes = _notes(ctx, awaiting)
    if phases <= {StepPhase.PENDING} and not awaiting:
        if not ctx.resources_ready:
            return FlowVerdict(FlowPhase.PENDING, FlowReason.WAITING_FOR_RESOURCES, notes)
        return FlowVerdict(FlowPhase.PENDING, FlowReason.NOT_STARTED, notes)
    if awaiting and StepPhase.RUNNING not in phases:
        return FlowVerdict(FlowPhase.RUNNING, FlowReason.AWAITING_APPROVAL, notes)
    if ctx.rerun is not None:
        return FlowVerdict(FlowPhase.RUNNING, FlowReason.RERUN, notes)
    return FlowVerdict(FlowPhase.RUNNING, FlowReason.STARTED, notes)


def _notes(ctx: PassContext, awaiting: Sequence[str]) -> str | None:
    """What a reader of a running flow wants to know: which run it is, who waits for whom."""
    notes = []
    if ctx.rerun is not None:
        notes.append(f"rerun {ctx.rerun.token}")
    if awaiting:
        notes.append("waiting for approval of " + ", ".join(awaiting))
    if ctx.rerun_waiting is not None:
        notes.append(
            f"rerun {ctx.rerun_waiting} waits for this run to end (concurrencyPolicy Forbid)"
        )
    return short("; ".join(notes)) if notes else None


_phase = attrgetter("phase")
_reason = attrgetter("reason")

_TERMINATED = FlowVerdict(FlowPhase.FAILED, FlowReason.TERMINATED, "terminated on request")


def _with_finally(
    ctx: PassContext, outcome: FlowVerdict, final: Sequence[StepStatus]
) -> FlowVerdict:
    """The flow's outcome: that of spec.steps, unless a finally step failed, which fails a
    flow that succeeded and is added to the message of one that failed."""
    if any(s.reason == StepReason.TERMINATED for s in final):
        return _TERMINATED
    cause = first_blocking_failure(ctx, final)
    if cause is None or outcome.reason == FlowReason.TERMINATED:
        return outcome
    detail = f'finally step "{cause.name}" failed: {cause.message or cause.reason}'
    if outcome.phase is FlowPhase.SUCCEEDED:
        return FlowVerdict(FlowPhase.FAILED, FlowReason.FINALLY_STEP_FAILED, short(detail))
    message = "; ".join(text for text in (outcome.message, detail) if text)
    return FlowVerdict(outcome.phase, outcome.reason, short(message))


def _outcome(ctx: PassContext, steps: Sequence[StepStatus]) -> FlowVerdict:
    if any(s.reason == StepReason.TERMINATED for s in steps):
        return _TERMINATED
    cause = first_blocking_failure(ctx, steps)
    if cause is not None and ctx.deadline_passed and cause.reason == StepReason.DEADLINE_EXCEEDED:
        message = short(f'step "{cause.name}": {cause.message or cause.reason}')
        return FlowVerdict(FlowPhase.FAILED, FlowReason.DEADLINE_EXCEEDED, message)
    if ctx.deadline_passed and any(s.reason == StepReason.DEADLINE_EXCEEDED for s in steps):
        # Steps the deadline kept from running fail the flow, even if none failed itself.
        message = "flow activeDeadlineSeconds passed"
        return FlowVerdict(FlowPhase.FAILED, FlowReason.DEADLINE_EXCEEDED, message)
    if cause is None:
        return FlowVerdict(FlowPhase.SUCCEEDED, FlowReason.ALL_STEPS_DONE)
    detail = cause.message or cause.reason
    message = short(f'step "{cause.name}" failed: {detail}')
    return FlowVerdict(FlowPhase.FAILED, FlowReason.STEP_FAILED, message)
