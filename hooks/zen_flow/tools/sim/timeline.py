"""What happened in a simulated run, as events with their time from the start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from zen_flow.api.reasons import StepReason
from zen_flow.api.times import parse_time_or


class EventKind(StrEnum):
    CHILD_CREATED = "ChildCreated"
    CHILD_DELETED = "ChildDeleted"
    JOB_SUCCEEDED = "JobSucceeded"
    JOB_FAILED = "JobFailed"
    JOB_SUSPENDED = "JobSuspended"
    JOB_RESUMED = "JobResumed"
    JOB_NEVER_ENDS = "JobNeverEnds"
    STEP_PHASE = "StepPhase"
    STEP_WAITING = "StepWaiting"
    RETRY_SCHEDULED = "RetryScheduled"
    FLOW_PHASE = "FlowPhase"
    FLOW_SUSPENDED = "FlowSuspended"
    FLOW_RESUMED = "FlowResumed"
    FLOW_ANNOTATED = "FlowAnnotated"


@dataclass(frozen=True)
class Event:
    """One line of the timeline; ``at`` is seconds from the start."""

    at: float
    kind: EventKind
    message: str
    step: str | None = None


class _Status(msgspec.Struct, frozen=True):
    phase: str | None = "Pending"
    reason: str | None = None
    message: str | None = None
    completionTime: str | None = None
    progress: dict[str, Any] | None = None
    steps: list[msgspec.Raw] | None = None


@dataclass(frozen=True)
class StatusView:
    """What a run reads of a flow's status: the flow's phase, and each step's entry as the
    bytes the hook wrote (a step's entry is decoded only when it changed)."""

    phase: str | None = "Pending"
    reason: str | None = None
    message: str | None = None
    completion_time: str | None = None
    progress: Mapping[str, Any] = field(default_factory=dict)
    entries: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, raw: bytes | None) -> StatusView:
        """The view of status bytes; a status that is not an object counts as empty."""
        if raw is None:
            return cls()
        try:
            status = _status_decoder.decode(raw)
        except msgspec.DecodeError:
            return cls()
        return cls(
            phase=status.phase,
            reason=status.reason,
            message=status.message,
            completion_time=status.completionTime,
            progress=status.progress or {},
            entries=tuple(map(bytes, status.steps or ())),
        )


_status_decoder = msgspec.json.Decoder(_Status)


@dataclass
class Timeline:
    """The events of one run, and how to tell them from two statuses of the flow.

    ``listener``, when set, hears of each event as it is added."""

    start: datetime
    retry_limits: Mapping[str, int]
    events: list[Event] = field(default_factory=list)
    listener: Callable[[Event], None] | None = None

    def add(self, now: datetime, kind: EventKind, message: str, step: str | None = None) -> None:
        event = Event((now - self.start).total_seconds(), kind, message, step)
        self.events.append(event)
        if self.listener is not None:
            self.listener(event)

    def steps(self, now: datetime, before: StatusView, after: StatusView) -> None:
        """A line for each step that changed phase, and for each retry scheduled.

        Only entries whose bytes changed can have changed; step names are unique (the spec
        was validated), so a step's old entry is the one at its place, or the one of its
        name when the steps moved."""
        if after.entries == before.entries:
            return
        changed = set(after.entries).difference(before.entries)
        by_name: dict[str, Mapping[str, Any]] | None = None
        for index, entry in enumerate(after.entries):
            if entry not in changed:
                continue
            state = msgspec.json.decode(entry)
            old: Mapping[str, Any] | None = None
            if index < len(before.entries):
                old = msgspec.json.decode(before.entries[index])
                if old.get("name") != state["name"]:
                    old = None
            if old is None:
                if by_name is None:
                    by_name = {}
                    for earlier in before.entries:
                        decoded = msgspec.json.decode(earlier)
                        by_name[decoded["name"]] = decoded
                old = by_name.get(state["name"], {})
            self._step(now, state, old)

    def _step(self, now: datetime, state: Mapping[str, Any], old: Mapping[str, Any]) -> None:
        name = state["name"]
        phase, old_phase = state.get("phase"), old.get("phase", "Pending")
        if phase != old_phase:
            detail = state.get("reason") or ""
            if phase in ("Failed", "Skipped") and state.get("message"):
                detail += f": {state['message']}"
            text = f"step {name}: {old_phase} -> {phase}" + (f" ({detail})" if detail else "")
            self.add(now, EventKind.STEP_PHASE, text, name)
        awaiting = StepReason.AWAITING_APPROVAL
        if state.get("reason") == awaiting and old.get("reason") != awaiting:
            self.add(now, EventKind.STEP_WAITING, f"step {name}: {state.get('message')}", name)
        retry_at = state.get("nextRetryTime")
        if (
            state.get("reason") == StepReason.BACKOFF_WAIT
            and retry_at
            and retry_at != old.get("nextRetryTime")
        ):
            self.add(now, EventKind.RETRY_SCHEDULED, self._retry_text(state), name)

    def flow(self, now: datetime, before: StatusView, after: StatusView) -> None:
        """A line when the flow changed phase."""
        phase, old_phase = after.phase, before.phase
        if phase != old_phase:
            reason = after.reason
            text = f"flow {old_phase} -> {phase}" + (f" ({reason})" if reason else "")
            if phase == "Failed" and after.message:
                text += f": {after.message}"
            self.add(now, EventKind.FLOW_PHASE, text)

    def _retry_text(self, state: Mapping[str, Any]) -> str:
        retry = int(state.get("retryCount", 0))
        due = parse_time_or(state["nextRetryTime"], self.start)
        failures = state.get("failedAttempts") or []
        limit = self.retry_limits.get(state["name"], 0)
        text = f"step {state['name']}: retry {retry} of {limit}"
        if failures:
            failed_at = parse_time_or(failures[-1].get("finishTime"), due)
            text += f" in {_seconds(due - failed_at)}"
        return text + f" (at +{_seconds(due - self.start)})"


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
