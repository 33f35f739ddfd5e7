"""A run of a JobFlow on a virtual clock, through the very same sync as the hook server.

``simulator.FakeCluster`` plays Metacontroller (it builds requests, applies answers) and
this module plays the Job controller and the user: each Job runs for its step's duration
and then finishes with the next scripted outcome for its step; the flow is suspended and
resumed at given instants. The clock jumps from one event to the next (a Job finishing,
the hook's ``resyncAfterSeconds``, a suspend or resume), and after every event the hook is
called again until its answer stops changing anything, as Metacontroller calls it after
every change to the flow or its children.

Pure: nothing is printed. ``simulate`` returns the timeline and the final status.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from zen_flow.api.labels import ANNOTATION_SUSPENDED, LABEL_ATTEMPT, LABEL_STEP
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.times import format_time, parse_time_or
from zen_flow.spec.validation import parse_spec
from zen_flow.tools.simulator import ApplyError, Change, FakeCluster, Transport, in_process

START = datetime(2025, 1, 1, tzinfo=UTC)
"""Where the virtual clock starts: fixed, so the same scenario prints the same timeline."""

MAX_SYNCS_PER_INSTANT = 50
MAX_SYNCS = 200_000
DEADLINE_EXCEEDED = "DeadlineExceeded"
FAILED_REASON = "BackoffLimitExceeded"


class Outcome(StrEnum):
    """How a Job ends: Complete, Failed, or Failed by its activeDeadlineSeconds."""

    SUCCEED = "succeed"
    FAIL = "fail"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Scenario:
    """What happens around the flow. Times are seconds from the start."""

    outcomes: Mapping[str, Sequence[Outcome]] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    default_duration: float = 10.0
    suspend_at: float | None = None
    resume_at: float | None = None
    max_time: float = 24 * 3600.0

    def outcome(self, step: str, attempt: int) -> Outcome:
        """Attempt n gets the n-th scripted outcome of its step; unscripted ones succeed."""
        scripted = self.outcomes.get(step, ())
        return scripted[attempt - 1] if attempt <= len(scripted) else Outcome.SUCCEED

    def duration(self, step: str) -> float:
        return self.durations.get(step, self.default_duration)


class EventKind(StrEnum):
    CHILD_CREATED = "ChildCreated"
    CHILD_DELETED = "ChildDeleted"
    JOB_SUCCEEDED = "JobSucceeded"
    JOB_FAILED = "JobFailed"
    JOB_SUSPENDED = "JobSuspended"
    JOB_RESUMED = "JobResumed"
    JOB_NEVER_ENDS = "JobNeverEnds"
    STEP_PHASE = "StepPhase"
    RETRY_SCHEDULED = "RetryScheduled"
    FLOW_PHASE = "FlowPhase"
    FLOW_SUSPENDED = "FlowSuspended"
    FLOW_RESUMED = "FlowResumed"


@dataclass(frozen=True)
class Event:
    """One line of the timeline; ``at`` is seconds from the start."""

    at: float
    kind: EventKind
    message: str
    step: str | None = None


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


class SimulationError(Exception):
    """The scenario does not fit the flow, or the hook's answers would not be applied."""


def simulate(
    flow: Mapping[str, Any],
    scenario: Scenario,
    transport: Transport = in_process,
    progress: Callable[[Tick], None] | None = None,
) -> Simulation:
    """Run ``flow`` (a JobFlow object) until it finishes, idles or reaches ``max_time``.

    ``InvalidSpecError`` when the flow is not valid; ``SimulationError`` when the scenario
    names steps the flow does not have or an answer of the hook would be rejected.
    """
    spec = parse_spec(flow.get("spec"))
    check_scenario(spec, scenario)
    return _Run(flow, spec, scenario, transport, progress).run()


def check_scenario(spec: JobFlowSpec, scenario: Scenario) -> None:
    """``SimulationError`` for an unknown step name or an impossible time."""
    names = [step.name for step in spec.steps]
    for option, steps in (("--outcome", scenario.outcomes), ("--duration", scenario.durations)):
        for step in steps:
            if step not in names:
                raise SimulationError(
                    f'{option}: unknown step "{step}" (steps: {", ".join(names)})'
                )
    for step, seconds in scenario.durations.items():
        if seconds <= 0:
            raise SimulationError(f'--duration: step "{step}" must run for more than 0s')
    if scenario.default_duration <= 0:
        raise SimulationError("--default-duration must be more than 0s")
    if scenario.resume_at is not None:
        if scenario.suspend_at is None:
            raise SimulationError("--resume-at needs --suspend-at")
        if scenario.resume_at <= scenario.suspend_at:
            raise SimulationError("--resume-at must be later than --suspend-at")


@dataclass
class _Job:
    """The Job controller's view of one Job: when its pods (re)started and how it ends."""

    name: str
    step: str
    attempt: int
    outcome: Outcome
    duration: float
    deadline: float | None
    running_since: datetime | None  # None while suspended

    def finish(self) -> tuple[datetime, bool, str] | None:
        """When it finishes, whether it succeeds, and the reason; None if it never does."""
        if self.running_since is None:
            return None
        if self.deadline is not None and (
            self.outcome is Outcome.TIMEOUT or self.duration > self.deadline
        ):
            return self.running_since + timedelta(seconds=self.deadline), False, DEADLINE_EXCEEDED
        if self.outcome is Outcome.TIMEOUT:
            return None
        at = self.running_since + timedelta(seconds=self.duration)
        succeeded = self.outcome is Outcome.SUCCEED
        return at, succeeded, "" if succeeded else FAILED_REASON


class _Run:
    def __init__(
        self,
        flow: Mapping[str, Any],
        spec: JobFlowSpec,
        scenario: Scenario,
        transport: Transport,
        progress: Callable[[Tick], None] | None,
    ) -> None:
        fresh = copy.deepcopy(dict(flow))
        fresh.pop("status", None)
        self.cluster = FakeCluster(flow=fresh, now=START)
        self.spec = spec
        self.scenario = scenario
        self.transport = transport
        self.progress = progress
        self.jobs: dict[str, _Job] = {}
        self.events: list[Event] = []
        self.syncs = 0
        self.resync_at: datetime | None = None
        self.suspended = False
        self.resumed = False
        self.limits = {
            step.name: step.retry_policy.limit if step.retry_policy else 0 for step in spec.steps
        }

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> Simulation:
        limit = START + timedelta(seconds=self.scenario.max_time)
        self._settle()
        while True:
            if self._finished():
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

    def _finished(self) -> bool:
        status = self.cluster.status
        return status.get("phase") in ("Succeeded", "Failed") and bool(status.get("completionTime"))

    def _next_instant(self) -> datetime | None:
        candidates = [self.resync_at] if self.resync_at is not None else []
        for job in self.jobs.values():
            ending = job.finish()
            if ending is not None:
                candidates.append(ending[0])
        if self.scenario.suspend_at is not None and not self.suspended:
            candidates.append(self._instant(self.scenario.suspend_at))
        if self.scenario.resume_at is not None and not self.resumed:
            candidates.append(self._instant(self.scenario.resume_at))
        return min(candidates) if candidates else None

    def _happen(self) -> None:
        """Everything due at the current instant, before the hook hears about it."""
        now = self.cluster.now
        if self.resync_at is not None and self.resync_at <= now:
            self.resync_at = None
        suspend_at, resume_at = self.scenario.suspend_at, self.scenario.resume_at
        if suspend_at is not None and not self.suspended and self._instant(suspend_at) <= now:
            self.suspended = True
            self._set_suspended(True)
        if resume_at is not None and not self.resumed and self._instant(resume_at) <= now:
            self.resumed = True
            self._set_suspended(False)
        due = []
        for job in self.jobs.values():
            ending = job.finish()
            if ending is not None and ending[0] <= now:
                due.append((ending[0], job.name, job, ending))
        for _, _, job, (_, succeeded, reason) in sorted(due, key=lambda item: item[:2]):
            self._finish(job, succeeded, reason)

    def _settle(self) -> None:
        """Call the hook until an answer changes nothing (no child, no status change)."""
        for _ in range(MAX_SYNCS_PER_INSTANT):
            if self.syncs >= MAX_SYNCS:
                raise SimulationError(f"more than {MAX_SYNCS} syncs: the run does not end")
            before = self.cluster.status
            suspends = {name: self._suspend_of(name) for name in self.jobs}
            response = self.transport(self.cluster.request(), self.cluster.now, False)
            try:
                changes = self.cluster.apply(response)
            except ApplyError as error:
                raise SimulationError(
                    f"at {self._offset():g}s the hook's answer would be rejected: {error}"
                ) from error
            self.syncs += 1
            after = self.cluster.status
            self._record_steps(before, after)
            self._record_changes(changes, suspends)
            self._record_flow(before, after)
            if not changes and after == before:
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
            counts = self.cluster.status.get("progress") or {}
            self.progress(
                Tick(
                    elapsed=self._offset(),
                    completed_steps=int(counts.get("completedSteps", 0)),
                    total_steps=len(self.spec.steps),
                    syncs=self.syncs,
                    events=len(self.events),
                )
            )

    # -- the Job controller ---------------------------------------------------------------

    def _finish(self, job: _Job, succeeded: bool, reason: str) -> None:
        self.cluster.finish_job(job.name, succeeded, reason)
        del self.jobs[job.name]
        where = f"(step {job.step}, attempt {job.attempt})"
        if succeeded:
            self._event(EventKind.JOB_SUCCEEDED, f"Job {job.name} succeeded {where}", job.step)
        else:
            self._event(EventKind.JOB_FAILED, f"Job {job.name} failed: {reason} {where}", job.step)

    def _track(self, name: str) -> _Job | None:
        obj = self.cluster.children[("Job", name)]
        labels = obj["metadata"].get("labels") or {}
        step, attempt_text = labels.get(LABEL_STEP), labels.get(LABEL_ATTEMPT, "")
        if step is None or not attempt_text.isdigit():
            return None
        attempt = int(attempt_text)
        suspended = bool(obj["spec"].get("suspend"))
        job = _Job(
            name=name,
            step=step,
            attempt=attempt,
            outcome=self.scenario.outcome(step, attempt),
            duration=self.scenario.duration(step),
            deadline=obj["spec"].get("activeDeadlineSeconds"),
            running_since=None if suspended else self.cluster.now,
        )
        self.jobs[name] = job
        return job

    def _suspend_of(self, name: str) -> bool:
        obj = self.cluster.children.get(("Job", name))
        return bool(obj and obj["spec"].get("suspend"))

    def _toggle(self, job: _Job, suspend: bool) -> None:
        """Suspending deletes the pods; resuming starts them again from the beginning and
        resets the Job's startTime, and with it the activeDeadlineSeconds timer."""
        obj = self.cluster.children[("Job", job.name)]
        status = obj.setdefault("status", {})
        at = format_time(self.cluster.now)
        condition = {
            "type": "Suspended",
            "status": "True" if suspend else "False",
            "reason": "JobSuspended" if suspend else "JobResumed",
            "message": "Job suspended" if suspend else "Job resumed",
            "lastTransitionTime": at,
        }
        others = [c for c in status.get("conditions", []) if c.get("type") != "Suspended"]
        status["conditions"] = [*others, condition]
        where = f"(step {job.step}, attempt {job.attempt})"
        if suspend:
            job.running_since = None
            self._event(EventKind.JOB_SUSPENDED, f"Job {job.name} suspended {where}", job.step)
        else:
            job.running_since = self.cluster.now
            status["startTime"] = at
            self._event(EventKind.JOB_RESUMED, f"Job {job.name} resumed {where}", job.step)

    # -- the user ---------------------------------------------------------------------------

    def _set_suspended(self, suspend: bool) -> None:
        annotations = self.cluster.flow["metadata"].setdefault("annotations", {})
        if suspend:
            annotations[ANNOTATION_SUSPENDED] = "true"
            self._event(EventKind.FLOW_SUSPENDED, f'flow suspended ({ANNOTATION_SUSPENDED}="true")')
        else:
            annotations.pop(ANNOTATION_SUSPENDED, None)
            self._event(EventKind.FLOW_RESUMED, f"flow resumed ({ANNOTATION_SUSPENDED} removed)")

    # -- the timeline ---------------------------------------------------------------------

    def _record_changes(self, changes: list[Change], suspends: Mapping[str, bool]) -> None:
        for change in changes:
            if change.action == "created":
                self._created(change)
            elif change.action == "deleted":
                job = self.jobs.pop(change.name, None)
                step = job.step if job else None
                self._event(EventKind.CHILD_DELETED, f"{change.kind} {change.name} deleted", step)
            elif change.kind == "Job" and change.name in self.jobs:
                job = self.jobs[change.name]
                suspend = self._suspend_of(change.name)
                if suspend != suspends.get(change.name, suspend):
                    self._toggle(job, suspend)

    def _created(self, change: Change) -> None:
        if change.kind != "Job":
            self._event(EventKind.CHILD_CREATED, f"{change.kind} {change.name} created")
            return
        job = self._track(change.name)
        if job is None:
            self._event(EventKind.CHILD_CREATED, f"Job {change.name} created")
            return
        how = " suspended" if job.running_since is None else ""
        where = f"(step {job.step}, attempt {job.attempt})"
        self._event(EventKind.CHILD_CREATED, f"Job {job.name} created{how} {where}", job.step)
        if job.outcome is Outcome.TIMEOUT and job.deadline is None:
            self._event(
                EventKind.JOB_NEVER_ENDS,
                f"Job {job.name} has no activeDeadlineSeconds: its timeout never comes, "
                "it runs until the simulation stops",
                job.step,
            )

    def _record_steps(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        old_steps = {s["name"]: s for s in before.get("steps") or []}
        for state in after.get("steps") or []:
            name = state["name"]
            old = old_steps.get(name, {})
            phase, old_phase = state.get("phase"), old.get("phase", "Pending")
            if phase != old_phase:
                detail = state.get("reason") or ""
                if phase in ("Failed", "Skipped") and state.get("message"):
                    detail += f": {state['message']}"
                text = f"step {name}: {old_phase} -> {phase}" + (f" ({detail})" if detail else "")
                self._event(EventKind.STEP_PHASE, text, name)
            retry_at = state.get("nextRetryTime")
            if (
                state.get("reason") == StepReason.BACKOFF_WAIT
                and retry_at
                and retry_at != old.get("nextRetryTime")
            ):
                self._event(EventKind.RETRY_SCHEDULED, self._retry_text(state), name)

    def _record_flow(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        phase, old_phase = after.get("phase", "Pending"), before.get("phase", "Pending")
        if phase != old_phase:
            reason = after.get("reason")
            text = f"flow {old_phase} -> {phase}" + (f" ({reason})" if reason else "")
            if phase == "Failed" and after.get("message"):
                text += f": {after['message']}"
            self._event(EventKind.FLOW_PHASE, text)

    def _retry_text(self, state: Mapping[str, Any]) -> str:
        retry = int(state.get("retryCount", 0))
        due = parse_time_or(state["nextRetryTime"], START)
        failures = state.get("failedAttempts") or []
        text = f"step {state['name']}: retry {retry} of {self.limits.get(state['name'], 0)}"
        if failures:
            failed_at = parse_time_or(failures[-1].get("finishTime"), due)
            text += f" in {_seconds(due - failed_at)}"
        return text + f" (at +{_seconds(due - START)})"

    def _event(self, kind: EventKind, message: str, step: str | None = None) -> None:
        self.events.append(Event(self._offset(), kind, message, step))

    # -- time ------------------------------------------------------------------------------

    def _offset(self) -> float:
        return (self.cluster.now - START).total_seconds()

    def _instant(self, seconds: float) -> datetime:
        return START + timedelta(seconds=seconds)

    def _result(self, stop: StopReason) -> Simulation:
        return Simulation(
            events=list(self.events),
            status=self.cluster.status,
            stop=stop,
            elapsed=self._offset(),
            syncs=self.syncs,
        )


def _seconds(delta: timedelta) -> str:
    return format_offset(delta.total_seconds())


def format_offset(seconds: float) -> str:
    """``45s``, ``1m30s``, ``2h0m5s``; fractions of a second are kept to the millisecond."""
    whole = int(seconds)
    fraction = round(seconds - whole, 3)
    if fraction >= 1:
        whole, fraction = whole + 1, 0.0
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    second_text = f"{secs + fraction:g}s" if fraction else f"{secs}s"
    if hours:
        return f"{hours}h{minutes}m{second_text}"
    if minutes:
        return f"{minutes}m{second_text}"
    return second_text
