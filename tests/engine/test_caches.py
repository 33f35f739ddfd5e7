"""The data path's caches: bounded by bytes, never changing an answer.

Each cache's estimate of what an entry holds must not be below what tracemalloc measures,
so that the bounds in OPERATOR_GUIDE.md hold; and what is read through a cache must be what
is read without it.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED
from zen_flow.api.status import JobFlowStatus
from zen_flow.engine import guard, wire
from zen_flow.engine import status as status_module
from zen_flow.engine.cache import Cache
from zen_flow.engine.observe import observe
from zen_flow.engine.status import read_status, status_document
from zen_flow.spec import validation
from zen_flow.spec.dag import topological_order
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import in_process


def measured(build: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = build()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert kept is not None
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


# --- the cache ---------------------------------------------------------------------------


def test_entries_used_stay_and_the_bound_holds() -> None:
    cache: Cache[int, str] = Cache(1000, size=len)
    for key in range(100):
        cache.put(key, "x" * 50)
        assert cache.get(0) is not None  # used every time: kept through every turnover
        assert cache.bytes <= 1000
    assert cache.get(1) is None  # used once, long ago: dropped
    assert cache.get_many([0, 99, 500]) == ["x" * 50, "x" * 50, None]


def test_the_least_recently_used_goes_first_and_a_too_large_entry_is_not_kept() -> None:
    cache: Cache[int, str] = Cache(100, size=len)
    cache.put(1, "a" * 40)
    cache.put(2, "b" * 40)
    cache.get(1)
    cache.put(3, "c" * 40)
    assert cache.get_many([1, 2, 3]) == ["a" * 40, None, "c" * 40]
    cache.put(4, "x" * 101)
    assert cache.get(4) is None
    assert cache.bytes == 80


def test_the_index_follows_the_entries() -> None:
    cache: Cache[int, str] = Cache(200, size=len, index=lambda value: value[:3])
    cache.put(1, "one" + "." * 60)
    assert cache.find_many(["one", "two"]) == ["one" + "." * 60, None]
    for key in range(2, 6):
        cache.put(key, f"k{key:02d}" + "." * 60)
    assert cache.find_many(["one"]) == [None]  # dropped with its entry
    cache.clear()
    assert cache.bytes == 0


# --- status entries ----------------------------------------------------------------------


def settled_status(*outcomes: bool) -> bytes:
    """The status of a flow whose steps finished with ``outcomes``, as the hook wrote it."""
    retry = {"limit": 2, "backoff": {"type": "Fixed", "duration": "10s"}}
    names = [f"s{i}" for i in range(len(outcomes))]
    cluster = FakeMetacontroller(
        jobflow("f", *[step(name, retryPolicy=retry) for name in names]), T0
    )
    cluster.call(in_process)
    for job, succeeded in zip(cluster.jobs(), outcomes, strict=True):
        finish_job(cluster, job["metadata"]["name"], succeeded=succeeded)
    cluster.call(in_process)
    status = cluster.status_bytes
    assert status is not None
    return status


def test_a_status_is_read_and_written_as_before() -> None:
    raw = settled_status(True, False, True)
    status = read_status(raw)
    assert status == JobFlowStatus.model_validate_json(raw, by_alias=True)
    written = msgspec.json.encode(status_document(status))
    assert written == msgspec.json.encode(
        status.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    assert read_status(raw).steps[0] is status.steps[0]  # the same entry: validated once


def mangled(raw: bytes, seed: int) -> bytes:
    """A status someone else wrote: fields dropped, changed, duplicated, or not JSON we read."""
    rng = random.Random(seed)
    document: dict[str, Any] = json.loads(raw)
    steps = document["steps"]
    choice = rng.randrange(9)
    if choice == 0:
        steps[rng.randrange(len(steps))]["phase"] = rng.choice(["Exploded", None, 3])
    elif choice == 1:
        del steps[rng.randrange(len(steps))]["name"]
    elif choice == 2:
        document["steps"] = rng.choice(["nope", None, {}, [1, 2]])
    elif choice == 3:
        document["phase"] = rng.choice(["Nope", 7, None])
    elif choice == 4:
        steps[0]["unknownField"] = {"deep": [1, 2, 3]}
    elif choice == 5:
        return raw[:-1] + b',"phase":"Failed"}'  # a duplicate key: the last one counts
    elif choice == 6:
        return raw[:-1] + b',"x":NaN}'  # pydantic reads NaN; msgspec does not
    elif choice == 7:
        return raw.replace(b'"steps":[', b'"steps" : [ ', 1)
    else:
        return rng.choice([b"[]", b'"status"', b"{", b"{}", b"  null "])
    return json.dumps(document).encode()


def reference(raw: bytes) -> JobFlowStatus:
    """How the status was read before entries were cached."""
    if raw.strip() in (b"", b"null"):
        return JobFlowStatus()
    try:
        return JobFlowStatus.model_validate_json(raw, by_alias=True)
    except Exception:
        return JobFlowStatus()


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_mangled_status_is_read_as_pydantic_reads_it(seed: int) -> None:
    raw = mangled(settled_status(True, False), seed)
    assert read_status(raw) == reference(raw)


@pytest.mark.parametrize("outcomes", [(True,), (False,), (True, False, True)])
def test_the_step_cache_counts_at_least_what_an_entry_holds(outcomes: tuple[bool, ...]) -> None:
    fields = msgspec.json.decode(settled_status(*outcomes), type=dict[str, msgspec.Raw])
    entries = msgspec.json.decode(fields["steps"], type=list[msgspec.Raw])
    distinct = [
        bytes(entry).replace(b'"name":"', b'"name":"%d-' % copy)
        for copy in range(300)
        for entry in entries
    ]
    status_module.clear_cache()
    actual = measured(lambda: status_module._cached_steps(list(map(msgspec.Raw, distinct))))
    assert status_module.cache_bytes() >= actual


# --- decoded children --------------------------------------------------------------------


def request_with(children: list[dict[str, Any]]) -> bytes:
    flow = jobflow("f", step("a"))
    return json.dumps(
        {
            "parent": flow,
            "children": {"Job.batch/v1": {f"team-a/{c['metadata']['name']}": c for c in children}},
        }
    ).encode()


def job(name: str, labels: int = 3, conditions: int = 1, text: str = "x") -> dict[str, Any]:
    applied = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": f"uid-{name}-{text}",
            "labels": {f"l{i}": f"v{i}" for i in range(labels)}
            | {"workflow.zen.io/step": "a", "workflow.zen.io/attempt": "1"},
            "annotations": {ANNOTATION_LAST_APPLIED: json.dumps(applied), "note": text},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
        "status": {
            "startTime": "2026-03-01T12:00:00Z",
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": f"r{i}"}
                for i in range(conditions)
            ],
        },
    }


@pytest.mark.parametrize(
    ("labels", "conditions", "text"),
    [(3, 1, "x"), (0, 0, ""), (400, 0, "x"), (0, 400, "x"), (3, 1, "\U0001f600" + "y" * 4000)],
)
def test_the_child_cache_counts_at_least_what_a_child_holds(
    labels: int, conditions: int, text: str
) -> None:
    body = request_with([job(f"j{i}", labels, conditions, text) for i in range(100)])

    def decoded_and_observed() -> object:
        observe(wire.decode_request(body))
        gc.collect()
        return True  # what is left is what the cache keeps

    wire.clear_cache()
    decoded_and_observed()  # msgspec's own first-use allocations out of the way
    wire.clear_cache()
    assert wire.cache_bytes() == 0
    actual = measured(decoded_and_observed)
    assert wire.cache_bytes() >= actual


def _every_object(value: object) -> int:
    """sys.getsizeof of ``value`` and of every object it reaches."""
    size = sys.getsizeof(value)
    if isinstance(value, msgspec.Struct):
        size += sum(_every_object(field) for field in msgspec.structs.astuple(value))
    elif isinstance(value, dict):
        size += sum(_every_object(key) + _every_object(item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        size += sum(_every_object(item) for item in value)
    return size


def test_the_child_count_reaches_every_object_of_a_child() -> None:
    body = job("j1", labels=20, conditions=5, text="\U0001f600" * 10)
    body["spec"] |= {"suspend": True, "completions": 4}
    body["status"] |= {"completionTime": "2026-03-01T12:01:00Z", "succeeded": 3}
    body["status"] |= {"failedIndexes": "1"}
    body["metadata"] |= {"generation": 2, "creationTimestamp": "2026-03-01T12:00:00Z"}
    body["metadata"] |= {"deletionTimestamp": "2026-03-01T12:02:00Z"}
    view = wire._child_decoder.decode(json.dumps(body).encode())
    assert wire._held(view) == _every_object(view)


def test_a_child_is_decoded_and_observed_once() -> None:
    body = request_with([job("j1"), job("j2")])
    first, second = observe(wire.decode_request(body)), observe(wire.decode_request(body))
    assert [c.child for c in first.children] == [c.child for c in second.children]
    assert first.children[0] is second.children[0]
    assert first.jobs == second.jobs


def test_a_refused_child_is_refused_every_time() -> None:
    bad = job("j1")
    bad["kind"] = "Pod"
    body = request_with([bad])
    for _ in range(2):
        with pytest.raises(wire.WireError, match="a Pod among the Jobs"):
            wire.decode_request(body)


# --- what is kept with a validated spec ---------------------------------------------------


def test_the_step_order_is_the_topological_order() -> None:
    flow = jobflow("f", step("c", "b"), step("a"), step("b", "a"), step("d", "a"))
    spec = validation.parse_spec(json.dumps(flow["spec"]).encode())
    expected = topological_order({s.name: s.dependencies for s in spec.steps})
    assert list(validation.step_order(spec)) == expected == ["a", "b", "c", "d"]
    assert validation.step_order(spec) is validation.step_order(spec)
    assert dict(validation.steps_by_name(spec)) == {s.name: s for s in spec.steps}


# --- identities the guard reads ----------------------------------------------------------


def test_the_guard_reads_a_reemitted_body_once(monkeypatch: pytest.MonkeyPatch) -> None:
    body = msgspec.Raw(b'{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"}}')
    reads: list[object] = []
    decoded = guard._decoded_identity

    def counted(raw: msgspec.Raw) -> tuple[Any, Any, Any, Any]:
        reads.append(raw)
        return decoded(raw)

    monkeypatch.setattr(guard, "_decoded_identity", counted)
    first, second = guard.identity(body, "ns"), guard.identity(body, "other")
    assert first == ("batch/v1", "Job", "ns", "j") and second.namespace == "other"
    assert reads == [body]
    same_bytes = msgspec.Raw(bytes(body))  # another object: read again
    assert guard.identity(same_bytes, "ns") == first and len(reads) == 2


def test_the_identity_cache_counts_at_least_what_an_entry_holds() -> None:
    bodies = [
        msgspec.Raw(
            json.dumps({"kind": "Job", "metadata": {"name": f"j{i}", "x": "y" * i}}).encode()
        )
        for i in range(500)
    ]
    guard._read.clear()

    def read_all() -> object:
        for body in bodies:
            guard.identity(body, "ns")
        return True

    actual = measured(read_all)
    assert guard._read.bytes >= actual
