"""The state machine: from an observation and the time, each step's new state and what to start.

Level-triggered like the Job controller: every call recomputes from the Jobs that exist and
the status written last time, never from remembered events. Finished step results are
sticky. Every waiting state is a timestamp in status, so the answer only changes when
something happened or a due time passed.

One pass: catch up with the Jobs (``attempts``), carry out a terminate or a rerun the flow's
annotations ask for (``runs``), advance the steps under way (their Jobs' outcomes, outputs
and ``retry``), then the steps not started, in dependency order (``gates``; ``approvals``
for approval steps), then the finally steps once every other step is final (``final``), and
last the flow's ``phase``. Each of those is a module of small
functions over a frozen ``PassContext``; this module only runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import JobFlowSpec, StepType
from zen_flow.api.status import (
    TERMINAL_FLOW_PHASES,
    TERMINAL_STEP_PHASES,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import parse_time_or
from zen_flow.engine.observe import Observation
from zen_flow.engine.plan.approvals import decide
from zen_flow.engine.plan.attempts import (
    JobToCreate,
    StepUpdate,
    advance_started,
    caught_up,
    start_attempt,
)
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.final import finally_gate
from zen_flow.engine.plan.gates import Gate, Verdict, pending_gate
from zen_flow.engine.plan.phase import first_blocking_failure, flow_phase, main_outcome
from zen_flow.engine.plan.runs import RunChange, rerun_steps, terminated
from zen_flow.engine.plan.transitions import failed, skipped, started_in_run, waiting
from zen_flow.engine.status import FlowState
from zen_flow.spec.validation import finally_order, step_order

__all__ = ["JobToCreate", "Plan", "plan"]


@dataclass(frozen=True)
class Plan:
    """What the flow should look like after this sync."""

    flow: FlowState
    jobs_to_create: list[JobToCreate]
    due: datetime | None
    attempts_started: int = 0
    deleted_jobs: frozenset[str] = frozenset()  # running Jobs a terminate or rerun ends


def plan(observation: Observation, spec: JobFlowSpec, now: datetime) -> Plan:
    """Decide every step's state for a valid spec."""
    ctx = PassContext.build(observation, spec, now)
    last = {s.name: s for s in observation.status.steps}
    work = _Pass(
        ctx,
        {
            step.name: caught_up(
                ctx, last.get(step.name) or StepStatus(name=step.name, phase=StepPhase.PENDING)
            )
            for step in spec.all_steps
        },
    )
    if ctx.terminate:
        work.change_run(terminated(ctx, work.states))
    elif ctx.rerun_now and ctx.rerun is not None:
        work.change_run(rerun_steps(ctx, work.states, ctx.rerun.token))
    work.advance_started_steps()
    work.advance_steps_not_started()
    work.advance_finally_steps()
    completed = None if ctx.rerun_now else observation.status.completion_time
    return work.result(completed)


@dataclass
class _Pass:
    """The steps' states as one pass moves them, and what the moves ask for."""

    ctx: PassContext
    states: dict[str, StepStatus]
    jobs: list[JobToCreate] = field(default_factory=list)
    due: list[datetime] = field(default_factory=list)
    started: int = 0
    deleted_jobs: frozenset[str] = frozenset()

    def change_run(self, change: RunChange) -> None:
        self.states = change.states
        self.deleted_jobs = change.deleted_jobs

    def take(self, update: StepUpdate) -> None:
        self.states[update.state.name] = update.state
        if update.job is not None:
            self.jobs.append(update.job)
            self.started += update.started
        if update.due is not None:
            self.due.append(update.due)

    def advance_started_steps(self) -> None:
        """In declaration order: retries scheduled first use the flow's budget first."""
        retries_used = sum(state.retry_count for state in self.states.values())
        for state in list(self.states.values()):
            if state.phase not in TERMINAL_STEP_PHASES and started_in_run(state):
                update = advance_started(self.ctx, state, self.states, retries_used)
                retries_used += update.retry_scheduled
                self.take(update)

    def advance_steps_not_started(self) -> None:
        """In dependency order, so a step sees what its dependencies became in this pass."""
        ctx = self.ctx
        cause = first_blocking_failure(ctx, self._main())
        blocking = cause.name if cause is not None else None
        for name in step_order(ctx.spec):
            state = self.states[name]
            if state.phase is not StepPhase.PENDING or started_in_run(state):
                continue
            step = ctx.steps[name]
            gate = pending_gate(ctx, step, self.states, blocking)
            if gate.verdict is Verdict.START and step.type is StepType.APPROVAL:
                self.states[name] = decide(ctx, state)
            elif gate.verdict is Verdict.START:
                self.take(start_attempt(ctx, step, state, state.prior_attempts + 1, self.states))
            else:
                self.states[name] = _held(state, gate, ctx.now)
            failed_now = self.states[name].phase is StepPhase.FAILED
            if failed_now and blocking is None and not ctx.tolerated(name):
                blocking = name

    def advance_finally_steps(self) -> None:
        """Once every step of spec.steps is final, the finally steps, in dependency order;
        their ``when`` may read the outcome (``flow.phase``, ``flow.reason``)."""
        ctx = self.ctx
        if not ctx.final:
            return
        outcome = main_outcome(ctx, self._main())
        for name in finally_order(ctx.spec):
            state = self.states[name]
            if state.phase is not StepPhase.PENDING or started_in_run(state):
                continue
            if outcome is None:
                self.states[name] = waiting(state, StepReason.WAITING_FOR_DEPENDENCIES)
                continue
            step = ctx.steps[name]
            gate = finally_gate(ctx, step, self.states, outcome)
            if gate.verdict is Verdict.START:
                self.take(start_attempt(ctx, step, state, state.prior_attempts + 1, self.states))
            else:
                self.states[name] = _held(state, gate, ctx.now)

    def _main(self) -> list[StepStatus]:
        return [self.states[step.name] for step in self.ctx.spec.steps]

    def result(self, completed: str | None) -> Plan:
        ctx = self.ctx
        main = self._main()
        final = [self.states[step.name] for step in ctx.spec.finally_]
        ordered = [*main, *final]
        verdict = flow_phase(ctx, main, final)
        completion = None
        if verdict.phase in TERMINAL_FLOW_PHASES:
            completion = parse_time_or(completed, ctx.now)
        elif ctx.deadline is not None and not ctx.deadline_passed:
            self.due.append(ctx.deadline)
        flow = FlowState(
            phase=verdict.phase,
            reason=verdict.reason,
            message=verdict.message,
            steps=ordered,
            start_time=ctx.start_time,
            completion_time=completion,
            rerun=ctx.rerun,
        )
        due = min(self.due) if self.due and completion is None else None
        return Plan(flow, self.jobs, due, self.started, self.deleted_jobs)


def _held(state: StepStatus, gate: Gate, now: datetime) -> StepStatus:
    """A step that does not start: waiting, skipped, or failed, as its gate says."""
    if gate.verdict is Verdict.WAIT:
        return waiting(state, gate.reason)
    if gate.verdict is Verdict.SKIP:
        return skipped(state, gate.reason, gate.message, now)
    return failed(state, gate.reason, gate.message, now)
