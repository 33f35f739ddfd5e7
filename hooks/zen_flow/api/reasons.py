"""Reasons of step and flow phases, and the JobFlow's condition types.

A step that failed keeps its Job's own reason (``BackoffLimitExceeded``,
``DeadlineExceeded``, ``PodFailurePolicy``...), so a step's ``reason`` in status is a
``StepReason`` or one of those.
"""

from __future__ import annotations

from enum import StrEnum


class StepReason(StrEnum):
    """Why a step is in its phase."""

    WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
    WAITING_FOR_RESOURCES = "WaitingForResources"
    WAITING_FOR_STATUS_ROOM = "WaitingForStatusRoom"
    SUSPENDED = "Suspended"
    JOB_CREATED = "JobCreated"
    JOB_RUNNING = "JobRunning"
    JOB_SUSPENDED = "JobSuspended"
    JOB_COMPLETE = "JobComplete"
    BACKOFF_WAIT = "BackoffWait"
    RETRY_LIMIT_REACHED = "RetryLimitReached"
    FLOW_BACKOFF_LIMIT_REACHED = "FlowBackoffLimitReached"
    UPSTREAM_FAILED = "UpstreamFailed"
    CONDITION_FALSE = "ConditionFalse"
    CONDITION_ERROR = "ConditionError"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    TERMINATED = "Terminated"
    REPLACED = "Replaced"
    COLLECTING_OUTPUTS = "CollectingOutputs"
    OUTPUT_MISSING = "OutputMissing"
    OUTPUTS_UNAVAILABLE = "OutputsUnavailable"
    INPUT_UNAVAILABLE = "InputUnavailable"
    NO_ITEMS = "NoItems"
    STATUS_TOO_LARGE = "StatusTooLarge"
    INVALID_ITEMS = "InvalidItems"


class FlowReason(StrEnum):
    """Why the flow is in its phase; also the reasons of its conditions."""

    NOT_STARTED = "NotStarted"
    WAITING_FOR_RESOURCES = "WaitingForResources"
    STARTED = "Started"
    SUSPENDED = "Suspended"
    JOB_SUSPENDED = "JobSuspended"
    ALL_STEPS_DONE = "AllStepsDone"
    STEP_FAILED = "StepFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    TERMINATED = "Terminated"
    RERUN = "Rerun"
    AWAITING_APPROVAL = "AwaitingApproval"
    RUNNING_FINALLY = "RunningFinally"
    FINALLY_STEP_FAILED = "FinallyStepFailed"
    STATUS_TOO_LARGE = "StatusTooLarge"
    INVALID_SPEC = "InvalidSpec"
    SPEC_VALID = "SpecValid"


class ConditionType(StrEnum):
    """metav1.Condition types on a JobFlow, in the order status lists them."""

    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    INVALID_SPEC = "InvalidSpec"
