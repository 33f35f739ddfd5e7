"""A run of a JobFlow on a virtual clock, through the very same sync as the hook server.

The clock jumps from one event to the next (a Job finishing, the hook's
``resyncAfterSeconds``, a suspend or resume), and after every event the hook is called again
until its answer stops changing anything, as Metacontroller calls it after every change to
the flow or its children.

Pure: nothing is printed. ``simulate`` returns the timeline and the final status, and tells
``events`` of each line of the timeline as it happens.

Requests and answers go as bytes: the fake Metacontroller keeps its objects encoded, the
flow's status is kept as the bytes answered, and the timeline decodes only the step entries
whose bytes changed, so a run costs little more than the hook's own syncs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from zen_flow.api.labels import ANNOTATION_SUSPENDED
from zen_flow.api.spec import JobFlowSpec
from zen_flow.spec.validation import parse_spec
from zen_flow.tools.sim.jobs import FakeJobController, JobRun
from zen_flow.tools.sim.metacontroller import ApplyError, Change, FakeMetacontroller
from zen_flow.tools.sim.scenario import (
    Annotation,
    Outcome,
    Scenario,
    SimulationError,
    check_scenario,
)
from zen_flow.tools.sim.timeline import Event, EventKind, StatusView, Timeline
from zen_flow.tools.sim.transports import Transport, in_process

START = datetime(2025, 1, 1, tzinfo=UTC)
"""Where the virtual clock starts: fixed, so the same scenario prints the same timeline."""

MAX_SYNCS_PER_INSTANT = 50
MAX_SYNCS = 200_000


class StopReason(StrEnum):
    FINISHED = "finished"  # the flow Succeeded or Failed
    MAX_TIME = "max-time"  # the next event is later than Scenario.max_time
    IDLE = "idle"  # nothing more will happen: suspended for good, or a Job that never ends


@dataclass(frozen=True)
class Simulation:
    """The outcome of a run: the timeline, the flow's last status, and why it stopped."""

    events: list[Event]
    status: dict[str, Any]
    stop: StopReason
    elapsed: float
    syncs: int

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", "Pending"))


@dataclass(frozen=True)
class Tick:
    """Progress of a long run, reported after every instant."""

    elapsed: float
    completed_steps: int
    total_steps: int
    syncs: int
    events: int


def _user_actions(scenario: Scenario) -> list[Annotation]:
    actions = list(scenario.annotations)
    if scenario.suspend_at is not None:
        actions.append(Annotation(scenario.suspend_at, ANNOTATION_SUSPENDED, "true"))
    if scenario.resume_at is not None:
        actions.append(Annotation(scenario.resume_at, ANNOTATION_SUSPENDED, None))
    return actions


def simulate(
    flow: Mapping[str, Any],
    scenario: Scenario,
    transport: Transport = in_process,
    progress: Callable[[Tick], None] | None = None,
    events: Callable[[Event], None] | None = None,
) -> Simulation:
    """Run ``flow`` (a JobFlow object) until it finishes, idles or reaches ``max_time``.

    ``progress`` hears after every instant of the virtual clock, ``events`` of every event
    as it is added to the timeline.

    ``InvalidSpecError`` when the flow is not valid; ``SimulationError`` when the scenario
    names steps the flow does not have or an answer of the hook would be rejected.
    """
    spec = parse_spec(flow.get("spec"))
    check_scenario(spec, scenario)
    return _Run(flow, spec, scenario, transport, progress, events).run()


class _Run:
    def __init__(
        self,
        flow: Mapping[str, Any],
        spec: JobFlowSpec,
        scenario: Scenario,
        transport: Transport,
        progress: Callable[[Tick], None] | None,
        events: Callable[[Event], None] | None,
    ) -> None:
        # The run edits only the metadata (annotations); the rest is encoded, never edited.
        fresh = {key: value for key, value in flow.items() if key != "status"}
        fresh["metadata"] = copy.deepcopy(dict(flow.get("metadata") or {}))
        self.cluster = FakeMetacontroller(flow=fresh, now=START)
        self.cluster.take_back()
        self.jobs = FakeJobController(self.cluster, scenario, {s.name: s for s in spec.all_steps})
        self.spec = spec
        self.scenario = scenario
        self.transport = transport
        self.progress = progress
        limits = {s.name: s.retry_policy.limit if s.retry_policy else 0 for s in spec.all_steps}
        self.timeline = Timeline(START, limits, listener=events)
        self._view: tuple[bytes | None, StatusView] = (None, StatusView())
        self.syncs = 0
        self.resync_at: datetime | None = None
        # What the user does, in time order (suspend and resume are annotations too).
        self.pending = sorted(_user_actions(scenario), key=lambda action: action.at)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> Simulation:
        limit = START + timedelta(seconds=self.scenario.max_time)
        self._settle()
        while True:
            if self._finished() and not self.pending:
                return self._result(StopReason.FINISHED)
            upcoming = self._next_instant()
            if upcoming is None:
                return self._result(StopReason.IDLE)
            if upcoming > limit:
                self.cluster.now = limit
                return self._result(StopReason.MAX_TIME)
            self.cluster.now = upcoming
            self._happen()
            self._settle()

    def _status(self) -> StatusView:
        """The flow's status as last answered, decoded once."""
        raw = self.cluster.status_bytes
        if raw is not self._view[0]:
            self._view = (raw, StatusView.of(raw))
        return self._view[1]

    def _finished(self) -> bool:
        status = self._status()
        return status.phase in ("Succeeded", "Failed") and bool(status.completion_time)

    def _next_instant(self) -> datetime | None:
        candidates = [self.resync_at] if self.resync_at is not None else []
        finish = self.jobs.next_finish()
        if finish is not None:
            candidates.append(finish)
        if self.pending:
            candidates.append(self._instant(self.pending[0].at))
        return min(candidates) if candidates else None

    def _happen(self) -> None:
        """Everything due at the current instant, before the hook hears about it."""
        now = self.cluster.now
        if self.resync_at is not None and self.resync_at <= now:
            self.resync_at = None
        while self.pending and self._instant(self.pending[0].at) <= now:
            self._annotate(self.pending.pop(0))
        for run, succeeded, reason in self.jobs.finish_due():
            where = f"(step {run.step}, attempt {run.attempt})"
            if succeeded:
                self._event(EventKind.JOB_SUCCEEDED, f"Job {run.name} succeeded {where}", run.step)
            else:
                text = f"Job {run.name} failed: {reason} {where}"
                self._event(EventKind.JOB_FAILED, text, run.step)

    def _settle(self) -> None:
        """Call the hook until an answer changes nothing (no child, no status change)."""
        for _ in range(MAX_SYNCS_PER_INSTANT):
            if self.syncs >= MAX_SYNCS:
                raise SimulationError(f"more than {MAX_SYNCS} syncs: the run does not end")
            before = self._status()
            before_bytes = self.cluster.status_bytes
            suspends = {name: self.jobs.suspended(name) for name in self.jobs.runs}
            answer = self.transport.exchange(self.cluster.request_bytes(), self.cluster.now, False)
            try:
                changes = self.cluster.apply_bytes(answer)
            except ApplyError as error:
                raise SimulationError(
                    f"at {self._offset():g}s the hook's answer would be rejected: {error}"
                ) from error
            self.syncs += 1
            after = self._status()
            self.timeline.steps(self.cluster.now, before, after)
            self._record_changes(changes, suspends)
            self.timeline.flow(self.cluster.now, before, after)
            if not changes and self.cluster.status_bytes == before_bytes:
                break
        else:
            raise SimulationError(
                f"at {self._offset():g}s the hook's answers keep changing the flow "
                f"after {MAX_SYNCS_PER_INSTANT} syncs"
            )
        resync = self.cluster.resync_after
        self.resync_at = (
            self.cluster.now + timedelta(seconds=resync) if resync is not None else None
        )
        if self.progress is not None:
            counts = self._status().progress
            self.progress(
                Tick(
                    elapsed=self._offset(),
                    completed_steps=int(counts.get("completedSteps", 0)),
                    total_steps=len(self.spec.all_steps),
                    syncs=self.syncs,
                    events=len(self.timeline.events),
                )
            )

    # -- what the hook's answers did --------------------------------------------------------

    def _record_changes(self, changes: list[Change], suspends: Mapping[str, bool]) -> None:
        for change in changes:
            if change.action == "created":
                self._created(change)
            elif change.action == "deleted":
                run = self.jobs.forget(change.name)
                step = run.step if run else None
                self._event(EventKind.CHILD_DELETED, f"{change.kind} {change.name} deleted", step)
            elif change.kind == "Job" and change.name in self.jobs.runs:
                suspend = self.jobs.suspended(change.name)
                if suspend != suspends.get(change.name, suspend):
                    self._toggle(self.jobs.runs[change.name], suspend)

    def _created(self, change: Change) -> None:
        if change.kind != "Job":
            self._event(EventKind.CHILD_CREATED, f"{change.kind} {change.name} created")
            return
        run = self.jobs.track(change.name)
        if run is None:
            self._event(EventKind.CHILD_CREATED, f"Job {change.name} created")
            return
        how = " suspended" if run.running_since is None else ""
        where = f"(step {run.step}, attempt {run.attempt})"
        self._event(EventKind.CHILD_CREATED, f"Job {run.name} created{how} {where}", run.step)
        if run.outcome is Outcome.TIMEOUT and run.deadline is None:
            self._event(
                EventKind.JOB_NEVER_ENDS,
                f"Job {run.name} has no activeDeadlineSeconds: its timeout never comes, "
                "it runs until the simulation stops",
                run.step,
            )

    def _toggle(self, run: JobRun, suspend: bool) -> None:
        self.jobs.toggle(run, suspend)
        where = f"(step {run.step}, attempt {run.attempt})"
        if suspend:
            self._event(EventKind.JOB_SUSPENDED, f"Job {run.name} suspended {where}", run.step)
        else:
            self._event(EventKind.JOB_RESUMED, f"Job {run.name} resumed {where}", run.step)

    # -- the user ---------------------------------------------------------------------------

    def _annotate(self, action: Annotation) -> None:
        key, value = action.key, action.value
        self.cluster.annotate(key, value)
        if key == ANNOTATION_SUSPENDED and value == "true":
            self._event(EventKind.FLOW_SUSPENDED, f'flow suspended ({key}="true")')
        elif key == ANNOTATION_SUSPENDED and value is None:
            self._event(EventKind.FLOW_RESUMED, f"flow resumed ({key} removed)")
        elif value is None:
            self._event(EventKind.FLOW_ANNOTATED, f"annotation {key} removed")
        else:
            self._event(EventKind.FLOW_ANNOTATED, f'annotation {key}="{value}" set')

    # -- time ------------------------------------------------------------------------------

    def _event(self, kind: EventKind, message: str, step: str | None = None) -> None:
        self.timeline.add(self.cluster.now, kind, message, step)

    def _offset(self) -> float:
        return (self.cluster.now - START).total_seconds()

    def _instant(self, seconds: float) -> datetime:
        return START + timedelta(seconds=seconds)

    def _result(self, stop: StopReason) -> Simulation:
        return Simulation(
            events=list(self.timeline.events),
            status=self.cluster.status,
            stop=stop,
            elapsed=self._offset(),
            syncs=self.syncs,
        )
