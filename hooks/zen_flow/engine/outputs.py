"""Step outputs, read from the termination messages of a step's succeeded pod.

A step's container writes a JSON object to ``/dev/termination-log`` (Kubernetes keeps at most
4 KiB of it per container); the hooks read the pods of the flow's steps through
Metacontroller's customize hook (``related``), and keep the declared keys in the step's
status, where they stay after the pod is gone. Only pods a step's own Job controls count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from zen_flow.api.labels import LABEL_ATTEMPT, LABEL_STEP
from zen_flow.engine.wire import PodView

MAX_OUTPUT_VALUE = 4096  # a termination message holds at most 4 KiB anyway
# How long after its Job completed a step waits for its pod to be observed (the caches of
# Jobs and pods lag each other) before its outputs count as unavailable.
OUTPUT_GRACE_SECONDS = 60


@dataclass(frozen=True)
class PodOutputs:
    """The outputs one succeeded pod of a step attempt wrote: every key of every container's
    JSON object (containers in name order; the first to write a key wins)."""

    pod: str
    values: Mapping[str, str]


def pod_outputs(
    pods: Iterable[PodView], jobs: Mapping[str, str]
) -> dict[tuple[str, int], PodOutputs]:
    """Outputs by (step, attempt), from succeeded pods controlled by one of ``jobs`` (Job name
    to uid); the pod with the lowest name wins where a Job has several."""
    found: dict[tuple[str, int], PodOutputs] = {}
    for pod in pods:
        key = _step_attempt(pod, jobs)
        if key is None or pod.status.phase != "Succeeded":
            continue
        if key in found and found[key].pod <= pod.metadata.name:
            continue
        found[key] = PodOutputs(pod.metadata.name, _values(pod))
    return found


def declared(outputs: PodOutputs, names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The declared outputs found, and the names missing or too long to keep."""
    values, missing = {}, []
    for name in names:
        value = outputs.values.get(name)
        if value is None or len(value) > MAX_OUTPUT_VALUE:
            missing.append(name)
        else:
            values[name] = value
    return values, missing


def _step_attempt(pod: PodView, jobs: Mapping[str, str]) -> tuple[str, int] | None:
    labels = pod.metadata.labels
    step, attempt = labels.get(LABEL_STEP), labels.get(LABEL_ATTEMPT, "")
    if not step or not attempt.isascii() or not attempt.isdigit():
        return None
    owned = any(
        ref.controller and ref.kind == "Job" and jobs.get(ref.name) == ref.uid
        for ref in pod.metadata.ownerReferences
    )
    return (step, int(attempt)) if owned else None


def _values(pod: PodView) -> dict[str, str]:
    values: dict[str, str] = {}
    for status in sorted(pod.status.containerStatuses, key=lambda s: s.name):
        terminated = status.state.terminated
        if terminated is None or not terminated.message.strip():
            continue
        try:
            written = msgspec.json.decode(terminated.message)
        except (msgspec.DecodeError, RecursionError):
            continue
        if isinstance(written, dict):
            for key, value in written.items():
                values.setdefault(str(key), _text(value))
    return values


def _text(value: Any) -> str:
    """A string as it is; any other JSON value as compact JSON."""
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()
