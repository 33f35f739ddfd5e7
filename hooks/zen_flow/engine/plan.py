"""The state machine: from an observation and the time, each step's new state and what to start.

Level-triggered like the Job controller: every call recomputes from the Jobs that exist and
the status written last time, never from remembered events. Finished step results are
sticky. Every waiting state is a timestamp in status, so the answer only changes when
something happened or a due time passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zen_flow.api.durations import parse_duration
from zen_flow.api.naming import job_name, resource_name
from zen_flow.api.reasons import FlowReason, StepReason
from zen_flow.api.spec import Backoff, BackoffType, JobFlowSpec, Step
from zen_flow.api.status import (
    TERMINAL_STEP_PHASES,
    FailedAttempt,
    FlowPhase,
    JobRef,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import ceil_seconds, format_time, parse_time_or
from zen_flow.engine.observe import JobOutcome, Observation, ObservedJob
from zen_flow.spec.dag import topological_order
from zen_flow.spec.when import WhenError, compile_when

MAX_MESSAGE = 256


@dataclass(frozen=True)
class JobToCreate:
    """A Job that should exist and is not observed: a new attempt, or one that went missing."""

    step: Step
    attempt: int
    name: str
    active_deadline_seconds: int | None


@dataclass
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


def retry_delay(backoff: Backoff, retry: int) -> timedelta:
    """Delay before retry ``retry`` (1, 2, ...): Fixed d, Linear d*n, Exponential d*f^(n-1)."""
    base = parse_duration(backoff.duration)
    if backoff.type is BackoffType.FIXED:
        seconds = base
    elif backoff.type is BackoffType.LINEAR:
        seconds = base * retry
    else:
        seconds = base * backoff.factor ** (retry - 1)
    if backoff.max_delay is not None:
        seconds = min(seconds, parse_duration(backoff.max_delay))
    return timedelta(seconds=seconds)


def plan(observation: Observation, spec: JobFlowSpec, now: datetime) -> Plan:
    """Decide every step's state for a valid spec."""
    return _Planner(observation, spec, now).run()


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class _Planner:
    """One planning pass; short-lived, holds the working state of the steps."""

    def __init__(self, observation: Observation, spec: JobFlowSpec, now: datetime) -> None:
        self.obs = observation
        self.spec = spec
        self.now = now
        self.steps = {step.name: step for step in spec.steps}
        last = {s.name: s for s in observation.status.steps}
        self.states = {
            # Shallow copies: a state's lists are replaced, never changed in place.
            step.name: last[step.name].model_copy()
            if step.name in last
            else StepStatus(name=step.name, phase=StepPhase.PENDING)
            for step in spec.steps
        }
        self.start_time = parse_time_or(observation.status.start_time, now)
        limit = spec.execution_policy.active_deadline_seconds
        self.deadline = self.start_time + timedelta(seconds=limit) if limit else None
        self.deadline_passed = self.deadline is not None and now >= self.deadline
        self.jobs_to_create: list[JobToCreate] = []
        self.attempts_started = 0
        self.due: list[datetime] = []
        self.retries_used = 0
        self.resources_ready = self._resources_observed()
        self.blocking: str | None = None

    # -- the passes -----------------------------------------------------------------------

    def run(self) -> Plan:
        for name, state in self.states.items():
            self._catch_up_with_jobs(name, state)
        self.retries_used = sum(state.retry_count for state in self.states.values())
        for name, state in self.states.items():
            if state.phase not in TERMINAL_STEP_PHASES and state.attempt > 0:
                self._advance_started(self.steps[name], state)
        self.blocking = self._first_blocking_failure()
        order = topological_order({s.name: s.dependencies for s in self.spec.steps})
        for name in order:
            state = self.states[name]
            if state.phase is StepPhase.PENDING and state.attempt == 0:
                self._advance_pending(self.steps[name], state)
        return self._finish()

    def _catch_up_with_jobs(self, name: str, state: StepStatus) -> None:
        """Status may lag the Jobs (our last answer's status not yet stored): trust the Jobs."""
        observed = self.obs.latest_attempt.get(name, 0)
        if state.phase in TERMINAL_STEP_PHASES or observed <= state.attempt:
            return
        job = self.obs.jobs[(name, observed)]
        self._enter_attempt(state, observed, job.name, job.started_at or self.now)
        state.reason = StepReason.JOB_RUNNING
        state.message = None
        state.retry_count = max(state.retry_count, observed - 1)

    def _advance_started(self, step: Step, state: StepStatus) -> None:
        job = self.obs.jobs.get((step.name, state.attempt))
        known_failure = any(f.attempt == state.attempt for f in state.failed_attempts)
        if job is not None and job.outcome is JobOutcome.COMPLETE:
            self._succeed(state, job)
            return
        if job is not None and job.outcome is JobOutcome.FAILED and not known_failure:
            failure = FailedAttempt(
                attempt=state.attempt,
                job_name=job.name,
                reason=job.reason or "Failed",
                finish_time=format_time(job.finished_at or self.now),
            )
            state.failed_attempts = [*state.failed_attempts, failure]
            known_failure = True
        if known_failure:
            self._after_failed_attempt(step, state)
        elif job is None:
            self._recreate_missing(step, state)
        else:
            # A Job we suspended follows the flow's annotation in this very answer.
            suspended = self.obs.suspended if job.suspended_by_flow else job.suspended
            state.phase = StepPhase.RUNNING
            state.reason = StepReason.JOB_SUSPENDED if suspended else StepReason.JOB_RUNNING

    def _succeed(self, state: StepStatus, job: ObservedJob) -> None:
        state.phase = StepPhase.SUCCEEDED
        state.reason = StepReason.JOB_COMPLETE
        state.message = None
        state.next_retry_time = None
        # Compact status for flows of thousands of steps: a succeeded step's Job is found by
        # its labels; jobRef stays for running and failed steps, where it is needed.
        state.job_ref = None
        state.completion_time = format_time(job.finished_at or self.now)

    def _recreate_missing(self, step: Step, state: StepStatus) -> None:
        """A Job status calls running is not listed: just created (cache lag) or deleted."""
        if self.deadline_passed:
            self._fail(state, StepReason.DEADLINE_EXCEEDED, "flow activeDeadlineSeconds passed")
            return
        started = parse_time_or(state.attempt_start_time or state.start_time, self.now)
        self._want_job(step, state.attempt, started)

    def _after_failed_attempt(self, step: Step, state: StepStatus) -> None:
        failure = state.failed_attempts[-1]
        detail = f"attempt {state.attempt} failed: {failure.reason}"
        if not (state.reason == StepReason.BACKOFF_WAIT and state.next_retry_time):
            policy = step.retry_policy
            if policy is None:
                self._fail(state, failure.reason, detail)
                return
            if state.attempt - 1 >= policy.limit:
                limit = f"retryPolicy.limit {policy.limit} reached"
                self._fail(state, StepReason.RETRY_LIMIT_REACHED, f"{detail}; {limit}")
                return
            if self.retries_used >= self.spec.execution_policy.backoff_limit:
                limit = f"executionPolicy.backoffLimit {self.spec.execution_policy.backoff_limit}"
                self._fail(
                    state, StepReason.FLOW_BACKOFF_LIMIT_REACHED, f"{detail}; {limit} reached"
                )
                return
            self.retries_used += 1
            finished = parse_time_or(failure.finish_time, self.now)
            due = ceil_seconds(finished + retry_delay(policy.backoff, state.attempt))
            state.phase = StepPhase.RUNNING
            state.reason = StepReason.BACKOFF_WAIT
            state.retry_count = state.attempt
            state.next_retry_time = format_time(due)
            state.message = _short(f"{detail}; retry {state.attempt} of {policy.limit}")
        due = parse_time_or(state.next_retry_time, self.now)
        if self.deadline_passed:
            self._fail(state, StepReason.DEADLINE_EXCEEDED, f"{detail}; flow deadline passed")
        elif self.obs.suspended:
            return
        elif self.now < due:
            self.due.append(due)
        elif self._ready(step):
            self._start(step, state, state.attempt + 1)
        # else: a dependency looks unfinished, which only happens when status was lost along
        # with its Jobs (say, a flow restored from a backup); the retry waits for it.

    def _advance_pending(self, step: Step, state: StepStatus) -> None:
        if self.deadline_passed:
            self._skip(state, StepReason.DEADLINE_EXCEEDED, "flow activeDeadlineSeconds passed")
            return
        if self.blocking is not None:
            self._skip(state, StepReason.UPSTREAM_FAILED, f'step "{self.blocking}" failed')
            return
        if not self._ready(step):
            self._wait(state, StepReason.WAITING_FOR_DEPENDENCIES)
            return
        if self.obs.suspended:
            self._wait(state, StepReason.SUSPENDED)
            return
        if not self.resources_ready:
            self._wait(state, StepReason.WAITING_FOR_RESOURCES)
            return
        if step.when is not None:
            try:
                condition = compile_when(step.when)
                context: dict[str, dict[str, Any]] = {
                    name: {
                        "phase": self.states[name].phase.value,
                        "outputs": dict(self.states[name].outputs),
                    }
                    for name in condition.steps
                }
                go = condition.evaluate(context)
            except WhenError as error:
                self._fail(state, StepReason.CONDITION_ERROR, str(error))
                return
            if not go:
                self._skip(state, StepReason.CONDITION_FALSE, f"when: {step.when}")
                return
        self._start(step, state, 1)

    # -- transitions ----------------------------------------------------------------------

    def _start(self, step: Step, state: StepStatus, attempt: int) -> None:
        name = self._want_job(step, attempt, self.now)
        self._enter_attempt(state, attempt, name, self.now)
        state.reason = StepReason.JOB_CREATED
        state.message = None if attempt == 1 else state.message
        self.attempts_started += 1

    def _enter_attempt(self, state: StepStatus, attempt: int, name: str, at: datetime) -> None:
        """The step runs ``attempt`` in Job ``name``, started at ``at``."""
        started = format_time(at)
        state.phase = StepPhase.RUNNING
        state.attempt = attempt
        # The first attempt starts with the step: its time is startTime already.
        state.attempt_start_time = started if attempt > 1 else None
        state.start_time = state.start_time or started
        state.next_retry_time = None
        state.job_ref = JobRef(name=name, namespace=self.obs.flow.namespace)

    def _want_job(self, step: Step, attempt: int, attempt_start: datetime) -> str:
        """Ask for the Job of ``attempt``; its name."""
        name = job_name(self.obs.flow.name, self.obs.flow.uid, step.name, attempt)
        limits = [step.timeout_seconds, step.template.spec.active_deadline_seconds]
        if self.deadline is not None:
            remaining = (self.deadline - attempt_start).total_seconds()
            limits.append(max(1, int(remaining)))
        bounded = [limit for limit in limits if limit is not None]
        self.jobs_to_create.append(
            JobToCreate(step, attempt, name, min(bounded) if bounded else None)
        )
        return name

    def _fail(self, state: StepStatus, reason: str, message: str) -> None:
        state.phase = StepPhase.FAILED
        state.reason = reason
        state.message = _short(message)
        state.next_retry_time = None
        state.completion_time = format_time(self.now)
        if self.blocking is None and not self._tolerated(state.name):
            self.blocking = state.name

    def _skip(self, state: StepStatus, reason: str, message: str) -> None:
        state.phase = StepPhase.SKIPPED
        state.reason = reason
        state.message = _short(message)
        state.completion_time = format_time(self.now)

    def _wait(self, state: StepStatus, reason: str) -> None:
        state.phase = StepPhase.PENDING
        state.reason = reason
        state.message = None

    # -- facts ----------------------------------------------------------------------------

    def _ready(self, step: Step) -> bool:
        return all(self._satisfies(self.states[d]) for d in step.dependencies)

    def _satisfies(self, dependency: StepStatus) -> bool:
        """A finished dependency lets its dependents run unless it failed intolerably."""
        if dependency.phase in (StepPhase.SUCCEEDED, StepPhase.SKIPPED):
            return True
        return dependency.phase is StepPhase.FAILED and self._tolerated(dependency.name)

    def _tolerated(self, name: str) -> bool:
        return self.steps[name].continue_on_failure

    def _first_blocking_failure(self) -> str | None:
        """The first step that failed for good without continueOnFailure, if any."""
        for name, state in self.states.items():
            if state.phase is StepPhase.FAILED and not self._tolerated(name):
                return name
        return None

    def _resources_observed(self) -> bool:
        templates = self.spec.resource_templates
        if templates is None:
            return True
        flow = self.obs.flow.name
        return all(
            resource_name(flow, t.metadata.name) in self.obs.configmaps
            for t in templates.config_map_templates
        ) and all(
            resource_name(flow, t.metadata.name) in self.obs.pvcs
            for t in templates.volume_claim_templates
        )

    def _finish(self) -> Plan:
        ordered = [self.states[step.name] for step in self.spec.steps]
        phase, reason, message = self._flow_phase(ordered)
        completion = None
        if phase in (FlowPhase.SUCCEEDED, FlowPhase.FAILED):
            completion = parse_time_or(self.obs.status.completion_time, self.now)
        elif self.deadline is not None and not self.deadline_passed:
            self.due.append(self.deadline)
        return Plan(
            steps=ordered,
            jobs_to_create=self.jobs_to_create,
            phase=phase,
            reason=reason,
            message=message,
            start_time=self.start_time,
            completion_time=completion,
            due=min(self.due) if self.due and completion is None else None,
            attempts_started=self.attempts_started,
        )

    def _flow_phase(self, ordered: list[StepStatus]) -> tuple[FlowPhase, FlowReason, str | None]:
        failed = self._first_blocking_failure()
        if all(s.phase in TERMINAL_STEP_PHASES for s in ordered):
            if failed is None:
                return FlowPhase.SUCCEEDED, FlowReason.ALL_STEPS_DONE, None
            cause = self.states[failed]
            if self.deadline_passed and cause.reason == StepReason.DEADLINE_EXCEEDED:
                return (
                    FlowPhase.FAILED,
                    FlowReason.DEADLINE_EXCEEDED,
                    _short(f'step "{failed}": {cause.message or cause.reason}'),
                )
            if self.deadline_passed and any(
                s.reason == StepReason.DEADLINE_EXCEEDED for s in ordered
            ):
                return (
                    FlowPhase.FAILED,
                    FlowReason.DEADLINE_EXCEEDED,
                    "flow activeDeadlineSeconds passed",
                )
            return (
                FlowPhase.FAILED,
                FlowReason.STEP_FAILED,
                _short(f'step "{failed}" failed: {cause.message or cause.reason}'),
            )
        if self.obs.suspended:
            return FlowPhase.SUSPENDED, FlowReason.SUSPENDED, None
        active = [s for s in ordered if s.phase is StepPhase.RUNNING]
        if active and all(s.reason == StepReason.JOB_SUSPENDED for s in active):
            return FlowPhase.SUSPENDED, FlowReason.JOB_SUSPENDED, "every running Job is suspended"
        if all(s.phase is StepPhase.PENDING for s in ordered):
            waiting = (
                FlowReason.WAITING_FOR_RESOURCES
                if not self.resources_ready
                else FlowReason.NOT_STARTED
            )
            return FlowPhase.PENDING, waiting, None
        return FlowPhase.RUNNING, FlowReason.STARTED, None
