"""A step's attempts and their Jobs: starting one, catching up with the Jobs that exist,
and reading an attempt's outcome from its Job.

Caches lag each other: status may not yet show an attempt whose Job is listed, or may show
one whose Job is not listed yet (or was deleted). The Jobs win when they are ahead; a
missing Job of a running attempt is asked for again under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from zen_flow.api.naming import job_name
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import Step
from zen_flow.api.status import TERMINAL_STEP_PHASES, FailedAttempt, StepStatus
from zen_flow.api.times import format_time, parse_time_or
from zen_flow.engine.observe import JobOutcome
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.gates import dependencies_met
from zen_flow.engine.plan.retry import after_failed_attempt
from zen_flow.engine.plan.transitions import (
    entered_attempt,
    failed,
    running,
    succeeded,
    updated,
    with_failure,
)


@dataclass(frozen=True)
class JobToCreate:
    """A Job that should exist and is not observed: a new attempt, or one that went missing."""

    step: Step
    attempt: int
    name: str
    active_deadline_seconds: int | None


@dataclass(frozen=True)
class StepUpdate:
    """A step's new state and what it asks of the pass."""

    state: StepStatus
    job: JobToCreate | None = None  # a Job to emit
    started: bool = False  # ``job`` is a new attempt, not a missing one asked for again
    due: datetime | None = None  # the step needs a sync then
    retry_scheduled: bool = False  # a retry was counted against the flow's backoffLimit


def job_to_create(ctx: PassContext, step: Step, attempt: int, started: datetime) -> JobToCreate:
    """The Job of ``attempt``, with the time it may run: the step's, the template's and the
    flow deadline's limits, whichever is smallest."""
    name = job_name(ctx.flow.name, ctx.flow.uid, step.name, attempt)
    limits = [step.timeout_seconds, step.template.spec.active_deadline_seconds]
    if ctx.deadline is not None:
        remaining = (ctx.deadline - started).total_seconds()
        limits.append(max(1, int(remaining)))
    bounded = [limit for limit in limits if limit is not None]
    return JobToCreate(step, attempt, name, min(bounded) if bounded else None)


def start_attempt(ctx: PassContext, step: Step, state: StepStatus, attempt: int) -> StepUpdate:
    """Start ``attempt`` of the step now: its Job is created by this answer."""
    job = job_to_create(ctx, step, attempt, ctx.now)
    state = entered_attempt(state, attempt, job.name, ctx.flow.namespace, ctx.now)
    state = updated(
        state,
        reason=StepReason.JOB_CREATED,
        message=None if attempt == 1 else state.message,
    )
    return StepUpdate(state, job=job, started=True)


def caught_up(ctx: PassContext, state: StepStatus) -> StepStatus:
    """Status may lag the Jobs (our last answer's status not yet stored): trust the Jobs."""
    observed = ctx.latest_attempt.get(state.name, 0)
    if state.phase in TERMINAL_STEP_PHASES or observed <= state.attempt:
        return state
    job = ctx.jobs[(state.name, observed)]
    state = entered_attempt(
        state, observed, job.name, ctx.flow.namespace, job.started_at or ctx.now
    )
    return updated(
        state,
        reason=StepReason.JOB_RUNNING,
        message=None,
        retry_count=max(state.retry_count, observed - 1),
    )


def advance_started(
    ctx: PassContext, state: StepStatus, states: Mapping[str, StepStatus], retries_used: int
) -> StepUpdate:
    """A step with an attempt under way: what its Job says, or what its failure leads to."""
    step = ctx.steps[state.name]
    job = ctx.jobs.get((step.name, state.attempt))
    if job is not None and job.outcome is JobOutcome.COMPLETE:
        return StepUpdate(succeeded(state, job.finished_at or ctx.now))
    known_failure = any(f.attempt == state.attempt for f in state.failed_attempts)
    if job is not None and job.outcome is JobOutcome.FAILED and not known_failure:
        failure = FailedAttempt(
            attempt=state.attempt,
            job_name=job.name,
            reason=job.reason or "Failed",
            finish_time=format_time(job.finished_at or ctx.now),
        )
        state = with_failure(state, failure)
        known_failure = True
    if known_failure:
        after = after_failed_attempt(ctx, state, retries_used)
        if after.retry_now and dependencies_met(ctx, step, states):
            update = start_attempt(ctx, step, after.state, after.state.attempt + 1)
            return StepUpdate(
                update.state, update.job, started=True, retry_scheduled=after.retry_scheduled
            )
        # A due retry whose dependency looks unfinished waits: that only happens when status
        # was lost along with their Jobs (say, a flow restored from a backup).
        return StepUpdate(after.state, due=after.due, retry_scheduled=after.retry_scheduled)
    if job is None:
        return _missing_job(ctx, step, state)
    # A Job we suspended follows the flow's annotation in this very answer.
    suspended = ctx.suspended if job.suspended_by_flow else job.suspended
    return StepUpdate(
        running(state, StepReason.JOB_SUSPENDED if suspended else StepReason.JOB_RUNNING)
    )


def _missing_job(ctx: PassContext, step: Step, state: StepStatus) -> StepUpdate:
    """A Job status calls running is not listed: just created (cache lag) or deleted."""
    if ctx.deadline_passed:
        message = "flow activeDeadlineSeconds passed"
        return StepUpdate(failed(state, StepReason.DEADLINE_EXCEEDED, message, ctx.now))
    started = parse_time_or(state.attempt_start_time or state.start_time, ctx.now)
    return StepUpdate(state, job=job_to_create(ctx, step, state.attempt, started))
