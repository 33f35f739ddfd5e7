"""The JobFlow's status: phases, steps, progress and conditions, as the hooks write it.

Tolerant where the spec models are strict: a status written by a newer version (unknown
fields) is read, not refused, because the hooks rewrite it whole on every sync anyway.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class FlowPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class StepPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


TERMINAL_STEP_PHASES = frozenset({StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED})
TERMINAL_FLOW_PHASES = frozenset({FlowPhase.SUCCEEDED, FlowPhase.FAILED})


class StatusModel(BaseModel):
    """Base of status objects: camelCase, tolerant of fields written by newer versions."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Progress(StatusModel):
    """Step counts."""

    total_steps: int = Field(default=0, description="Number of steps.")
    completed_steps: int = Field(default=0, description="Steps in a terminal phase.")
    successful_steps: int = Field(default=0, description="Steps that succeeded.")
    failed_steps: int = Field(default=0, description="Steps that failed.")
    skipped_steps: int = Field(default=0, description="Steps that were skipped.")
    summary: str = Field(default="0/0", description="completed/total, for kubectl get.")


class JobRef(StatusModel):
    """The Job of a step's current attempt."""

    name: str = Field(description="Job name.")
    namespace: str = Field(description="Job namespace.")


class FailedAttempt(StatusModel):
    """A failed attempt of a step; its Job is kept for its logs."""

    attempt: int = Field(description="Attempt number, from 1.")
    job_name: str = Field(description="Name of the attempt's Job.")
    reason: str = Field(default="", description="Why the attempt failed (the Job's reason).")
    message: str | None = Field(default=None, description="More about why, when known.")
    finish_time: str = Field(description="When the attempt failed (RFC 3339).")


class ItemsStatus(StatusModel):
    """Progress of a fan-out step's current attempt: counts, never one record per item."""

    total: int = Field(description="Items of the attempt (the Indexed Job's completions).")
    succeeded: int = Field(default=0, description="Items whose pod succeeded.")
    failed_indexes: str | None = Field(
        default=None,
        description='Indexes that failed for good, as the Job reports them ("1,3-5"; '
        "with backoffLimitPerIndex).",
    )


def _empty(value: object) -> bool:
    return not value


class StepStatus(StatusModel):
    """Observed state of one step; empty fields are left out so status stays compact."""

    name: str = Field(description="Step name.")
    phase: StepPhase = Field(description="Step phase.")
    reason: str | None = Field(default=None, description="Machine-readable reason.")
    message: str | None = Field(default=None, description="Human-readable detail.")
    start_time: str | None = Field(default=None, description="When the first attempt started.")
    completion_time: str | None = Field(default=None, description="When the step finished.")
    attempt: int = Field(
        default=0, exclude_if=_empty, description="Current attempt number (0: not started)."
    )
    attempt_start_time: str | None = Field(
        default=None, description="When the current attempt started, for attempts after the first."
    )
    retry_count: int = Field(
        default=0, exclude_if=_empty, description="Retries made or scheduled (attempts - 1)."
    )
    next_retry_time: str | None = Field(
        default=None, description="When the next attempt starts (phase Running, BackoffWait)."
    )
    job_ref: JobRef | None = Field(
        default=None,
        description=(
            "Job of the current attempt while the step runs or after it failed; left out once "
            "it succeeded (its Job: label workflow.zen.io/step)."
        ),
    )
    prior_attempts: int = Field(
        default=0,
        exclude_if=_empty,
        description="Attempts made before the current run (a rerun starts after them).",
    )
    failed_attempts: list[FailedAttempt] = Field(
        default_factory=list, exclude_if=_empty, description="Failed attempts, oldest first."
    )
    outputs: dict[str, str] = Field(
        default_factory=dict, exclude_if=_empty, description="Output parameters."
    )
    items: ItemsStatus | None = Field(
        default=None, description="A fan-out step's items (withItems or withParam)."
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """A metav1.Condition."""

    type: str = Field(description="Complete, Failed, Suspended, Running or InvalidSpec.")
    status: ConditionStatus = Field(description='"True", "False" or "Unknown".')
    reason: str = Field(description="CamelCase reason.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="metadata.generation the condition was computed from."
    )


class RerunStatus(StatusModel):
    """The last rerun the hooks carried out."""

    token: str = Field(description="The workflow.zen.io/rerun token it answered.")
    start_time: str = Field(description="When it started; the flow deadline counts from it.")


class JobFlowStatus(StatusModel):
    """Observed state of the flow, written by the hooks through Metacontroller."""

    phase: FlowPhase = Field(default=FlowPhase.PENDING, description="Flow phase.")
    reason: str | None = Field(default=None, description="Why the flow is in this phase.")
    message: str | None = Field(default=None, description="Human-readable detail.")
    observed_generation: int | None = Field(
        default=None, description="metadata.generation of the spec last acted upon."
    )
    start_time: str | None = Field(default=None, description="When the flow started.")
    completion_time: str | None = Field(
        default=None, description="When the flow reached Succeeded or Failed."
    )
    progress: Progress = Field(default_factory=Progress, description="Step counts.")
    steps: list[StepStatus] = Field(default_factory=list, description="One entry per step.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    rerun: RerunStatus | None = Field(default=None, description="The last rerun carried out.")
