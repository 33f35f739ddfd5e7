"""A step's attempts and their Jobs: starting one, catching up with the Jobs that exist,
and reading an attempt's outcome from its Job (and its outputs from its pod).

Caches lag each other: status may not yet show an attempt whose Job is listed, or may show
one whose Job is not listed yet (or was deleted). The Jobs win when they are ahead; a
missing Job of a running attempt is asked for again under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zen_flow.api.naming import job_name
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import Step
from zen_flow.api.status import TERMINAL_STEP_PHASES, FailedAttempt, ItemsStatus, StepStatus
from zen_flow.api.times import format_time, later, parse_time_or
from zen_flow.engine.observe import JobOutcome, ObservedJob
from zen_flow.engine.outputs import OUTPUT_GRACE_SECONDS, declared
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.gates import dependencies_met
from zen_flow.engine.plan.inputs import InputUnavailable, environment
from zen_flow.engine.plan.items import items_progress, step_items
from zen_flow.engine.plan.retry import after_failed_attempt
from zen_flow.engine.plan.transitions import (
    entered_attempt,
    failed,
    running,
    succeeded,
    updated,
    with_failure,
)
from zen_flow.spec.fanout import ItemsError


@dataclass(frozen=True)
class JobToCreate:
    """A Job that should exist and is not observed: a new attempt, or one that went missing."""

    step: Step
    attempt: int
    name: str
    active_deadline_seconds: int | None
    env: tuple[dict[str, Any], ...] = ()  # the step's inputs
    items: tuple[str, ...] | None = None  # a fan-out step's items, one per index


@dataclass(frozen=True)
class StepUpdate:
    """A step's new state and what it asks of the pass."""

    state: StepStatus
    job: JobToCreate | None = None  # a Job to emit
    started: bool = False  # ``job`` is a new attempt, not a missing one asked for again
    due: datetime | None = None  # the step needs a sync then
    retry_scheduled: bool = False  # a retry was counted against the flow's backoffLimit


@dataclass(frozen=True)
class _Inputs:
    """What an attempt is given: its environment and (fan-out) its items."""

    env: tuple[dict[str, Any], ...] = ()
    items: tuple[str, ...] | None = None


def _inputs(step: Step, states: Mapping[str, StepStatus]) -> _Inputs | tuple[StepReason, str]:
    """The attempt's inputs, or why it cannot have them."""
    try:
        return _Inputs(environment(step, states), step_items(step, states))
    except InputUnavailable as error:
        return StepReason.INPUT_UNAVAILABLE, str(error)
    except ItemsError as error:
        return StepReason.INVALID_ITEMS, str(error)


def job_to_create(
    ctx: PassContext,
    step: Step,
    attempt: int,
    started: datetime,
    given: _Inputs = _Inputs(),
) -> JobToCreate:
    """The Job of ``attempt``, with the time it may run: the step's, the template's and the
    flow deadline's limits, whichever is smallest."""
    name = job_name(ctx.flow.name, ctx.flow.uid, step.name, attempt)
    template = ctx.spec.template_of(step)
    limits = [step.timeout_seconds, template.spec.active_deadline_seconds]
    if ctx.deadline is not None and ctx.bounded_by_deadline(step.name):
        remaining = (ctx.deadline - started).total_seconds()
        limits.append(max(1, int(remaining)))
    bounded = [limit for limit in limits if limit is not None]
    deadline = min(bounded) if bounded else None
    return JobToCreate(step, attempt, name, deadline, given.env, given.items)


def start_attempt(
    ctx: PassContext,
    step: Step,
    state: StepStatus,
    attempt: int,
    states: Mapping[str, StepStatus],
) -> StepUpdate:
    """Start ``attempt`` of the step now: its Job is created by this answer (unless an input
    or its items cannot be had, which fails the step; with no items at all, it is done)."""
    given = _inputs(step, states)
    if isinstance(given, tuple):
        return StepUpdate(failed(state, *given, ctx.now))
    if given.items is not None and not given.items:
        done = updated(state, items=ItemsStatus(total=0))
        return StepUpdate(succeeded(done, ctx.now, StepReason.NO_ITEMS))
    job = job_to_create(ctx, step, attempt, ctx.now, given)
    state = entered_attempt(state, attempt, job.name, ctx.flow.namespace, ctx.now)
    state = updated(
        state,
        reason=StepReason.JOB_CREATED,
        message=None if attempt == state.prior_attempts + 1 else state.message,
        items=None if given.items is None else ItemsStatus(total=len(given.items)),
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
        retry_count=max(state.retry_count, observed - state.prior_attempts - 1),
    )


def advance_started(
    ctx: PassContext, state: StepStatus, states: Mapping[str, StepStatus], retries_used: int
) -> StepUpdate:
    """A step with an attempt under way: what its Job says, or what its failure leads to."""
    step = ctx.steps[state.name]
    job = ctx.jobs.get((step.name, state.attempt))
    if job is not None and step.fans_out:
        state = updated(state, items=items_progress(job))
    known_failure = any(f.attempt == state.attempt for f in state.failed_attempts)
    if job is not None and job.outcome is JobOutcome.COMPLETE and not known_failure:
        update = _completed(ctx, step, state, job)
        if update is not None:
            return update
        known_failure = True  # its outputs are missing: recorded as a failed attempt
        state = _without_outputs(ctx, step, state, job)
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
        return _after_failure(ctx, step, state, states, retries_used)
    if job is None:
        return _missing_job(ctx, step, state, states)
    # A Job we suspended follows the flow's annotation in this very answer.
    suspended = ctx.suspended if job.suspended_by_flow else job.suspended
    return StepUpdate(
        running(state, StepReason.JOB_SUSPENDED if suspended else StepReason.JOB_RUNNING)
    )


def _completed(
    ctx: PassContext, step: Step, state: StepStatus, job: ObservedJob
) -> StepUpdate | None:
    """A complete Job: the step succeeds with its outputs, waits for its pod to be seen, or
    (None) its outputs cannot be had."""
    finished = job.finished_at or ctx.now
    if not step.output_names:
        return StepUpdate(succeeded(state, finished))
    written = ctx.pod_outputs.get((step.name, state.attempt))
    if written is None:
        grace = later(finished, OUTPUT_GRACE_SECONDS)
        if ctx.now < grace:
            waiting = updated(
                running(state, StepReason.COLLECTING_OUTPUTS),
                message="waiting to see the succeeded pod whose termination message has them",
            )
            return StepUpdate(waiting, due=grace)
        return None
    values, missing = declared(written, step.output_names)
    if missing:
        return None
    return StepUpdate(succeeded(state, finished, StepReason.JOB_COMPLETE, values))


def _without_outputs(
    ctx: PassContext, step: Step, state: StepStatus, job: ObservedJob
) -> StepStatus:
    """The failed attempt of a Job that completed without the outputs the step declares."""
    written = ctx.pod_outputs.get((step.name, state.attempt))
    if written is None:
        reason = StepReason.OUTPUTS_UNAVAILABLE
        message = (
            f"no succeeded pod of Job {job.name} seen within {OUTPUT_GRACE_SECONDS}s: "
            "its termination message could not be read"
        )
    else:
        _, missing = declared(written, step.output_names)
        reason = StepReason.OUTPUT_MISSING
        names = ", ".join(f'"{name}"' for name in missing)
        message = f"pod {written.pod} wrote no output {names} (or one over 4096 characters)"
    failure = FailedAttempt(
        attempt=state.attempt,
        job_name=job.name,
        reason=reason,
        message=message,
        finish_time=format_time(job.finished_at or ctx.now),
    )
    return with_failure(state, failure)


def _after_failure(
    ctx: PassContext,
    step: Step,
    state: StepStatus,
    states: Mapping[str, StepStatus],
    retries_used: int,
) -> StepUpdate:
    after = after_failed_attempt(ctx, state, retries_used)
    if after.retry_now and dependencies_met(ctx, step, states):
        update = start_attempt(ctx, step, after.state, after.state.attempt + 1, states)
        return StepUpdate(
            update.state, update.job, update.started, retry_scheduled=after.retry_scheduled
        )
    # A due retry whose dependency looks unfinished waits: that only happens when status
    # was lost along with their Jobs (say, a flow restored from a backup).
    return StepUpdate(after.state, due=after.due, retry_scheduled=after.retry_scheduled)


def _missing_job(
    ctx: PassContext, step: Step, state: StepStatus, states: Mapping[str, StepStatus]
) -> StepUpdate:
    """A Job status calls running is not listed: just created (cache lag) or deleted."""
    if ctx.past_deadline(step.name):
        message = "flow activeDeadlineSeconds passed"
        return StepUpdate(failed(state, StepReason.DEADLINE_EXCEEDED, message, ctx.now))
    started = parse_time_or(state.attempt_start_time or state.start_time, ctx.now)
    given = _inputs(step, states)
    if isinstance(given, tuple):
        return StepUpdate(failed(state, *given, ctx.now))
    return StepUpdate(state, job=job_to_create(ctx, step, state.attempt, started, given))
