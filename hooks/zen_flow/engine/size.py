"""A JobFlow is one object in etcd, spec and status together: at most 1.5 MiB.

Status grows with the steps, so a flow whose spec leaves too little room for the status of
its steps is refused before anything runs (``InvalidSpec``). A running step's entry takes
more (its Job's name), so steps start only while there is room for them running; the others
wait (``WaitingForStatusRoom``) until running steps finish. At run time, a status that
would not fit is compacted (the history of failed attempts is cut to each step's last, and
finished steps lose their messages); one that still would not fit fails the flow
(``StatusTooLarge``), its running Jobs deleted: a clear end rather than a flow whose status
Metacontroller can never write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zen_flow.api.naming import job_name_bound
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import TERMINAL_STEP_PHASES, JobFlowStatus, StepStatus
from zen_flow.engine.status import status_document
from zen_flow.engine.wire import encode
from zen_flow.spec.problems import Problem

# etcd's default --max-request-bytes: the largest object the API server can store.
MAX_OBJECT_BYTES = 1_572_864
# What an object takes besides its spec, status and annotations: name, uid, labels,
# managedFields (one field per atomic list of spec), finalizers; generously.
METADATA_BYTES = 16 * 1024
# What status takes besides its steps: phase, progress, conditions (with their messages).
FLOW_STATUS_BYTES = 8 * 1024
# A step's entry in status, besides its name: 130 to 150 bytes once finished (what most
# steps are, most of the time); some 80 more while it runs (its Job's name), some 150 more
# per failed attempt, and its outputs. A status that outgrows the estimate is compacted, or
# ends the flow with StatusTooLarge.
STEP_STATUS_BYTES = 150
# What a running step's entry takes beyond that: its jobRef, 36 bytes of JSON around the
# Job's name and namespace (counted as they are). The completionTime it has not got yet (40
# bytes) is not taken off: it is the margin for a retry's reason and time.
JOB_REF_BYTES = 36
ANNOTATION_LAST_APPLIED_CONFIGURATION = "kubectl.kubernetes.io/last-applied-configuration"


def room_for_status(spec_bytes: int, annotations: Mapping[str, str]) -> int:
    """The bytes status may take in an object with this spec and these annotations."""
    noted = sum(len(key) + len(value) + 6 for key, value in annotations.items())
    return MAX_OBJECT_BYTES - METADATA_BYTES - spec_bytes - noted


def steps_status_bytes(spec: JobFlowSpec) -> int:
    """What the status of the spec's steps is counted to take when none is running."""
    names = spec.all_step_names
    return FLOW_STATUS_BYTES + STEP_STATUS_BYTES * len(names) + sum(map(len, names))


def running_entry_bytes(flow: str, namespace: str, step: str) -> int:
    """What ``step``'s entry takes beyond ``steps_status_bytes`` while it runs."""
    return JOB_REF_BYTES + job_name_bound(flow, step) + len(namespace)


def size_problems(
    spec: JobFlowSpec, spec_bytes: int, annotations: Mapping[str, str]
) -> list[Problem]:
    """The flow's problem if its steps' status cannot fit next to its spec; else none."""
    steps = spec.all_step_names
    needed = steps_status_bytes(spec)
    room = room_for_status(spec_bytes, annotations)
    if needed <= room:
        return []
    applied = annotations.get(ANNOTATION_LAST_APPLIED_CONFIGURATION)
    copy = (
        f" ({_kib(len(applied))} of it a copy of the spec that kubectl apply keeps: "
        "kubectl apply --server-side or kubectl create keep none)"
        if applied
        else ""
    )
    noted = MAX_OBJECT_BYTES - METADATA_BYTES - spec_bytes - room
    message = (
        f"{len(steps)} steps need some {_kib(needed)} of status, and the spec takes "
        f"{_kib(spec_bytes)} and the annotations {_kib(noted)}{copy}: together more than "
        f"the {MAX_OBJECT_BYTES // 1024} KiB an object may have. Give repeated Job "
        "templates once in spec.templates, fan out with withItems, or split the flow"
    )
    return [Problem("spec.steps", message)]


def fitted(status: JobFlowStatus, room: int) -> dict[str, Any] | None:
    """The document of ``status`` if it fits in ``room`` bytes, else of ``status``
    compacted if that fits, else None."""
    document = status_document(status)
    if len(encode(document)) <= room:
        return document
    compact = status.model_copy(update={"steps": [_compacted(s) for s in status.steps]})
    document = status_document(compact)
    return document if len(encode(document)) <= room else None


def status_bytes(status: JobFlowStatus) -> int:
    return len(encode(status_document(status)))


def _compacted(step: StepStatus) -> StepStatus:
    """The step with only the last failed attempt (the one a retry decision reads), and
    without the message of a finished step."""
    changes: dict[str, object] = {}
    if len(step.failed_attempts) > 1:
        changes["failed_attempts"] = step.failed_attempts[-1:]
    if step.phase in TERMINAL_STEP_PHASES and step.message:
        changes["message"] = None
    return step.model_copy(update=changes) if changes else step


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB"
