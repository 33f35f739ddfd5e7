"""Reading step outputs from pods: only a step's own succeeded pod, its JSON objects."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from zen_flow.engine.outputs import PodOutputs, declared, pod_outputs
from zen_flow.engine.wire import PodView

JOBS = {"f-a-1": "uid-1"}


def pod(
    name: str = "p",
    *messages: str,
    phase: str = "Succeeded",
    owner: tuple[str, str] = ("f-a-1", "uid-1"),
    attempt: str = "1",
) -> PodView:
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "labels": {"workflow.zen.io/step": "a", "workflow.zen.io/attempt": attempt},
            "ownerReferences": [
                {"kind": "Job", "name": owner[0], "uid": owner[1], "controller": True}
            ],
        },
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": f"c{i}", "state": {"terminated": {"message": m}}}
                for i, m in enumerate(messages)
            ],
        },
    }
    return msgspec.json.decode(json.dumps(body), type=PodView)


def test_a_succeeded_pod_of_the_steps_job_gives_its_json_keys() -> None:
    found = pod_outputs([pod("p", '{"n": 3, "s": "x", "o": {"k": [1]}}')], JOBS)
    assert found == {("a", 1): PodOutputs("p", {"n": "3", "s": "x", "o": '{"k":[1]}'})}


def test_pods_not_controlled_by_the_steps_job_are_ignored() -> None:
    forged = pod("p", '{"n": 1}', owner=("f-a-1", "other-uid"))
    other = pod("q", '{"n": 1}', owner=("someone-else", "uid-1"))
    running = pod("r", '{"n": 1}', phase="Running")
    assert pod_outputs([forged, other, running], JOBS) == {}


def test_containers_are_read_in_name_order_and_non_objects_skipped() -> None:
    found = pod_outputs([pod("p", "not json", '{"n": "first"}', '{"n": "second", "m": 1}')], JOBS)
    assert found[("a", 1)].values == {"n": "first", "m": "1"}


def test_the_lowest_pod_name_wins() -> None:
    found = pod_outputs([pod("p2", '{"n": 2}'), pod("p1", '{"n": 1}')], JOBS)
    assert found[("a", 1)].values == {"n": "1"}


def test_declared_outputs_missing_or_too_long_are_named() -> None:
    outputs = PodOutputs("p", {"ok": "v", "long": "x" * 5000})
    assert declared(outputs, ("ok", "long", "absent")) == ({"ok": "v"}, ["long", "absent"])
