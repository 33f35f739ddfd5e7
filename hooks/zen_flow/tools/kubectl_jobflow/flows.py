"""A JobFlow as ``kubectl get -o json`` returns it, read tolerantly into what the plugin shows.

The plugin may be newer or older than the hooks that wrote the object, so it reads the JSON
field by field and never refuses an object: a field it does not know is ignored, a field
missing or of another type reads as empty. (The models in ``zen_flow.api`` are strict about
the spec, which is right for validation and wrong for display.)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from zen_flow.api.group import GROUP
from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import StepType
from zen_flow.api.status import TERMINAL_STEP_PHASES, FlowPhase, StepPhase
from zen_flow.api.times import parse_time

RESOURCE: Final = f"jobflows.{GROUP}"
_FINISHED = frozenset({FlowPhase.SUCCEEDED.value, FlowPhase.FAILED.value})
_TERMINAL = frozenset(phase.value for phase in TERMINAL_STEP_PHASES)
_DECIDED = _TERMINAL | {StepPhase.RUNNING.value}


@dataclass(frozen=True)
class StepView:
    """One step: what the spec declares and what status says of it ("" when unknown)."""

    name: str
    type: str
    dependencies: tuple[str, ...]
    when: str
    continue_on_failure: bool
    phase: str
    reason: str
    message: str
    attempt: int
    start_time: datetime | None
    completion_time: datetime | None
    next_retry_time: str
    items: str = ""  # a fan-out step's: "2/3 items done, failed indexes 1"
    final: bool = False  # a step of spec.finally

    @property
    def is_approval(self) -> bool:
        return self.type == StepType.APPROVAL

    @property
    def awaiting_approval(self) -> bool:
        return self.phase == StepPhase.PENDING.value and self.reason == StepReason.AWAITING_APPROVAL

    @property
    def decided(self) -> bool:
        """Past its gate: running or finished, so an approval changes nothing any more."""
        return self.phase in _DECIDED

    @property
    def backoff_wait(self) -> bool:
        return self.reason == StepReason.BACKOFF_WAIT.value


@dataclass(frozen=True)
class FlowView:
    """The flow: identity, phase, progress and its steps, spec order first."""

    name: str
    namespace: str
    created: datetime | None
    annotations: Mapping[str, str]
    phase: str
    reason: str
    message: str
    start_time: datetime | None
    completion_time: datetime | None
    progress: str
    rerun_token: str
    steps: tuple[StepView, ...]

    @property
    def finished(self) -> bool:
        return self.phase in _FINISHED

    def step(self, name: str) -> StepView | None:
        return next((step for step in self.steps if step.name == name), None)

    @property
    def awaiting_approval(self) -> list[str]:
        return [step.name for step in self.steps if step.awaiting_approval]


def flow_view(obj: Mapping[str, Any]) -> FlowView:
    """The flow in ``obj`` (a JobFlow as JSON)."""
    metadata, spec, status = _map(obj, "metadata"), _map(obj, "spec"), _map(obj, "status")
    declared = [
        (s, field == "finally")
        for field in ("steps", "finally")
        for s in _list(spec, field)
        if isinstance(s, Mapping) and _str(s, "name")
    ]
    observed = {_str(s, "name"): s for s in _list(status, "steps") if isinstance(s, Mapping)}
    names = [_str(s, "name") for s, _ in declared]
    steps = [_step(s, observed.get(_str(s, "name"), {}), final) for s, final in declared]
    steps += [_step({"name": name}, state) for name, state in observed.items() if name not in names]
    done = sum(step.phase in _TERMINAL for step in steps)
    progress = _str(_map(status, "progress"), "summary") or f"{done}/{len(steps)}"
    annotations = {str(k): str(v) for k, v in _map(metadata, "annotations").items()}
    return FlowView(
        name=_str(metadata, "name"),
        namespace=_str(metadata, "namespace"),
        created=_time(metadata, "creationTimestamp"),
        annotations=annotations,
        phase=_str(status, "phase"),
        reason=_str(status, "reason"),
        message=_str(status, "message"),
        start_time=_time(status, "startTime"),
        completion_time=_time(status, "completionTime"),
        progress=progress,
        rerun_token=_str(_map(status, "rerun"), "token"),
        steps=tuple(steps),
    )


def _step(declared: Mapping[str, Any], state: Mapping[str, Any], final: bool = False) -> StepView:
    attempt = state.get("attempt")
    return StepView(
        name=_str(declared, "name"),
        type=_str(declared, "type") or StepType.JOB,
        dependencies=tuple(str(d) for d in _list(declared, "dependencies")),
        when=_str(declared, "when"),
        continue_on_failure=declared.get("continueOnFailure") is True,
        phase=_str(state, "phase"),
        reason=_str(state, "reason"),
        message=" ".join(_str(state, "message").split()),
        attempt=attempt if isinstance(attempt, int) and attempt > 0 else 0,
        start_time=_time(state, "startTime"),
        completion_time=_time(state, "completionTime"),
        next_retry_time=_str(state, "nextRetryTime"),
        items=_items(_map(state, "items")),
        final=final,
    )


def _items(items: Mapping[str, Any]) -> str:
    total, done = items.get("total"), items.get("succeeded")
    if not isinstance(total, int) or not isinstance(done, int):
        return ""
    failed = _str(items, "failedIndexes")
    text = f"{done}/{total} items done"
    return text + (f", failed indexes {failed}" if failed else "")


def new_token(now: datetime) -> str:
    """A rerun token no one used before, from the UTC time and chance: 20250101t120000z-3f9a2c."""
    return f"{now.astimezone(UTC):%Y%m%dt%H%M%Sz}-{secrets.token_hex(3)}"


def _map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _time(obj: Mapping[str, Any], key: str) -> datetime | None:
    try:
        return parse_time(_str(obj, key)) if _str(obj, key) else None
    except (ValueError, OverflowError):
        return None
