"""Attempts and their Jobs: starting, catching up with Jobs ahead of status, outcomes."""

from __future__ import annotations

from tests.support.flows import T0, at, jobflow, step
from tests.support.passes import context, job, pending, state
from zen_flow.api.naming import job_name
from zen_flow.api.reasons import StepReason
from zen_flow.api.status import StepPhase
from zen_flow.engine.plan.attempts import advance_started, caught_up, job_to_create, start_attempt
from zen_flow.engine.plan.transitions import entered_attempt


def test_starting_creates_the_job_of_the_attempt() -> None:
    ctx = context()
    update = start_attempt(ctx, ctx.steps["a"], pending("a"), 1, {})
    assert update.started and update.job is not None
    assert update.job.name == job_name("f", "uid-f", "a", 1)
    assert update.state.reason == StepReason.JOB_CREATED
    assert update.state.job_ref is not None and update.state.job_ref.name == update.job.name


def test_a_job_gets_the_smallest_of_the_three_time_limits() -> None:
    flow = jobflow(
        "f", step("a", timeoutSeconds=300), executionPolicy={"activeDeadlineSeconds": 100}
    )
    ctx = context(flow, status={"startTime": "2026-03-01T11:59:00Z"})
    assert job_to_create(ctx, ctx.steps["a"], 1, T0).active_deadline_seconds == 40
    assert job_to_create(ctx, ctx.steps["a"], 1, at(-400)).active_deadline_seconds == 300
    assert job_to_create(ctx, ctx.steps["a"], 1, at(500)).active_deadline_seconds == 1


def test_a_job_without_limits_runs_unbounded() -> None:
    ctx = context(jobflow("f", step("a")))
    assert job_to_create(ctx, ctx.steps["a"], 1, T0).active_deadline_seconds is None


def test_status_behind_the_jobs_catches_up_to_the_newest_attempt() -> None:
    ctx = context(jobs=(job("a", 1, finished="Failed"), job("a", 2)))
    behind = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    now = caught_up(ctx, behind)
    assert now.attempt == 2 and now.retry_count == 1
    assert now.job_ref is not None and now.job_ref.name == "f-a-2"
    assert caught_up(ctx, now) is now


def test_finished_steps_never_catch_up() -> None:
    ctx = context(jobs=(job("a", 2),))
    done = state("a", StepPhase.SUCCEEDED, attempt=1)
    assert caught_up(ctx, done) is done


def test_a_complete_job_succeeds_the_step() -> None:
    ctx = context(jobs=(job("a", finished="Complete", at="2026-03-01T12:00:07Z"),))
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    update = advance_started(ctx, running, {"a": running}, 0)
    assert update.state.phase is StepPhase.SUCCEEDED
    assert update.state.completion_time == "2026-03-01T12:00:07Z"


def test_a_failed_job_is_recorded_once() -> None:
    ctx = context(jobs=(job("a", finished="Failed", reason="DeadlineExceeded"),))
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    first = advance_started(ctx, running, {"a": running}, 0).state
    again = advance_started(ctx, first, {"a": first}, 0).state
    assert [f.reason for f in again.failed_attempts] == ["DeadlineExceeded"]
    assert again.phase is StepPhase.FAILED


def test_a_due_retry_starts_the_next_attempt() -> None:
    flow = jobflow(
        "f", step("a", retryPolicy={"limit": 1, "backoff": {"type": "Fixed", "duration": "10s"}})
    )
    failed_job = job("a", finished="Failed", reason="BackoffLimitExceeded")
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    scheduled = advance_started(context(flow, jobs=(failed_job,)), running, {}, 0)
    assert scheduled.retry_scheduled and scheduled.due == at(10)
    retry = advance_started(context(flow, jobs=(failed_job,), now=at(10)), scheduled.state, {}, 1)
    assert retry.started and retry.job is not None
    assert retry.state.attempt == 2 and not retry.retry_scheduled


def test_a_missing_job_of_a_running_attempt_is_asked_for_again() -> None:
    ctx = context(now=at(60))
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    update = advance_started(ctx, running, {"a": running}, 0)
    assert update.job is not None and not update.started
    assert update.job.name == job_name("f", "uid-f", "a", 1)
    assert update.state is running


def test_a_suspended_job_makes_the_step_suspended() -> None:
    ctx = context(jobs=(job("a", suspend=True),))
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    update = advance_started(ctx, running, {"a": running}, 0)
    assert update.state.reason == StepReason.JOB_SUSPENDED
