"""Observation: what exists, arranged for deciding — the flow, its last status, Jobs by step.

Caches may lag each other (a Job we created may not be listed yet, status may be older than
the children), so nothing here trusts one source alone; ``plan`` reconciles them.

Children, their labels and annotations can be edited by anyone who may edit objects in the
flow's namespace. Metacontroller's last-applied annotation is used only when it describes
the very object it is on (same apiVersion, kind, namespace and name); one that does not is
recorded as such and never used. Step and attempt labels are read strictly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property

import msgspec

from zen_flow.api.labels import (
    ANNOTATION_APPROVE_PREFIX,
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_RERUN,
    ANNOTATION_SUSPENDED,
    ANNOTATION_TERMINATE,
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
from zen_flow.engine.outputs import PodOutputs, pod_outputs
from zen_flow.engine.size import size_problems
from zen_flow.engine.status import read_status
from zen_flow.engine.wire import Child, ChildSpec, HookRequest, Memo
from zen_flow.spec.names import name_problems
from zen_flow.spec.validation import InvalidSpecError, Problem, parse_spec


class JobOutcome(StrEnum):
    ACTIVE = "Active"
    COMPLETE = "Complete"
    FAILED = "Failed"


MAX_ATTEMPT = 1000
_ATTEMPT = re.compile(r"[1-9][0-9]{0,3}")


@dataclass(frozen=True)
class ObservedChild:
    """A child as observed, and Metacontroller's record of what it last applied to it.

    ``applied`` is that record (the annotation's JSON) when it describes this very object;
    ``bookkeeping_disagrees`` says the annotation exists but describes something else, or
    nothing readable: it is then ignored.
    """

    child: Child
    applied: msgspec.Raw | None
    applied_suspend: bool
    bookkeeping_disagrees: bool

    # Read on every sync for every child, by several passes: computed once (an observation
    # is kept while its decoded child is cached).
    @cached_property
    def kind(self) -> str:
        return self.child.view.kind

    @cached_property
    def name(self) -> str:
        return self.child.view.metadata.name


@dataclass(frozen=True)
class ObservedJob:
    """A Job of one attempt of one step, and what its conditions say."""

    child: ObservedChild
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
    completions: int | None = None  # an Indexed Job's items
    succeeded: int = 0  # its pods that succeeded: items done
    failed_indexes: str | None = None

    @property
    def name(self) -> str:
        return self.child.name


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
    terminate: bool = False
    rerun_token: str | None = None  # the workflow.zen.io/rerun annotation, if set
    annotations: dict[str, str] = field(default_factory=dict)  # the flow's own
    approvals: dict[str, str] = field(default_factory=dict)  # step: "true", "false", ...
    pod_outputs: dict[tuple[str, int], PodOutputs] = field(default_factory=dict)
    jobs: dict[tuple[str, int], ObservedJob] = field(default_factory=dict)
    jobs_by_name: dict[str, ObservedJob] = field(default_factory=dict)
    latest_attempt: dict[str, int] = field(default_factory=dict)
    configmaps: dict[str, ObservedChild] = field(default_factory=dict)
    pvcs: dict[str, ObservedChild] = field(default_factory=dict)
    children: list[ObservedChild] = field(default_factory=list)

    @property
    def rerun_requested(self) -> str | None:
        """A rerun token not handled yet, unless terminate holds the flow."""
        handled = self.status.rerun.token if self.status.rerun is not None else None
        if self.terminate or not self.rerun_token or self.rerun_token == handled:
            return None
        return self.rerun_token

    @cached_property
    def active_jobs(self) -> frozenset[str]:
        """The names of the step Jobs that have not finished (read by the pass, the answer
        and the guard: computed once)."""
        return frozenset(job.name for job in self.jobs.values() if job.outcome is JobOutcome.ACTIVE)

    @property
    def disagreeing_bookkeeping(self) -> list[ObservedChild]:
        """Children whose last-applied annotation describes another object."""
        return [child for child in self.children if child.bookkeeping_disagrees]


def observe(request: HookRequest) -> Observation:
    """Arrange a decoded request for the planner; an invalid spec is recorded, not raised."""
    meta = request.parent.metadata
    flow = FlowIdentity(meta.name, meta.namespace, meta.uid, meta.generation)
    annotations = meta.annotations
    observation = Observation(
        flow=flow,
        spec_json=bytes(request.parent.spec),
        status=read_status(bytes(request.parent.status)),
        suspended=_true(annotations.get(ANNOTATION_SUSPENDED)),
        terminate=_true(annotations.get(ANNOTATION_TERMINATE)),
        rerun_token=annotations.get(ANNOTATION_RERUN, "").strip() or None,
        annotations=dict(annotations),
        approvals={
            key.removeprefix(ANNOTATION_APPROVE_PREFIX): value.strip().lower()
            for key, value in annotations.items()
            if key.startswith(ANNOTATION_APPROVE_PREFIX)
        },
    )
    for type_key, children in request.children.items():
        memos = request.memos.get(type_key) or tuple(Memo() for _ in children)
        for raw_child, memo in zip(children, memos, strict=True):
            child, job = _observed(raw_child, memo, meta.namespace, type_key)
            observation.children.append(child)
            if type_key == CHILD_JOBS:
                if job is not None:
                    observation.jobs[(job.step, job.attempt)] = job
                    observation.jobs_by_name[job.name] = job
                    latest = observation.latest_attempt.get(job.step, 0)
                    observation.latest_attempt[job.step] = max(latest, job.attempt)
            elif type_key == CHILD_CONFIGMAPS:
                observation.configmaps[child.name] = child
            elif type_key == CHILD_PVCS:
                observation.pvcs[child.name] = child
    if request.pods:
        uids = {job.name: job.child.child.view.metadata.uid for job in observation.jobs.values()}
        observation.pod_outputs = pod_outputs(request.pods, uids)
    return observation


def _observed(
    raw_child: Child, memo: Memo, namespace: str, type_key: str
) -> tuple[ObservedChild, ObservedJob | None]:
    """A child's observation, derived once while the decoded child is cached (its memo)."""
    if memo.value is None:
        child = _observed_child(raw_child, namespace)
        memo.value = (child, _observed_job(child) if type_key == CHILD_JOBS else None)
    known: tuple[ObservedChild, ObservedJob | None] = memo.value
    return known


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def read_spec(observation: Observation) -> tuple[JobFlowSpec | None, list[Problem]]:
    """The flow's spec if valid, else its problems. Separate from ``observe`` because a
    finished or deleted flow never needs it, and validating a large spec is not free."""
    try:
        spec = parse_spec(observation.spec_json)
    except InvalidSpecError as error:
        return None, error.problems
    # Names depend on the flow's name, which the cached validation of the spec does not see.
    problems = name_problems(observation.flow.name, spec)
    # So does the room status has: the spec shares the object with the annotations.
    problems += size_problems(spec, len(observation.spec_json), observation.annotations)
    return (None, problems) if problems else (spec, [])


def _observed_child(child: Child, namespace: str) -> ObservedChild:
    text = child.view.metadata.annotations.get(ANNOTATION_LAST_APPLIED)
    if not text:
        return ObservedChild(child, None, applied_suspend=False, bookkeeping_disagrees=False)
    try:
        applied = _applied_decoder.decode(text)
    except (msgspec.DecodeError, RecursionError):
        applied = None
    view = child.view
    if applied is None or (
        applied.apiVersion,
        applied.kind,
        applied.metadata.name,
        applied.metadata.namespace or view.metadata.namespace or namespace,
    ) != (view.apiVersion, view.kind, view.metadata.name, view.metadata.namespace or namespace):
        return ObservedChild(child, None, applied_suspend=False, bookkeeping_disagrees=True)
    raw = msgspec.Raw(text.encode())
    return ObservedChild(child, raw, bool(applied.spec.suspend), bookkeeping_disagrees=False)


def _observed_job(observed: ObservedChild) -> ObservedJob | None:
    """The Job's step, attempt and outcome; None for a Job that is not one of a step's."""
    child = observed.child
    meta = child.view.metadata
    step = meta.labels.get(LABEL_STEP)
    attempt_text = meta.labels.get(LABEL_ATTEMPT, "")
    if not step or not _ATTEMPT.fullmatch(attempt_text) or int(attempt_text) > MAX_ATTEMPT:
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
        child=observed,
        step=step,
        attempt=int(attempt_text),
        outcome=outcome,
        reason=reason,
        message=message,
        finished_at=finished,
        started_at=parse_time_or(started, _EPOCH) if started else None,
        suspended=bool(child.view.spec.suspend),
        suspended_by_flow=bool(child.view.spec.suspend) and observed.applied_suspend,
        queued_by_kueue=LABEL_KUEUE_QUEUE in meta.labels,
        completions=child.view.spec.completions,
        succeeded=max(0, child.view.status.succeeded),
        failed_indexes=child.view.status.failedIndexes or None,
    )


class _AppliedMeta(msgspec.Struct):
    name: str = ""
    namespace: str = ""


class _Applied(msgspec.Struct):
    """What of a last-applied configuration is read: who it describes, and its suspend."""

    apiVersion: str = ""
    kind: str = ""
    metadata: _AppliedMeta = msgspec.field(default_factory=_AppliedMeta)
    spec: ChildSpec = ChildSpec()


_applied_decoder = msgspec.json.Decoder(_Applied)


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
