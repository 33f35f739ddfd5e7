"""Observation: what exists, arranged for deciding — the flow, its last status, Jobs by step.

Caches may lag each other (a Job we created may not be listed yet, status may be older than
the children), so nothing here trusts one source alone; ``plan`` reconciles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import msgspec
import pydantic

from zen_flow.api.labels import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_SUSPENDED,
    CHILD_CONFIGMAPS,
    CHILD_JOBS,
    CHILD_PVCS,
    LABEL_ATTEMPT,
    LABEL_KUEUE_QUEUE,
    LABEL_STEP,
)
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.api.times import parse_time_or
from zen_flow.engine.wire import Child, ChildSpec, HookRequest
from zen_flow.spec.validation import InvalidSpecError, Problem, parse_spec


class JobOutcome(StrEnum):
    ACTIVE = "Active"
    COMPLETE = "Complete"
    FAILED = "Failed"


@dataclass(frozen=True)
class ObservedJob:
    """A Job of one attempt of one step, and what its conditions say."""

    child: Child
    step: str
    attempt: int
    outcome: JobOutcome
    reason: str
    message: str
    finished_at: datetime | None
    started_at: datetime | None
    suspended: bool
    suspended_by_flow: bool
    queued_by_kueue: bool

    @property
    def name(self) -> str:
        return self.child.view.metadata.name


@dataclass(frozen=True)
class FlowIdentity:
    name: str
    namespace: str
    uid: str
    generation: int


@dataclass
class Observation:
    """Everything ``plan`` decides from."""

    flow: FlowIdentity
    spec_json: bytes
    status: JobFlowStatus
    suspended: bool
    jobs: dict[tuple[str, int], ObservedJob] = field(default_factory=dict)
    jobs_by_name: dict[str, ObservedJob] = field(default_factory=dict)
    latest_attempt: dict[str, int] = field(default_factory=dict)
    configmaps: dict[str, Child] = field(default_factory=dict)
    pvcs: dict[str, Child] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)


def observe(request: HookRequest) -> Observation:
    """Arrange a decoded request for the planner; an invalid spec is recorded, not raised."""
    meta = request.parent.metadata
    flow = FlowIdentity(meta.name, meta.namespace, meta.uid, meta.generation)
    observation = Observation(
        flow=flow,
        spec_json=bytes(request.parent.spec),
        status=_last_status(bytes(request.parent.status)),
        suspended=meta.annotations.get(ANNOTATION_SUSPENDED, "").strip().lower() == "true",
    )
    for type_key, children in request.children.items():
        for child in children:
            observation.children.append(child)
            if type_key == CHILD_JOBS:
                job = _observed_job(child)
                if job is not None:
                    observation.jobs[(job.step, job.attempt)] = job
                    observation.jobs_by_name[job.name] = job
                    latest = observation.latest_attempt.get(job.step, 0)
                    observation.latest_attempt[job.step] = max(latest, job.attempt)
            elif type_key == CHILD_CONFIGMAPS:
                observation.configmaps[child.view.metadata.name] = child
            elif type_key == CHILD_PVCS:
                observation.pvcs[child.view.metadata.name] = child
    return observation


def read_spec(observation: Observation) -> tuple[JobFlowSpec | None, list[Problem]]:
    """The flow's spec if valid, else its problems. Separate from ``observe`` because a
    finished or deleted flow never needs it, and validating a large spec is not free."""
    try:
        return parse_spec(observation.spec_json), []
    except InvalidSpecError as error:
        return None, error.problems


def _last_status(raw: bytes) -> JobFlowStatus:
    """The status we wrote last time; an unreadable one counts as none (and is rewritten)."""
    if raw.strip() in (b"", b"null"):
        return JobFlowStatus()
    try:
        return JobFlowStatus.model_validate_json(raw, by_alias=True)
    except pydantic.ValidationError:
        return JobFlowStatus()


def _observed_job(child: Child) -> ObservedJob | None:
    """The Job's step, attempt and outcome; None for a Job that is not one of a step's."""
    meta = child.view.metadata
    step = meta.labels.get(LABEL_STEP)
    attempt_text = meta.labels.get(LABEL_ATTEMPT, "")
    if not step or not attempt_text.isdigit() or int(attempt_text) < 1:
        return None
    outcome, reason, message, finished = JobOutcome.ACTIVE, "", "", None
    for condition in child.view.status.conditions:
        if condition.status != "True" or condition.type not in ("Complete", "Failed"):
            continue
        outcome = JobOutcome.COMPLETE if condition.type == "Complete" else JobOutcome.FAILED
        reason, message = condition.reason, condition.message
        when = condition.lastTransitionTime or child.view.status.completionTime
        finished = parse_time_or(when, _EPOCH) if when else None
        break
    started = child.view.status.startTime or meta.creationTimestamp
    return ObservedJob(
        child=child,
        step=step,
        attempt=int(attempt_text),
        outcome=outcome,
        reason=reason,
        message=message,
        finished_at=finished,
        started_at=parse_time_or(started, _EPOCH) if started else None,
        suspended=bool(child.view.spec.suspend),
        suspended_by_flow=bool(child.view.spec.suspend) and _applied_suspend(child),
        queued_by_kueue=LABEL_KUEUE_QUEUE in meta.labels,
    )


class _Applied(msgspec.Struct):
    spec: ChildSpec = ChildSpec()


_applied_decoder = msgspec.json.Decoder(_Applied)


def _applied_suspend(child: Child) -> bool:
    """Whether we suspended this Job (our last-applied configuration says so)."""
    text = child.view.metadata.annotations.get(ANNOTATION_LAST_APPLIED)
    if not text:
        return False
    try:
        return bool(_applied_decoder.decode(text).spec.suspend)
    except msgspec.DecodeError:
        return False


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
