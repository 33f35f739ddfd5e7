"""A step's moves between states, as functions from one ``StepStatus`` to the next.

Each returns a new status and leaves its argument alone (an unchanged step is returned as
it is), so a pass never edits the status it read and every move can be tested on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zen_flow.api.reasons import StepReason
from zen_flow.api.status import FailedAttempt, JobRef, StepPhase, StepStatus
from zen_flow.api.times import format_time

MAX_MESSAGE = 256


def short(text: str) -> str:
    """Messages stay short: status of thousands of steps must fit in one object."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def updated(state: StepStatus, **changes: Any) -> StepStatus:
    """``state`` with ``changes``; the same object when nothing changes."""
    for name, value in changes.items():
        if getattr(state, name) != value:
            return state.model_copy(update=changes)
    return state


def entered_attempt(
    state: StepStatus, attempt: int, job_name: str, namespace: str, at: datetime
) -> StepStatus:
    """The step runs ``attempt`` in Job ``job_name``, started at ``at``."""
    started = format_time(at)
    return updated(
        state,
        phase=StepPhase.RUNNING,
        attempt=attempt,
        # The first attempt starts with the step: its time is startTime already.
        attempt_start_time=started if attempt > 1 else None,
        start_time=state.start_time or started,
        next_retry_time=None,
        job_ref=JobRef(name=job_name, namespace=namespace),
    )


def running(state: StepStatus, reason: StepReason) -> StepStatus:
    return updated(state, phase=StepPhase.RUNNING, reason=reason)


def succeeded(
    state: StepStatus,
    at: datetime,
    reason: StepReason = StepReason.JOB_COMPLETE,
    outputs: dict[str, str] | None = None,
) -> StepStatus:
    # Compact status for flows of thousands of steps: a succeeded step's Job is found by
    # its labels; jobRef stays for running and failed steps, where it is needed.
    return updated(
        state,
        phase=StepPhase.SUCCEEDED,
        reason=reason,
        message=None,
        next_retry_time=None,
        job_ref=None,
        completion_time=format_time(at),
        outputs=state.outputs if outputs is None else outputs,
    )


def with_failure(state: StepStatus, failure: FailedAttempt) -> StepStatus:
    """The step's record of failed attempts, with ``failure`` added."""
    return updated(state, failed_attempts=[*state.failed_attempts, failure])


def backing_off(state: StepStatus, due: datetime, message: str) -> StepStatus:
    """A retry of the failed attempt is scheduled for ``due``."""
    return updated(
        state,
        phase=StepPhase.RUNNING,
        reason=StepReason.BACKOFF_WAIT,
        retry_count=state.attempt - state.prior_attempts,
        next_retry_time=format_time(due),
        message=short(message),
    )


def failed(state: StepStatus, reason: str, message: str, at: datetime) -> StepStatus:
    return updated(
        state,
        phase=StepPhase.FAILED,
        reason=reason,
        message=short(message),
        next_retry_time=None,
        completion_time=format_time(at),
    )


def skipped(state: StepStatus, reason: StepReason, message: str, at: datetime) -> StepStatus:
    return updated(
        state,
        phase=StepPhase.SKIPPED,
        reason=reason,
        message=short(message),
        completion_time=format_time(at),
    )


def waiting(state: StepStatus, reason: StepReason, message: str | None = None) -> StepStatus:
    return updated(state, phase=StepPhase.PENDING, reason=reason, message=message)


def started_in_run(state: StepStatus) -> bool:
    """The step has made an attempt since the current run began (a rerun starts a new run
    after the attempts already made)."""
    return state.attempt > state.prior_attempts


def rerun(state: StepStatus, token: str) -> StepStatus:
    """A failed or skipped step starts over: Pending again, with a fresh retry budget, its
    earlier attempts kept (their Jobs too, for their logs)."""
    return updated(
        state,
        phase=StepPhase.PENDING,
        reason=None,
        message=short(f"rerun {token}"),
        prior_attempts=state.attempt,
        retry_count=0,
        start_time=None,
        attempt_start_time=None,
        completion_time=None,
        next_retry_time=None,
        job_ref=None,
        outputs={},
    )
