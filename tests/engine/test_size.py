"""A JobFlow is one object of at most 1.5 MiB: a spec that leaves too little room for its
steps' status is refused, and a status that grows past the room is compacted, then ends the
flow with a clear reason rather than a status Metacontroller can never write."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.flows import T0, job_template, jobflow, step
from zen_flow.engine.size import (
    MAX_OBJECT_BYTES,
    room_for_status,
    size_problems,
    steps_status_bytes,
)
from zen_flow.spec.validation import parse_spec
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import in_process


def settle(cluster: FakeMetacontroller, calls: int = 3) -> None:
    for _ in range(calls):
        cluster.call(in_process)


def invalid_spec_message(cluster: FakeMetacontroller) -> str:
    (condition,) = [c for c in cluster.status["conditions"] if c["type"] == "InvalidSpec"]
    return str(condition["message"])


def wide(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [step(f"step-{i:04d}", **fields) for i in range(count)]


def etl_template(name: str) -> dict[str, Any]:
    """A Job template as big as a real one (400 bytes)."""
    template = job_template()
    template["spec"]["template"]["spec"]["containers"][0].update(
        command=["python", "-m", "etl.run", "--step", name],
        env=[{"name": "LOG_LEVEL", "value": "info"}, {"name": "WAREHOUSE", "value": "dw.svc"}],
        resources={"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    )
    return template


def test_a_spec_that_leaves_no_room_for_its_status_is_invalid() -> None:
    # 3000 steps with inline templates: 1.2 MB of spec and 0.5 of status.
    steps = [step(f"step-{i:04d}", template=etl_template(f"step-{i:04d}")) for i in range(3000)]
    cluster = FakeMetacontroller(jobflow("big", *steps), T0)
    settle(cluster, 1)
    assert cluster.status["reason"] == "InvalidSpec"
    message = invalid_spec_message(cluster)
    assert message.startswith("spec.steps: 3000 steps need some")
    assert "more than the 1536 KiB an object may have" in message
    assert "spec.templates" in message
    assert cluster.jobs() == []


def test_the_same_steps_with_a_named_template_fit() -> None:
    template = {
        "name": "work",
        "parameters": [{"name": "step"}],
        "template": etl_template("{{params.step}}"),
    }
    steps = [
        {"name": f"step-{i:04d}", "templateRef": "work", "arguments": {"step": f"step-{i:04d}"}}
        for i in range(3000)
    ]
    cluster = FakeMetacontroller(jobflow("big", *steps, templates=[template]), T0)
    settle(cluster, 1)
    assert cluster.status["phase"] == "Running"
    assert len(cluster.jobs()) == 3000


def test_annotations_count_against_the_room() -> None:
    template = {"name": "work", "template": job_template()}
    name = "step-{:04d}-load-the-partition-of-the-day"
    steps = [{"name": name.format(i), "templateRef": "work"} for i in range(5000)]
    flow = jobflow("big", *steps, templates=[template])
    fits = FakeMetacontroller(json.loads(json.dumps(flow)), T0)
    settle(fits, 1)
    assert fits.status["phase"] == "Running", "without the annotation, it fits"
    # The API server allows 256 KiB of annotations in all.
    flow["metadata"]["annotations"] = {"example.com/notes": "n" * 250_000}
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, 1)
    message = invalid_spec_message(cluster)
    assert "and the annotations 244 KiB" in message


def test_the_copy_kubectl_apply_keeps_is_named_with_what_to_do_instead() -> None:
    spec = parse_spec({"steps": [step(f"s{i}") for i in range(10)]})
    copy = {"kubectl.kubernetes.io/last-applied-configuration": "x" * 200_000}
    (problem,) = size_problems(spec, 1_400_000, copy)
    assert "195 KiB of it a copy of the spec that kubectl apply keeps" in str(problem)
    assert "kubectl apply --server-side or kubectl create keep none" in str(problem)


def test_room_counts_spec_and_annotations() -> None:
    assert room_for_status(0, {}) > room_for_status(1000, {}) > room_for_status(1000, {"a": "b"})
    assert room_for_status(0, {}) < MAX_OBJECT_BYTES


def test_a_status_past_the_room_ends_the_flow_and_deletes_its_running_jobs() -> None:
    outputs = {"parameters": [{"name": "blob"}]}
    steps = wide(400, outputs=outputs)
    cluster = FakeMetacontroller(jobflow("blobs", *steps, step("last", "step-0000")), T0)
    settle(cluster)
    jobs = cluster.jobs()
    for job in jobs[:-1]:  # each writes 4000 characters: 1.6 MB of outputs in all
        finish_job(cluster, job["metadata"]["name"], True, outputs={"blob": "x" * 4000})
    settle(cluster)
    status = cluster.status
    assert (status["phase"], status["reason"]) == ("Failed", "StatusTooLarge")
    assert "status would take" in status["message"]
    assert len(json.dumps(status)) < MAX_OBJECT_BYTES
    assert [j for j in cluster.jobs() if is_active(j)] == [], "running Jobs deleted"
    states = {s["name"]: s for s in status["steps"]}
    assert states["step-0000"]["phase"] == "Succeeded"
    assert "outputs" not in states["step-0000"]
    settle(cluster)
    assert cluster.status == status, "the end sticks"


def test_steps_that_could_all_run_at_once_start_as_status_has_room_for_them() -> None:
    # 300 steps with nothing between them, in an object whose annotations leave room for the
    # status of all 300 finished, but not of all 300 running (their entries name their Jobs).
    flow = jobflow("a-flow-with-a-rather-long-name-for-its-jobs", *wide(300))
    alone = FakeMetacontroller(copy.deepcopy(flow), T0)
    settle(alone, 2)
    assert len(alone.jobs()) == 300
    all_running = len(json.dumps(alone.status, separators=(",", ":")))
    spec_bytes = len(json.dumps(flow["spec"], separators=(",", ":")))
    wanted_room = steps_status_bytes(parse_spec(flow["spec"])) + 8_000
    assert all_running > wanted_room
    notes = MAX_OBJECT_BYTES - 16 * 1024 - spec_bytes - wanted_room - len("notes") - 6
    flow["metadata"]["annotations"] = {"notes": "n" * notes}
    room = room_for_status(spec_bytes, flow["metadata"]["annotations"])
    assert room == wanted_room
    cluster = FakeMetacontroller(flow, T0)
    waves = []
    for _ in range(20):
        settle(cluster, 2)
        status = cluster.status
        assert len(json.dumps(status, separators=(",", ":"))) <= room
        running = [j for j in cluster.jobs() if is_active(j)]
        if not running:
            break
        waves.append(len(running))
        waiting = [s for s in status["steps"] if s.get("reason") == "WaitingForStatusRoom"]
        assert len(running) + len(waiting) + status["progress"]["completedSteps"] == 300
        for job in running:
            finish_job(cluster, job["metadata"]["name"], True)
    assert cluster.status["phase"] == "Succeeded"
    assert len(cluster.jobs()) == 300
    assert len(waves) > 1 and max(waves) < 300, waves


@pytest.mark.slow
def test_failed_attempts_are_cut_to_the_last_one_when_status_grows_too_large() -> None:
    retry = {"limit": 100, "backoff": {"type": "Fixed", "duration": "1s"}}
    template = {"name": "work", "template": job_template()}
    steps = [
        {"name": f"s{i:04d}-" + "n" * 50, "templateRef": "work", "retryPolicy": retry}
        for i in range(2000)
    ]
    flow = jobflow("flaky", *steps, templates=[template], executionPolicy={"backoffLimit": 100000})
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, 1)
    for attempt in range(1, 4):
        for job in cluster.jobs():
            if is_active(job):
                finish_job(cluster, job["metadata"]["name"], False)
        settle(cluster, 1)
        cluster.now = cluster.now.replace(second=cluster.now.second + 2)
        settle(cluster, 1)
        assert len(cluster.jobs()) == 2000 * (attempt + 1)
    status = cluster.status
    assert status["phase"] == "Running"
    assert len(json.dumps(status)) < MAX_OBJECT_BYTES
    assert all(len(s["failedAttempts"]) == 1 for s in status["steps"])
    assert all(s["failedAttempts"][0]["attempt"] == 3 for s in status["steps"])
