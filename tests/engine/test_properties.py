"""Property tests: invariants of the hooks over random DAGs and random histories."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.flows import T0, jobflow, step
from zen_flow.server.app import create_app
from zen_flow.server.settings import Settings
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport, in_process

SATISFIED = {"Succeeded", "Skipped"}
TERMINAL = {"Succeeded", "Failed", "Skipped"}
WORK = {
    "name": "work",
    "parameters": [{"name": "n"}],
    "template": {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "main", "image": "busybox", "args": ["{{params.n}}"]}]
                }
            }
        }
    },
}


def random_flow(rng: random.Random, name: str) -> dict[str, Any]:
    count = rng.randint(1, 8)
    steps = []
    for index in range(count):
        earlier = [f"s{j}" for j in range(index)]
        deps = rng.sample(earlier, k=rng.randint(0, min(3, len(earlier))))
        fields: dict[str, Any] = {}
        if rng.random() < 0.4:
            fields["retryPolicy"] = {
                "limit": rng.randint(0, 3),
                "backoff": {
                    "type": rng.choice(["Fixed", "Linear", "Exponential"]),
                    "duration": f"{rng.randint(1, 20)}s",
                },
            }
        if rng.random() < 0.2:
            fields["continueOnFailure"] = True
        if deps and rng.random() < 0.3:
            fields["when"] = f"steps.{rng.choice(deps)}.phase == 'Succeeded'"
        if rng.random() < 0.2:
            fields["withItems"] = list(range(rng.randint(0, 4)))
        if rng.random() < 0.3:
            fields.update(template=None, templateRef="work", arguments={"n": str(index)})
        steps.append(step(f"s{index}", *deps, **fields))
    spec: dict[str, Any] = {"templates": [WORK]}
    if rng.random() < 0.4:
        first = step("f0", when=rng.choice(["flow.phase == 'Failed'", "true"]))
        spec["finally"] = [first, step("f1", "f0")][: rng.randint(1, 2)]
    if rng.random() < 0.3:
        spec["executionPolicy"] = {
            "backoffLimit": rng.randint(0, 4),
            "activeDeadlineSeconds": rng.randint(30, 400),
        }
    return jobflow(name, *steps, **spec)


def disturb(cluster: FakeMetacontroller, rng: random.Random) -> None:
    """What can happen between two syncs: Jobs finish, time passes, caches lag, people act."""
    for job in cluster.jobs():
        if is_active(job) and rng.random() < 0.5:
            reason = rng.choice(["BackoffLimitExceeded", "DeadlineExceeded"])
            finish_job(cluster, job["metadata"]["name"], rng.random() < 0.6, reason)
    if cluster.jobs() and rng.random() < 0.1:
        victim = rng.choice(cluster.jobs())
        cluster.delete("Job", victim["metadata"]["name"])
    if rng.random() < 0.1:
        cluster.flow.pop("status", None)  # status write not yet visible
    if rng.random() < 0.15:
        annotations = cluster.flow["metadata"].setdefault("annotations", {})
        annotations["workflow.zen.io/suspended"] = rng.choice(["true", "false"])
    cluster.now += timedelta(seconds=rng.choice([0, 0.5, 1, 3, 10, 45, 120]))


def check_answer(
    cluster: FakeMetacontroller, request: dict[str, Any], answer: dict[str, Any]
) -> None:
    observed_jobs = {
        obj["metadata"]["name"] for obj in request["children"]["Job.batch/v1"].values()
    }
    emitted = {c["metadata"]["name"] for c in answer["children"] if c["kind"] == "Job"}
    assert observed_jobs <= emitted, "an observed Job was dropped"
    phases = {s["name"]: s for s in answer["status"]["steps"]}
    spec = cluster.flow["spec"]
    declared = [*spec["steps"], *spec.get("finally", [])]
    tolerated = {s["name"] for s in declared if s.get("continueOnFailure")}
    deps = {s["name"]: s.get("dependencies", []) for s in declared}
    final = {s["name"] for s in spec.get("finally", [])}
    for declared_step in spec["steps"]:
        entry = phases[declared_step["name"]]
        if entry["phase"] == "Pending" and entry.get("reason") == "WaitingForDependencies":
            unmet = [
                d
                for d in deps[declared_step["name"]]
                if phases[d]["phase"] not in SATISFIED
                and not (phases[d]["phase"] == "Failed" and d in tolerated)
            ]
            assert unmet, f"{declared_step['name']} waits for dependencies that are all done"
    for name in emitted - observed_jobs:
        child = next(c for c in answer["children"] if c["metadata"]["name"] == name)
        step_name = child["metadata"]["labels"]["workflow.zen.io/step"]
        if step_name in final:
            unfinished = [
                s["name"] for s in spec["steps"] if phases[s["name"]]["phase"] not in TERMINAL
            ]
            assert not unfinished, f"finally step {step_name} started before {unfinished} ended"
        for dependency in deps[step_name]:
            state = phases[dependency]["phase"]
            assert state in SATISFIED or (state == "Failed" and dependency in tolerated), (
                f"{step_name} started while {dependency} is {state}"
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), rounds=st.integers(1, 25))
def test_random_histories_keep_the_invariants(seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    cluster = FakeMetacontroller(random_flow(rng, f"p{seed % 1000}"), T0)
    for _ in range(rounds):
        request = cluster.request()
        first = in_process(request, cluster.now, False)
        second = in_process(request, cluster.now, False)
        assert json.dumps(first) == json.dumps(second), "same request, same clock, same bytes"
        check_answer(cluster, request, first)
        cluster.apply(first)  # raises on any change Metacontroller would refuse
        disturb(cluster, rng)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    rounds=st.integers(0, 12),
    fraction=st.floats(min_value=0, max_value=0.999),
)
def test_answer_only_changes_when_something_is_due(seed: int, rounds: int, fraction: float) -> None:
    rng = random.Random(seed)
    cluster = FakeMetacontroller(random_flow(rng, f"d{seed % 1000}"), T0)
    for _ in range(rounds):
        cluster.call(in_process)
        disturb(cluster, rng)
    cluster.call(in_process)
    settled = cluster.call(in_process)  # nothing happened since: a settled state
    request = cluster.request()
    later = settled.get("resyncAfterSeconds") or 86400.0
    again = in_process(request, cluster.now + timedelta(seconds=later * fraction), False)
    assert again["status"] == settled["status"]
    assert again["children"] == settled["children"]


def test_finished_flows_ask_for_no_resync() -> None:
    rng = random.Random(5)
    for index in range(30):
        cluster = FakeMetacontroller(random_flow(rng, f"q{index}"), T0)
        for _ in range(200):
            answer = cluster.call(in_process)
            if cluster.status["phase"] in ("Succeeded", "Failed") and cluster.status.get(
                "completionTime"
            ):
                break
            for job in cluster.jobs():
                if is_active(job):
                    finish_job(cluster, job["metadata"]["name"], rng.random() < 0.7)
            cluster.now += timedelta(seconds=30)
        assert "resyncAfterSeconds" not in answer
        assert cluster.call(in_process) == answer


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def mutated_request(data: st.DataObject) -> dict[str, Any]:
    """A real request with one random part replaced by random JSON."""
    request = FakeMetacontroller(jobflow("fuzz", step("a"), step("b", "a")), T0).request()
    path = data.draw(
        st.sampled_from(
            [
                ("parent",),
                ("parent", "metadata"),
                ("parent", "spec"),
                ("parent", "spec", "steps"),
                ("parent", "status"),
                ("parent", "metadata", "annotations"),
                ("children",),
                ("children", "Job.batch/v1"),
                ("finalizing",),
            ]
        )
    )
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    return request


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_no_input_gets_a_5xx(data: st.DataObject) -> None:
    client = create_app(Settings()).test_client()
    body = json.dumps(mutated_request(data)).encode()
    answer = client.post("/sync", data=body, content_type="application/json")
    assert answer.status_code in (200, 400), answer.data
    if answer.status_code == 200:
        # A request with finalizing: true is a finalize call, whichever path it came to.
        allowed = {"status", "children", "resyncAfterSeconds", "finalized"}
        assert set(answer.get_json()) <= allowed


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_no_body_gets_a_5xx(body: bytes) -> None:
    client = create_app(Settings()).test_client()
    assert client.post("/sync", data=body).status_code in (200, 400)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_input_gets_a_5xx_from_the_real_server(server: str, data: st.DataObject) -> None:
    code, _ = HttpTransport(server).post("/sync", json.dumps(mutated_request(data)).encode())
    assert code in (200, 400)
