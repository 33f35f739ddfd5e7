"""Retries of a failed attempt: whether there is one, and when it is due.

A retry is counted against two budgets, the step's ``retryPolicy.limit`` and the flow's
``executionPolicy.backoffLimit`` (all steps together); once scheduled, its due time is
written to status (``nextRetryTime``) so that every later sync agrees on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from zen_flow.api.durations import parse_duration
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import MAX_SECONDS, Backoff, BackoffType, RetryPolicy
from zen_flow.api.status import StepStatus
from zen_flow.api.times import ceil_seconds, later, parse_time_or
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.transitions import backing_off, failed


def retry_delay(backoff: Backoff, retry: int) -> float:
    """Seconds before retry ``retry`` (1, 2, ...): Fixed d, Linear d*n, Exponential d*f^(n-1);
    at most ``maxDelay``, and never more than ``MAX_SECONDS`` however large the growth."""
    base = parse_duration(backoff.duration)
    if backoff.type is BackoffType.FIXED:
        seconds = base
    elif backoff.type is BackoffType.LINEAR:
        seconds = base * retry
    else:
        try:
            seconds = base * backoff.factor ** (retry - 1)
        except OverflowError:
            seconds = math.inf
    if backoff.max_delay is not None:
        seconds = min(seconds, parse_duration(backoff.max_delay))
    return min(seconds, MAX_SECONDS)


@dataclass(frozen=True)
class GiveUp:
    """No retry: the step fails with this reason; ``why`` completes the message."""

    reason: str
    why: str


@dataclass(frozen=True)
class RetryAt:
    """Retry ``attempt + 1`` at ``due``."""

    due: datetime


def decide_retry(
    policy: RetryPolicy | None,
    attempt: int,
    failure_reason: str,
    finished: datetime,
    retries_used: int,
    backoff_limit: int,
) -> GiveUp | RetryAt:
    """Whether failed ``attempt`` (of the current run) gets a retry, given the retries the
    flow has used in this run."""
    if policy is None:
        return GiveUp(failure_reason, "")
    if attempt - 1 >= policy.limit:
        return GiveUp(StepReason.RETRY_LIMIT_REACHED, f"; retryPolicy.limit {policy.limit} reached")
    if retries_used >= backoff_limit:
        return GiveUp(
            StepReason.FLOW_BACKOFF_LIMIT_REACHED,
            f"; executionPolicy.backoffLimit {backoff_limit} reached",
        )
    return RetryAt(ceil_seconds(later(finished, retry_delay(policy.backoff, attempt))))


@dataclass(frozen=True)
class AfterFailure:
    """A step whose current attempt failed: its new state, and what comes next."""

    state: StepStatus
    retry_scheduled: bool = False  # this pass scheduled a retry (the flow's budget shrinks)
    due: datetime | None = None  # the retry waits until then
    retry_now: bool = False  # the retry is due: start the next attempt if it may run


def after_failed_attempt(ctx: PassContext, state: StepStatus, retries_used: int) -> AfterFailure:
    """Fail the step, schedule its retry, or say the scheduled retry is due."""
    failure = state.failed_attempts[-1]
    detail = f"attempt {state.attempt} failed: {failure.reason}"
    if failure.message:
        detail += f" ({failure.message})"
    run_attempt = state.attempt - state.prior_attempts  # budgets start afresh with a rerun
    scheduled = False
    if not (state.reason == StepReason.BACKOFF_WAIT and state.next_retry_time):
        policy = ctx.steps[state.name].retry_policy
        decision = decide_retry(
            policy,
            run_attempt,
            failure.reason,
            parse_time_or(failure.finish_time, ctx.now),
            retries_used,
            ctx.spec.execution_policy.backoff_limit,
        )
        if isinstance(decision, GiveUp):
            return AfterFailure(failed(state, decision.reason, detail + decision.why, ctx.now))
        limit = policy.limit if policy is not None else 0
        message = f"{detail}; retry {run_attempt} of {limit}"
        state = backing_off(state, decision.due, message)
        scheduled = True
    due = parse_time_or(state.next_retry_time, ctx.now)
    if ctx.past_deadline(state.name):
        reason, message = StepReason.DEADLINE_EXCEEDED, f"{detail}; flow deadline passed"
        return AfterFailure(failed(state, reason, message, ctx.now), scheduled)
    if ctx.suspended:
        return AfterFailure(state, scheduled)
    if ctx.now < due:
        return AfterFailure(state, scheduled, due=due)
    return AfterFailure(state, scheduled, retry_now=True)
