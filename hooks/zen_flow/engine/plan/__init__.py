"""The state machine: from an observation and the time, each step's new state and what to start.

Level-triggered like the Job controller: every call recomputes from the Jobs that exist and
the status written last time, never from remembered events. Finished step results are
sticky. Every waiting state is a timestamp in status, so the answer only changes when
something happened or a due time passed.

One pass: catch up with the Jobs (``attempts``), advance the steps under way (their Jobs'
outcomes and ``retry``), then the steps not started, in dependency order (``gates``), and
last the flow's ``phase``. Each of those is a module of small functions over a frozen
``PassContext``; this module only runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zen_flow.api.reasons import FlowReason
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import (
    TERMINAL_FLOW_PHASES,
    TERMINAL_STEP_PHASES,
    FlowPhase,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import parse_time_or
from zen_flow.engine.observe import Observation
from zen_flow.engine.plan.attempts import (
    JobToCreate,
    StepUpdate,
    advance_started,
    caught_up,
    start_attempt,
)
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.gates import Gate, Verdict, pending_gate
from zen_flow.engine.plan.phase import first_blocking_failure, flow_phase
from zen_flow.engine.plan.transitions import failed, skipped, waiting
from zen_flow.spec.dag import topological_order

__all__ = ["JobToCreate", "Plan", "plan"]


@dataclass(frozen=True)
class Plan:
    """What the flow should look like after this sync."""

    steps: list[StepStatus]
    jobs_to_create: list[JobToCreate]
    phase: FlowPhase
    reason: FlowReason
    message: str | None
    start_time: datetime
    completion_time: datetime | None
    due: datetime | None
    attempts_started: int = 0


def plan(observation: Observation, spec: JobFlowSpec, now: datetime) -> Plan:
    """Decide every step's state for a valid spec."""
    ctx = PassContext.build(observation, spec, now)
    last = {s.name: s for s in observation.status.steps}
    states = {
        step.name: caught_up(
            ctx, last.get(step.name) or StepStatus(name=step.name, phase=StepPhase.PENDING)
        )
        for step in spec.steps
    }
    jobs: list[JobToCreate] = []
    due: list[datetime] = []
    started = 0
    retries_used = sum(state.retry_count for state in states.values())

    def take(update: StepUpdate) -> None:
        nonlocal started
        states[update.state.name] = update.state
        if update.job is not None:
            jobs.append(update.job)
            started += update.started
        if update.due is not None:
            due.append(update.due)

    for state in list(states.values()):
        if state.phase not in TERMINAL_STEP_PHASES and state.attempt > 0:
            update = advance_started(ctx, state, states, retries_used)
            retries_used += update.retry_scheduled
            take(update)

    cause = first_blocking_failure(ctx, states.values())
    blocking = cause.name if cause is not None else None
    for name in topological_order({s.name: s.dependencies for s in spec.steps}):
        state = states[name]
        if state.phase is not StepPhase.PENDING or state.attempt != 0:
            continue
        gate = pending_gate(ctx, ctx.steps[name], states, blocking)
        if gate.verdict is Verdict.START:
            take(start_attempt(ctx, ctx.steps[name], state, 1))
            continue
        states[name] = _held(state, gate, now)
        if gate.verdict is Verdict.FAIL and blocking is None and not ctx.tolerated(name):
            blocking = name

    ordered = [states[step.name] for step in spec.steps]
    verdict = flow_phase(ctx, ordered)
    completion = None
    if verdict.phase in TERMINAL_FLOW_PHASES:
        completion = parse_time_or(observation.status.completion_time, now)
    elif ctx.deadline is not None and not ctx.deadline_passed:
        due.append(ctx.deadline)
    return Plan(
        steps=ordered,
        jobs_to_create=jobs,
        phase=verdict.phase,
        reason=verdict.reason,
        message=verdict.message,
        start_time=ctx.start_time,
        completion_time=completion,
        due=min(due) if due and completion is None else None,
        attempts_started=started,
    )


def _held(state: StepStatus, gate: Gate, now: datetime) -> StepStatus:
    """A step that does not start: waiting, skipped, or failed, as its gate says."""
    if gate.verdict is Verdict.WAIT:
        return waiting(state, gate.reason)
    if gate.verdict is Verdict.SKIP:
        return skipped(state, gate.reason, gate.message, now)
    return failed(state, gate.reason, gate.message, now)
