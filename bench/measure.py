"""Timing of one sync request: the hook's pure path, the standard-library floor, the typed floor.

All three take the same request bytes and produce the same response bytes (or, for the
floor, the same JSON value), so their ratio is what the hook's logic costs on top of
reading and writing the wire format.
"""

from __future__ import annotations

import gc
import json
import math
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from bench.fixtures import Fixture
from zen_flow.engine import guard, status, wire
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response
from zen_flow.spec import validation, when


@dataclass(frozen=True)
class Stats:
    """Percentiles of a sample of durations, in seconds."""

    p50: float
    p99: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        ordered = sorted(samples)
        return cls(percentile(ordered, 50), percentile(ordered, 99), len(ordered))


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation (``ordered`` sorted, not empty)."""
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Budget:
    """How many times to repeat a measurement: at least ``least``, at most ``most``, and
    no more than fit in ``seconds`` (judged by the first run)."""

    seconds: float
    least: int = 3
    most: int = 200

    def repetitions(self, first: float) -> int:
        fit = int(self.seconds / max(first, 1e-6))
        return max(self.least, min(self.most, fit))


def repeat(call: Callable[[], float], budget: Budget) -> Stats:
    """Run ``call`` (which returns the seconds it measured) as often as the budget allows.

    A warm-up run first (imports, caches, first allocations), not counted.
    """
    call()
    samples = [call()]
    for _ in range(budget.repetitions(samples[0]) - 1):
        samples.append(call())
    return Stats.of(samples)


def repeat_together(calls: Sequence[Callable[[], float]], budget: Budget) -> list[Stats]:
    """Run ``calls`` in turn, round after round, as often as the budget allows for a round:
    whatever else the machine does then weighs on each alike, so their ratios hold.

    A warm-up round first, not counted.
    """
    for call in calls:
        call()
    samples: list[list[float]] = [[call()] for call in calls]
    rounds = budget.repetitions(sum(first for (first,) in samples))
    for _ in range(rounds - 1):
        for sample, call in zip(samples, calls, strict=True):
            sample.append(call())
    return [Stats.of(sample) for sample in samples]


def forget_flows() -> None:
    """Empty every cache of the hook process (validated specs, compiled ``when``
    expressions, decoded children, status entries, identities read), so that the next sync
    is a new worker's first sync of the flow."""
    validation.clear_cache()
    when.clear_caches()
    wire.clear_cache()
    status.clear_cache()
    guard.clear_cache()


def pure_path(fixture: Fixture, cold: bool = False) -> Callable[[], float]:
    """Bytes to bytes: decode_request + sync + encode_response, as a worker runs it.

    Warm: an earlier sync of the same request filled the worker's caches, as every sync of
    a flow but its first in that worker finds them. Cold: nothing is cached; the spec is
    parsed and validated, every child decoded.
    """

    def call() -> float:
        if cold:
            forget_flows()
        started = time.perf_counter()
        encode_response(sync(decode_request(fixture.body), fixture.now).response)
        return time.perf_counter() - started

    return call


def response_of(fixture: Fixture) -> bytes:
    return encode_response(sync(decode_request(fixture.body), fixture.now).response)


def floor(fixture: Fixture) -> Callable[[], float]:
    """The standard library reading the request and writing the response: json.loads +
    json.dumps, nothing else. What any Python hook pays before doing anything."""
    answer: Any = json.loads(response_of(fixture))

    def call() -> float:
        started = time.perf_counter()
        json.loads(fixture.body)
        json.dumps(answer, separators=(",", ":"))
        return time.perf_counter() - started

    return call


def typed_floor(fixture: Fixture) -> Callable[[], float]:
    """msgspec decoding only the fields the hook reads (the wire structs) and encoding the
    very response the hook gives: the I/O cost the hook cannot go below."""
    answer = sync(decode_request(fixture.body), fixture.now).response

    def call() -> float:
        started = time.perf_counter()
        decode_request(fixture.body)
        encode_response(answer)
        return time.perf_counter() - started

    return call


def status_of(fixture: Fixture) -> dict[str, Any]:
    """The ``.status`` the hook writes for this request."""
    status: dict[str, Any] = msgspec.json.decode(response_of(fixture))["status"]
    return status


def compact_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON, as the API server stores it."""
    return len(json.dumps(value, separators=(",", ":")).encode())


class _Spec(msgspec.Struct):
    spec: msgspec.Raw


class _ParentOnly(msgspec.Struct):
    parent: msgspec.Raw


def parent_bytes(fixture: Fixture) -> int:
    """Bytes of the JobFlow object itself (metadata, spec, status) in the request."""
    return len(msgspec.json.decode(fixture.body, type=_ParentOnly).parent)


def spec_json(fixture: Fixture) -> bytes:
    """The JobFlow's spec as it is in the request."""
    parent = msgspec.json.decode(fixture.body, type=_ParentOnly).parent
    return bytes(msgspec.json.decode(parent, type=_Spec).spec)


def retained_spec_bytes(fixture: Fixture) -> int:
    """Memory a validated spec holds (what one entry of the worker's spec cache costs)."""
    data = spec_json(fixture)
    gc.collect()
    tracemalloc.start()
    try:
        spec = validation.parse_spec(json.loads(data))
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del spec
    return retained


def with_gc_threshold(threshold: int, call: Callable[[], float]) -> Callable[[], float]:
    """``call`` with the collector's first-generation threshold raised for its duration."""

    def wrapped() -> float:
        saved = gc.get_threshold()
        gc.set_threshold(threshold, *saved[1:])
        try:
            return call()
        finally:
            gc.set_threshold(*saved)

    return wrapped


def fitted_exponent(points: Sequence[tuple[float, float]]) -> float:
    """The slope of a least-squares line through (log x, log y): y grows as x to this power."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return float("nan")
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
