"""The JobFlow's status: phase, progress, steps and conditions, as the Job controller would;
read from the last answer's bytes (``read_status``) and written (``status_document``).

Conditions follow metav1.Condition: a ``lastTransitionTime`` moves only when the condition's
status changes, so an unchanged flow gets byte-identical status and no new sync.

Most steps of a large flow do not change from one sync to the next. Their entries are cached
by their exact bytes, with the validated ``StepStatus`` and its own encoding: reading one
validates nothing, and writing a step that did not change (the very object read) reuses the
encoding. The cache is bounded by ``STEP_CACHE_BYTES`` (estimated) and shared by the threads
of a worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, is_
from typing import Any

import msgspec
import pydantic

from zen_flow.api.reasons import ConditionType, FlowReason
from zen_flow.api.status import (
    Condition,
    ConditionStatus,
    FlowPhase,
    JobFlowStatus,
    Progress,
    RerunStatus,
    StepPhase,
    StepStatus,
)
from zen_flow.api.times import format_time
from zen_flow.engine.cache import Cache
from zen_flow.spec.validation import Problem

MAX_CONDITION_MESSAGE = 2048
# Cached step entries, within this many (estimated) bytes per process.
STEP_CACHE_BYTES = 16 * 1024 * 1024
# A cached entry (its bytes, the model, its encoding) holds 11.5 times the entry's bytes for
# a finished step of 156 bytes, 16.5 times for a pending one of 65, 5.9 times for one of 672
# with failed attempts (tracemalloc): the estimate stays above each.
STEP_ENTRY_BYTES = 1024
STEP_BYTES_PER_JSON_BYTE = 7

_phase = attrgetter("phase")

# Which condition is True in which phase.
_TRUE_IN_PHASE = {
    ConditionType.RUNNING: FlowPhase.RUNNING,
    ConditionType.COMPLETE: FlowPhase.SUCCEEDED,
    ConditionType.FAILED: FlowPhase.FAILED,
    ConditionType.SUSPENDED: FlowPhase.SUSPENDED,
}


def progress(steps: Sequence[StepStatus]) -> Progress:
    phases = Counter(map(_phase, steps))
    succeeded = phases[StepPhase.SUCCEEDED]
    failed = phases[StepPhase.FAILED]
    skipped = phases[StepPhase.SKIPPED]
    done = succeeded + failed + skipped
    return Progress(
        total_steps=len(steps),
        completed_steps=done,
        successful_steps=succeeded,
        failed_steps=failed,
        skipped_steps=skipped,
        summary=f"{done}/{len(steps)}",
    )


@dataclass(frozen=True)
class FlowState:
    """What a sync decided about the flow as a whole: the input of its status."""

    phase: FlowPhase
    reason: FlowReason
    message: str | None
    steps: list[StepStatus]
    start_time: datetime | None
    completion_time: datetime | None
    rerun: RerunStatus | None = None


def flow_status(
    previous: JobFlowStatus,
    flow: FlowState,
    *,
    generation: int,
    problems: Sequence[Problem],
    now: datetime,
) -> JobFlowStatus:
    """The new status, keeping condition transition times that did not change."""
    before = {c.type: c for c in previous.conditions}
    conditions = []
    for kind in ConditionType:
        if kind == ConditionType.INVALID_SPEC:
            true = bool(problems)
            detail = _problems_text(problems)
            why: str = FlowReason.INVALID_SPEC if problems else FlowReason.SPEC_VALID
        else:
            true = flow.phase is _TRUE_IN_PHASE[kind]
            detail = (flow.message or "") if true else ""
            why = flow.reason if true else flow.phase.value
        status = ConditionStatus.TRUE if true else ConditionStatus.FALSE
        conditions.append(
            Condition(
                type=kind,
                status=status,
                reason=why,
                message=detail[:MAX_CONDITION_MESSAGE],
                last_transition_time=_transition_time(before.get(kind), status, now),
                observed_generation=generation,
            )
        )
    return JobFlowStatus(
        phase=flow.phase,
        reason=flow.reason,
        message=flow.message,
        observed_generation=generation,
        start_time=format_time(flow.start_time) if flow.start_time else None,
        completion_time=format_time(flow.completion_time) if flow.completion_time else None,
        progress=progress(flow.steps),
        steps=flow.steps,
        conditions=conditions,
        rerun=flow.rerun,
    )


def status_document(status: JobFlowStatus) -> dict[str, Any]:
    """Status as written to the API: camelCase, empty fields left out; each step's entry as
    its JSON (``msgspec.Raw``)."""
    document = status.model_copy(update={"steps": []}).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["steps"] = _steps_json(status.steps)
    return document


def read_status(raw: bytes) -> JobFlowStatus:
    """The status an answer wrote; an unreadable one counts as none (and is rewritten).

    Read as pydantic reads the whole document, entry by entry: JSON that msgspec does not
    read (pydantic accepts ``NaN``, say) or a ``steps`` that is not a list is read whole."""
    if raw.strip() in (b"", b"null"):
        return JobFlowStatus()
    try:
        fields = _fields_decoder.decode(raw)
        entries = _entries_decoder.decode(fields.pop("steps", msgspec.Raw(b"[]")))
    except (msgspec.DecodeError, RecursionError):
        return _validated(raw) or JobFlowStatus()
    steps = _cached_steps(entries)
    rest = _validated(_encoder.encode(fields)) if steps is not None else None
    if rest is None or steps is None:
        return JobFlowStatus()
    return rest.model_copy(update={"steps": steps}) if steps else rest


def _validated(raw: bytes) -> JobFlowStatus | None:
    try:
        return JobFlowStatus.model_validate_json(raw, by_alias=True)
    except pydantic.ValidationError:
        return None


@dataclass(frozen=True, eq=False)  # compared by identity: cheap over thousands of entries
class _Step:
    """A step's entry as read: the model, the model's own encoding (usually the very bytes
    read), and the estimated bytes the cache holds for it."""

    step: StepStatus
    encoded: bytes
    size: int


_model_of = attrgetter("step")
_encoded_of = attrgetter("encoded")


def _step_size(entry: _Step) -> int:
    return entry.size


def _model(entry: _Step) -> int:
    return id(entry.step)


# Entries by their bytes, and by the identity of their model (to write a step read unchanged;
# the entry holds the model, so the identity is not reused while it is kept).
_steps: Cache[bytes, _Step] = Cache(STEP_CACHE_BYTES, _step_size, index=_model)
_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_entries_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()


def _cached_steps(entries: list[msgspec.Raw]) -> list[StepStatus] | None:
    """The steps of these entries, validated once per distinct entry; None if one is not
    a step."""
    keys = list(map(bytes, entries))
    known = _steps.get_many(keys)
    if None not in known:
        return list(map(_model_of, known))
    steps = []
    for key, entry in zip(keys, known, strict=True):
        if entry is None:
            try:
                step = StepStatus.model_validate_json(key, by_alias=True)
            except pydantic.ValidationError:
                return None
            dumped = _dumped(step)
            size = STEP_ENTRY_BYTES + STEP_BYTES_PER_JSON_BYTE * max(len(key), len(dumped))
            entry = _Step(step, key if dumped == key else dumped, size)
            _steps.put(key, entry)
        steps.append(entry.step)
    return steps


def _steps_json(steps: Sequence[StepStatus]) -> list[msgspec.Raw]:
    """The steps' entries: the encoding cached with a step read unchanged, else its own."""
    known = _steps.find_many(list(map(id, steps)))
    if None not in known and all(map(is_, map(_model_of, known), steps)):
        return list(map(msgspec.Raw, map(_encoded_of, known)))
    return [
        msgspec.Raw(entry.encoded if entry is not None and entry.step is step else _dumped(step))
        for step, entry in zip(steps, known, strict=True)
    ]


def _dumped(step: StepStatus) -> bytes:
    return _encoder.encode(step.model_dump(mode="json", by_alias=True, exclude_none=True))


def clear_cache() -> None:
    """Forget every cached step entry (for measurements)."""
    _steps.clear()


def cache_bytes() -> int:
    """The estimated bytes the cache of step entries holds now."""
    return _steps.bytes


def _transition_time(before: Condition | None, status: ConditionStatus, now: datetime) -> str:
    """The transition time moves only when the condition's status does."""
    if before is not None and before.status == status:
        return before.last_transition_time
    return format_time(now)


def _problems_text(problems: Sequence[Problem]) -> str:
    return "; ".join(str(p) for p in problems)
