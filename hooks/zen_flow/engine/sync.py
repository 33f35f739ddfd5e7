"""The pure core: ``sync(request, now)`` answers a sync or a finalize call. No I/O, no clock,
no globals.

observe → plan → children / status. The same request and the same ``now`` always give the
same response; the HTTP server, the CLI simulator and the benchmarks all call ``sync``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import compress
from operator import attrgetter, not_
from typing import Any

from zen_flow.api.reasons import FlowReason, StepReason
from zen_flow.api.spec import MAX_SECONDS, JobFlowSpec
from zen_flow.api.status import (
    TERMINAL_FLOW_PHASES,
    FlowPhase,
    JobFlowStatus,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import parse_time_or, seconds_until
from zen_flow.engine.children import (
    Desired,
    reemit,
    render_items,
    render_job,
    render_resources,
)
from zen_flow.engine.guard import check_answer
from zen_flow.engine.observe import JobOutcome, Observation, observe, read_spec
from zen_flow.engine.plan import plan
from zen_flow.engine.plan.transitions import failed, short, skipped
from zen_flow.engine.size import fitted, room_for_status, status_bytes
from zen_flow.engine.status import FlowState, flow_status, status_document
from zen_flow.engine.wire import HookRequest, HookResponse
from zen_flow.spec.validation import Problem

# A flow that ended for one of these reasons may still have running Jobs, which stay deleted.
_ENDED_EARLY = frozenset({FlowReason.TERMINATED, FlowReason.STATUS_TOO_LARGE})


@dataclass(frozen=True)
class SyncResult:
    """The response, and what happened in it (for metrics, logs and the simulator)."""

    response: HookResponse
    jobs_created: int = 0
    step_transitions: Counter[str] = field(default_factory=Counter)
    flow_transition: str | None = None
    # Children whose last-applied annotation describes another object: ignored, "Kind name".
    ignored_bookkeeping: tuple[str, ...] = ()


def sync(request: HookRequest, now: datetime) -> SyncResult:
    """Answer a sync (or, when ``request.finalizing``, a finalize) call."""
    observation = observe(request)
    result = _decide(request, observation, now)
    ignored = tuple(f"{c.kind} {c.name}" for c in observation.disagreeing_bookkeeping)
    return replace(result, ignored_bookkeeping=ignored) if ignored else result


def _decide(request: HookRequest, observation: Observation, now: datetime) -> SyncResult:
    if request.finalizing:
        return finalize(observation)
    previous = observation.status
    finished = previous.phase in TERMINAL_FLOW_PHASES and bool(previous.completion_time)
    if finished and observation.rerun_requested is None:
        return _finished(observation)
    spec, problems = read_spec(observation)
    if spec is None:
        return _invalid(observation, problems, now)
    return _run(observation, spec, now)


def finalize(observation: Observation) -> SyncResult:
    """Deletion: running Jobs go first, then everything else; done when nothing is left."""
    running = {job.name for job in observation.jobs.values() if job.outcome is JobOutcome.ACTIVE}
    keep: list[Desired] = []
    if running:
        keep = [
            reemit(c) for c in observation.children if not (c.kind == "Job" and c.name in running)
        ]
    response = _response(
        observation, status_document(observation.status), keep, finalized=not observation.children
    )
    return SyncResult(response)


def _finished(observation: Observation) -> SyncResult:
    """A finished flow is quiescent: same status, children kept for their logs, no resync.

    Only a flow terminated, or ended for its size, may still have running Jobs (their
    deletion not seen yet): they stay deleted."""
    deleted: frozenset[str] = frozenset()
    if observation.status.reason in _ENDED_EARLY:
        deleted = observation.active_jobs
    status = status_document(observation.status)
    kept = _kept(observation, deleted)
    return SyncResult(_response(observation, status, kept, deleted=deleted))


def _invalid(observation: Observation, problems: list[Problem], now: datetime) -> SyncResult:
    """Explain the problems and touch nothing: every observed child is re-emitted unchanged."""
    previous = observation.status
    count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
    message = f"{count} in the spec; see condition InvalidSpec"
    flow = FlowState(
        phase=FlowPhase.FAILED,
        reason=FlowReason.INVALID_SPEC,
        message=message,
        steps=list(previous.steps),
        start_time=parse_time_or(previous.start_time, now) if previous.start_time else None,
        completion_time=None,
        rerun=previous.rerun,
    )
    status = flow_status(
        previous, flow, generation=observation.flow.generation, problems=problems, now=now
    )
    return SyncResult(
        _response(observation, status_document(status), _kept(observation)),
        flow_transition=_transition(previous, status),
    )


def _run(observation: Observation, spec: JobFlowSpec, now: datetime) -> SyncResult:
    decided = plan(observation, spec, now)
    flow = observation.flow
    rendered = [
        *render_resources(flow, spec),
        *(render_items(flow, job) for job in decided.jobs_to_create if job.items is not None),
        *(render_job(flow, spec, job, observation.suspended) for job in decided.jobs_to_create),
    ]
    emitted = {(body["kind"], body["metadata"]["name"]) for body in rendered}
    emitted |= {("Job", name) for name in decided.deleted_jobs}
    children: list[Desired] = [*rendered]
    suspends = _desired_suspends(observation)
    for observed in observation.children:
        if (observed.kind, observed.name) not in emitted:
            suspend = suspends.get(observed.name) if observed.kind == "Job" else None
            children.append(reemit(observed, suspend))
    status = flow_status(
        observation.status, decided.flow, generation=flow.generation, problems=[], now=now
    )
    room = room_for_status(len(observation.spec_json), observation.annotations)
    document = fitted(status, room)
    if document is None:
        return _too_large(observation, status, room, now)
    resync = seconds_until(decided.due, now, MAX_SECONDS) if decided.due is not None else None
    answer = _response(observation, document, children, resync, deleted=decided.deleted_jobs)
    return SyncResult(
        answer,
        jobs_created=decided.attempts_started,
        step_transitions=_step_transitions(observation.status, status),
        flow_transition=_transition(observation.status, status),
    )


def _too_large(
    observation: Observation, status: JobFlowStatus, room: int, now: datetime
) -> SyncResult:
    """Status would not fit in the object even compacted: the flow fails, its running Jobs
    are deleted (as a terminate would), and the steps keep only their phases."""
    message = short(
        f"status would take {status_bytes(status) // 1024} KiB where {room // 1024} KiB are "
        "left next to the spec and annotations (outputs and failed attempts take the most); "
        "running Jobs deleted"
    )
    steps = [_ended(step, now) for step in status.steps]
    flow = FlowState(
        phase=FlowPhase.FAILED,
        reason=FlowReason.STATUS_TOO_LARGE,
        message=message,
        steps=steps,
        start_time=parse_time_or(status.start_time, now) if status.start_time else now,
        completion_time=now,
        rerun=status.rerun,
    )
    ended = flow_status(
        observation.status, flow, generation=observation.flow.generation, problems=[], now=now
    )
    deleted = observation.active_jobs
    children = _kept(observation, deleted)
    return SyncResult(
        _response(observation, status_document(ended), children, deleted=deleted),
        flow_transition=_transition(observation.status, ended),
    )


def _ended(step: StepStatus, now: datetime) -> StepStatus:
    """A step as a flow that ends for its size leaves it: name, phase, reason, attempt."""
    if step.phase is StepPhase.RUNNING:
        step = failed(step, StepReason.STATUS_TOO_LARGE, "", now)
    elif step.phase is StepPhase.PENDING:
        step = skipped(step, StepReason.STATUS_TOO_LARGE, "", now)
    return StepStatus(name=step.name, phase=step.phase, reason=step.reason, attempt=step.attempt)


def _kept(observation: Observation, deleted: frozenset[str] = frozenset()) -> list[Desired]:
    return [
        reemit(child)
        for child in observation.children
        if not (child.kind == "Job" and child.name in deleted)
    ]


def _response(
    observation: Observation,
    status: dict[str, Any],
    children: list[Desired],
    resync: float | None = None,
    finalized: bool | None = None,
    *,
    deleted: frozenset[str] = frozenset(),
) -> HookResponse:
    """The answer, once the guard has checked its children."""
    finalizing = finalized is not None
    check_answer(observation, children, finalizing=finalizing, deleted_jobs=deleted)
    return HookResponse(
        status=status,
        children=children,
        resyncAfterSeconds=resync,
        finalized=finalized,
    )


def _desired_suspends(observation: Observation) -> dict[str, bool]:
    """``spec.suspend`` the re-emitted Jobs to toggle should have, by name; the others keep
    it as last applied.

    Only running Jobs of steps are toggled, never those Kueue queues: Kueue owns theirs.
    """
    running = [
        job
        for job in observation.jobs_by_name.values()
        if job.outcome is JobOutcome.ACTIVE and not job.queued_by_kueue
    ]
    if observation.suspended:
        return {job.name: True for job in running}
    return {job.name: False for job in running if job.suspended}


def _transition(previous: JobFlowStatus, current: JobFlowStatus) -> str | None:
    return current.phase.value if current.phase != previous.phase else None


def _step_transitions(previous: JobFlowStatus, current: JobFlowStatus) -> Counter[str]:
    # A step that is the very entry read (the planner returns an unchanged step as it is)
    # kept its phase: only the others are compared.
    read = set(map(id, previous.steps))
    kept = map(read.__contains__, map(id, current.steps))
    moved = list(compress(current.steps, map(not_, kept)))
    if not moved:
        return Counter()
    before = dict(zip(map(_name, previous.steps), map(_phase, previous.steps), strict=True))
    return Counter(s.phase.value for s in moved if before.get(s.name, StepPhase.PENDING) != s.phase)


_name = attrgetter("name")
_phase = attrgetter("phase")
