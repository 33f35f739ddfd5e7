"""A step's moves: each gives a new status and leaves the old one alone."""

from __future__ import annotations

from tests.support.flows import T0, at
from tests.support.passes import pending, state
from zen_flow.api.reasons import StepReason
from zen_flow.api.status import FailedAttempt, StepPhase
from zen_flow.engine.plan.transitions import (
    MAX_MESSAGE,
    backing_off,
    entered_attempt,
    failed,
    short,
    succeeded,
    updated,
    waiting,
    with_failure,
)


def test_updated_returns_the_same_object_when_nothing_changes() -> None:
    before = state("a", StepPhase.RUNNING, reason="JobRunning")
    assert updated(before, phase=StepPhase.RUNNING, reason=StepReason.JOB_RUNNING) is before
    after = updated(before, reason=StepReason.JOB_SUSPENDED)
    assert after is not before
    assert before.reason == "JobRunning" and after.reason == "JobSuspended"


def test_first_attempt_time_is_the_steps_start_time() -> None:
    first = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    assert first.phase is StepPhase.RUNNING
    assert first.start_time == "2026-03-01T12:00:00Z"
    assert first.attempt_start_time is None
    assert first.job_ref is not None and first.job_ref.name == "f-a-1"


def test_later_attempts_keep_the_steps_start_time_and_record_their_own() -> None:
    first = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    second = entered_attempt(first, 2, "f-a-2", "team-a", at(90))
    assert second.start_time == first.start_time
    assert second.attempt_start_time == "2026-03-01T12:01:30Z"
    assert second.next_retry_time is None


def test_success_drops_the_job_reference() -> None:
    running = entered_attempt(pending("a"), 1, "f-a-1", "team-a", T0)
    done = succeeded(running, at(5))
    assert done.phase is StepPhase.SUCCEEDED
    assert done.reason == StepReason.JOB_COMPLETE
    assert done.job_ref is None
    assert done.completion_time == "2026-03-01T12:00:05Z"


def test_backing_off_counts_the_retry_and_writes_its_time() -> None:
    running = entered_attempt(pending("a"), 2, "f-a-2", "team-a", T0)
    waiting_retry = backing_off(running, at(20), "attempt 2 failed")
    assert waiting_retry.reason == StepReason.BACKOFF_WAIT
    assert waiting_retry.retry_count == 2
    assert waiting_retry.next_retry_time == "2026-03-01T12:00:20Z"


def test_failure_records_are_appended() -> None:
    failure = FailedAttempt(attempt=1, job_name="j", reason="X", finish_time="t")
    once = with_failure(pending("a"), failure)
    twice = with_failure(once, failure.model_copy(update={"attempt": 2}))
    assert [f.attempt for f in twice.failed_attempts] == [1, 2]
    assert once.failed_attempts == [failure]


def test_messages_are_cut_to_their_limit() -> None:
    long = "x" * 1000
    assert len(short(long)) == MAX_MESSAGE and short(long).endswith("...")
    assert short("fine") == "fine"
    assert failed(pending("a"), "R", long, T0).message == short(long)


def test_waiting_clears_the_message() -> None:
    noisy = state("a", StepPhase.PENDING, message="old")
    assert waiting(noisy, StepReason.SUSPENDED).message is None
