"""Retry decisions: the delays of each backoff type, the two budgets, and due times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.flows import T0, at, jobflow, step
from tests.support.passes import context, state
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import Backoff, RetryPolicy
from zen_flow.api.status import FailedAttempt, StepPhase, StepStatus
from zen_flow.engine.plan.retry import (
    GiveUp,
    RetryAt,
    after_failed_attempt,
    decide_retry,
    retry_delay,
)


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ({"type": "Fixed", "duration": "10s"}, [10, 10, 10]),
        ({"type": "Linear", "duration": "10s"}, [10, 20, 30]),
        ({"type": "Exponential", "duration": "10s"}, [10, 20, 40]),
        ({"type": "Exponential", "duration": "10s", "factor": 3}, [10, 30, 90]),
        ({"type": "Exponential", "duration": "10s", "maxDelay": "25s"}, [10, 20, 25]),
    ],
)
def test_delay_of_each_retry(backoff: dict[str, object], delays: list[int]) -> None:
    model = Backoff.model_validate(backoff)
    assert [retry_delay(model, n) for n in (1, 2, 3)] == delays


def test_no_policy_gives_up_with_the_jobs_reason() -> None:
    decision = decide_retry(None, 1, "BackoffLimitExceeded", T0, 0, 6)
    assert decision == GiveUp("BackoffLimitExceeded", "")


def test_the_steps_limit_ends_retries() -> None:
    policy = RetryPolicy(limit=2)
    assert isinstance(decide_retry(policy, 2, "X", T0, 0, 6), RetryAt)
    decision = decide_retry(policy, 3, "X", T0, 0, 6)
    assert isinstance(decision, GiveUp)
    assert decision.reason == StepReason.RETRY_LIMIT_REACHED


def test_the_flows_budget_ends_retries_of_every_step() -> None:
    decision = decide_retry(RetryPolicy(limit=5), 1, "X", T0, 4, 4)
    assert isinstance(decision, GiveUp)
    assert decision.reason == StepReason.FLOW_BACKOFF_LIMIT_REACHED


def test_due_time_counts_from_the_failure_and_rounds_up() -> None:
    policy = RetryPolicy(backoff=Backoff(type="Fixed", duration="1500ms"))
    decision = decide_retry(policy, 1, "X", T0, 0, 6)
    assert decision == RetryAt(T0 + timedelta(seconds=2))


def failed_once(**fields: object) -> StepStatus:
    failure = FailedAttempt(
        attempt=1,
        job_name="f-a-1",
        reason="BackoffLimitExceeded",
        finish_time="2026-03-01T12:00:00Z",
    )
    return state("a", StepPhase.RUNNING, attempt=1, failed_attempts=[failure], **fields)


RETRYING = jobflow(
    "f", step("a", retryPolicy={"limit": 2, "backoff": {"type": "Fixed", "duration": "30s"}})
)


def test_a_new_failure_schedules_a_retry() -> None:
    after = after_failed_attempt(context(RETRYING), failed_once(), retries_used=0)
    assert after.retry_scheduled
    assert after.state.reason == StepReason.BACKOFF_WAIT
    assert after.state.next_retry_time == "2026-03-01T12:00:30Z"
    assert after.due == at(30)
    assert not after.retry_now


def test_a_scheduled_retry_is_not_counted_again_and_comes_due() -> None:
    waiting = failed_once(reason="BackoffWait", next_retry_time="2026-03-01T12:00:30Z")
    before = after_failed_attempt(context(RETRYING, now=at(29)), waiting, retries_used=1)
    assert not before.retry_scheduled and before.due == at(30)
    due = after_failed_attempt(context(RETRYING, now=at(30)), waiting, retries_used=1)
    assert due.retry_now and due.due is None


def test_a_suspended_flow_holds_its_retry_without_a_due_time() -> None:
    after = after_failed_attempt(context(RETRYING, suspended=True), failed_once(), 0)
    assert after.state.reason == StepReason.BACKOFF_WAIT
    assert after.due is None and not after.retry_now


def test_the_flow_deadline_fails_a_step_waiting_to_retry() -> None:
    flow = jobflow(
        "f",
        step("a", retryPolicy={"limit": 2}),
        executionPolicy={"activeDeadlineSeconds": 10},
    )
    ctx = context(flow, status={"startTime": "2026-03-01T11:59:00Z"})
    after = after_failed_attempt(ctx, failed_once(), 0)
    assert after.state.phase is StepPhase.FAILED
    assert after.state.reason == StepReason.DEADLINE_EXCEEDED


def test_without_a_policy_the_step_fails_with_its_jobs_reason() -> None:
    after = after_failed_attempt(context(), failed_once(), 0)
    assert after.state.phase is StepPhase.FAILED
    assert after.state.reason == "BackoffLimitExceeded"
    assert after.state.message == "attempt 1 failed: BackoffLimitExceeded"
