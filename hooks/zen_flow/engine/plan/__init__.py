"""The state machine: from an observation and the time, each step's new state and what to start.

Level-triggered like the Job controller: every call recomputes from the Jobs that exist and
the status written last time, never from remembered events. Finished step results are
sticky. Every waiting state is a timestamp in status, so the answer only changes when
something happened or a due time passed.

One pass: catch up with the Jobs (``attempts``), carry out a terminate or a rerun the flow's
annotations ask for (``runs``), advance the steps under way (their Jobs' outcomes, outputs
and ``retry``), then the steps not started, in dependency order (``frontier`` picks those
that can move; ``gates``; ``approvals`` for approval steps; ``room`` while status has room
for them running), then the finally steps once
every other step is final (``final``), and last the flow's ``phase``. Each of those is a
module of small functions over a frozen ``PassContext``; this module only runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter, eq

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import JobFlowSpec, Step, StepType
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
from zen_flow.engine.plan.frontier import Frontier
from zen_flow.engine.plan.gates import Gate, Verdict, pending_gate
from zen_flow.engine.plan.phase import first_blocking_failure, flow_phase, main_outcome
from zen_flow.engine.plan.room import StatusRoom
from zen_flow.engine.plan.runs import RunChange, rerun_steps, terminated
from zen_flow.engine.plan.transitions import failed, skipped, started_in_run, waiting
from zen_flow.engine.status import FlowState
from zen_flow.spec.validation import finally_order, step_order, step_positions

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
    work = _Pass(ctx, _last_states(ctx, observation))
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
    room: StatusRoom | None = None  # once a step is to start

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

    def start(self, step: Step, state: StepStatus) -> None:
        """Start the step's first attempt of this run, if status has room for it running."""
        if self.room is None:
            self.room = StatusRoom.of(self.ctx, self.states)
        if not self.room.admits(step.name):
            self.states[step.name] = waiting(state, StepReason.WAITING_FOR_STATUS_ROOM)
            return
        update = start_attempt(self.ctx, step, state, state.prior_attempts + 1, self.states)
        self.take(update)
        if update.state.phase is StepPhase.RUNNING:
            self.room.started(step.name)

    def advance_started_steps(self) -> None:
        """In declaration order: retries scheduled first use the flow's budget first."""
        retries_used = sum(map(_retry_count, self.states.values()))
        under_way = [
            state
            for state in self.states.values()
            # started_in_run, written out: this runs over every step of every sync
            if state.attempt > state.prior_attempts and state.phase not in TERMINAL_STEP_PHASES
        ]
        for state in under_way:
            update = advance_started(self.ctx, state, self.states, retries_used)
            retries_used += update.retry_scheduled
            self.take(update)

    def advance_steps_not_started(self) -> None:
        """In dependency order, so a step sees what its dependencies became in this pass.

        Only the steps that can change are visited (``Frontier``); once a step fails the
        flow, every later step is (they are all skipped)."""
        ctx = self.ctx
        cause = first_blocking_failure(ctx, self._main())
        blocking = cause.name if cause is not None else None
        order = step_order(ctx.spec)
        if blocking is not None or ctx.deadline_passed:
            for name in order:
                blocking = self._advance_pending(name, blocking)
            return
        frontier = Frontier(ctx.spec, self.states)
        for name in frontier:
            blocking = self._advance_pending(name, blocking)
            if blocking is not None:
                for later in order[step_positions(ctx.spec)[name] + 1 :]:
                    blocking = self._advance_pending(later, blocking)
                return
            if self.states[name].phase in TERMINAL_STEP_PHASES:
                frontier.finished(name)

    def _advance_pending(self, name: str, blocking: str | None) -> str | None:
        """Move a step not started, if it is one; the step that fails the flow after it."""
        ctx = self.ctx
        state = self.states[name]
        if state.phase is not StepPhase.PENDING or started_in_run(state):
            return blocking
        step = ctx.steps[name]
        gate = pending_gate(ctx, step, self.states, blocking)
        if gate.verdict is Verdict.START and step.type is StepType.APPROVAL:
            self.states[name] = decide(ctx, state)
        elif gate.verdict is Verdict.START:
            self.start(step, state)
        else:
            self.states[name] = _held(state, gate, ctx.now)
        failed_now = self.states[name].phase is StepPhase.FAILED
        if failed_now and blocking is None and not ctx.tolerated(name):
            return name
        return blocking

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
                self.start(step, state)
            else:
                self.states[name] = _held(state, gate, ctx.now)

    def _main(self) -> list[StepStatus]:
        return list(map(self.states.__getitem__, self.ctx.spec.step_names))

    def result(self, completed: str | None) -> Plan:
        ctx = self.ctx
        main = self._main()
        final = list(map(self.states.__getitem__, ctx.spec.finally_names))
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


def _last_states(ctx: PassContext, observation: Observation) -> dict[str, StepStatus]:
    """Every step's state as status says it, caught up with the Jobs that exist; a step new
    to status is Pending."""
    steps = observation.status.steps
    names = ctx.spec.all_step_names
    if len(steps) == len(names) and all(map(eq, map(_name, steps), names)):
        states = dict(zip(names, steps, strict=True))  # status lists the spec's steps, in order
    else:
        last = dict(zip(map(_name, steps), steps, strict=True))
        for name in set(names).difference(last):
            last[name] = StepStatus(name=name, phase=StepPhase.PENDING)
        states = dict(zip(names, map(last.__getitem__, names), strict=True))
    for name in ctx.latest_attempt.keys() & states.keys():
        state = states[name]
        if state.phase not in TERMINAL_STEP_PHASES:
            states[name] = caught_up(ctx, state)
    return states


_name = attrgetter("name")
_retry_count = attrgetter("retry_count")


def _held(state: StepStatus, gate: Gate, now: datetime) -> StepStatus:
    """A step that does not start: waiting, skipped, or failed, as its gate says."""
    if gate.verdict is Verdict.WAIT:
        return waiting(state, gate.reason)
    if gate.verdict is Verdict.SKIP:
        return skipped(state, gate.reason, gate.message, now)
    return failed(state, gate.reason, gate.message, now)
