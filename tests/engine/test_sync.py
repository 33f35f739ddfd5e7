"""Unit tests of the pure core: rendering, stickiness, status and re-emission rules."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import in_process


def answer(request: dict[str, Any], seconds: float = 0) -> dict[str, Any]:
    result = sync(decode_request(json.dumps(request).encode()), T0 + timedelta(seconds=seconds))
    decoded: dict[str, Any] = json.loads(encode_response(result.response))
    return decoded


def test_job_carries_flow_labels_and_keeps_the_users() -> None:
    template = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "ignored",
            "namespace": "elsewhere",
            "generateName": "x-",
            "ownerReferences": [{"kind": "Other", "name": "o", "uid": "1", "apiVersion": "v1"}],
            "finalizers": ["keep/me"],
            "labels": {"team": "data"},
            "annotations": {"note": "hello"},
        },
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "manualSelector": True,
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": {"pod": "label"}, "name": "podname"},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    }
    flow = jobflow(
        "render",
        step(
            "a", template=template, metadata={"labels": {"extra": "yes"}, "annotations": {"n": "1"}}
        ),
        executionPolicy={
            "podFailurePolicy": {
                "rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}]
            }
        },
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)
    job = cluster.jobs()[0]
    meta = job["metadata"]
    assert meta["namespace"] == "team-a"
    assert meta["name"].startswith("render-a-1-")
    assert "generateName" not in meta and "ownerReferences" not in meta
    assert "finalizers" not in meta
    ours = {
        "jobflow": "render",
        "workflow.zen.io/jobflow": "render",
        "workflow.zen.io/step": "a",
        "workflow.zen.io/attempt": "1",
    }
    assert meta["labels"] == {"team": "data", "extra": "yes", **ours}
    assert meta["annotations"]["note"] == "hello" and meta["annotations"]["n"] == "1"
    spec = job["spec"]
    assert "selector" not in spec and "manualSelector" not in spec
    assert spec["backoffLimit"] == 2
    assert spec["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    pod = spec["template"]
    assert pod["metadata"]["labels"] == {"pod": "label", "extra": "yes", **ours}
    assert "name" not in pod["metadata"]
    assert pod["spec"]["restartPolicy"] == "Never"


def test_finished_step_whose_job_vanished_is_not_rerun() -> None:
    cluster = FakeMetacontroller(jobflow("sticky", step("a"), step("b", "a")), T0)
    cluster.call(in_process)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=True)
    cluster.call(in_process)
    first = cluster.job("a")
    assert first is not None
    cluster.delete("Job", first["metadata"]["name"])  # TTL or a person deleted it
    cluster.call(in_process)
    assert cluster.job("a") is None
    assert cluster.status["steps"][0]["phase"] == "Succeeded"


def test_missing_job_of_a_running_step_is_recreated_under_the_same_name() -> None:
    cluster = FakeMetacontroller(jobflow("lost", step("a")), T0)
    cluster.call(in_process)
    name = cluster.jobs()[0]["metadata"]["name"]
    cluster.delete("Job", name)
    cluster.call(in_process)
    assert [j["metadata"]["name"] for j in cluster.jobs()] == [name]


def test_status_lagging_behind_jobs_does_not_start_a_second_job() -> None:
    cluster = FakeMetacontroller(jobflow("lag", step("a")), T0)
    cluster.call(in_process)
    cluster.flow.pop("status")  # our status write is not in the cache yet
    cluster.now += timedelta(seconds=3)
    response = cluster.call(in_process)
    assert len(cluster.jobs()) == 1
    assert response["status"]["steps"][0]["attempt"] == 1
    assert response["status"]["steps"][0]["startTime"] == "2026-03-01T12:00:00Z"


def test_condition_transition_time_moves_only_on_a_transition() -> None:
    cluster = FakeMetacontroller(jobflow("cond", step("a"), step("b", "a")), T0)
    cluster.call(in_process)
    before = {c["type"]: c["lastTransitionTime"] for c in cluster.status["conditions"]}
    cluster.now += timedelta(minutes=5)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], succeeded=True)
    cluster.call(in_process)
    after = {c["type"]: c["lastTransitionTime"] for c in cluster.status["conditions"]}
    assert after == before, "still Running: no condition changed"
    cluster.now += timedelta(minutes=5)
    finish_job(cluster, cluster.job("b")["metadata"]["name"], succeeded=True)  # type: ignore[index]
    cluster.call(in_process)
    final = {c["type"]: c for c in cluster.status["conditions"]}
    assert final["Complete"]["status"] == "True"
    assert final["Complete"]["lastTransitionTime"] == "2026-03-01T12:10:00Z"
    assert final["InvalidSpec"]["lastTransitionTime"] == before["InvalidSpec"]


def test_existing_job_is_re_emitted_exactly_as_last_applied() -> None:
    cluster = FakeMetacontroller(jobflow("same", step("a")), T0)
    cluster.call(in_process)
    job = cluster.jobs()[0]
    applied = job["metadata"]["annotations"][ANNOTATION_LAST_APPLIED]
    response = answer(cluster.request(), 10)
    emitted = [c for c in response["children"] if c["kind"] == "Job"]
    assert emitted == [json.loads(applied)]


def test_children_the_spec_no_longer_names_are_kept() -> None:
    cluster = FakeMetacontroller(jobflow("shrink", step("a"), step("b")), T0)
    cluster.call(in_process)
    cluster.flow["spec"]["steps"] = cluster.flow["spec"]["steps"][:1]
    cluster.call(in_process)
    assert len(cluster.jobs()) == 2, "never lose a child outside finalize"
    assert [s["name"] for s in cluster.status["steps"]] == ["a"]


def test_child_without_last_applied_is_re_emitted_without_server_fields() -> None:
    cluster = FakeMetacontroller(jobflow("foreign", step("a")), T0)
    request = cluster.request()
    request["children"]["ConfigMap.v1"]["team-a/extra"] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "extra",
            "namespace": "team-a",
            "resourceVersion": "42",
            "uid": "u",
            "managedFields": [{"manager": "kubectl"}],
            "labels": {"x": "y"},
        },
        "data": {"k": "v"},
    }
    response = answer(request)
    kept = next(c for c in response["children"] if c["kind"] == "ConfigMap")
    assert kept == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extra", "namespace": "team-a", "labels": {"x": "y"}},
        "data": {"k": "v"},
    }


def test_unreadable_previous_status_is_rewritten() -> None:
    cluster = FakeMetacontroller(jobflow("garbled", step("a")), T0)
    cluster.flow["status"] = {"phase": "Exploded", "steps": "nope"}
    cluster.call(in_process)
    assert cluster.status["phase"] == "Running"


def test_status_stays_compact() -> None:
    steps = [step(f"step-{i:04d}", *([f"step-{i - 1:04d}"] if i else [])) for i in range(200)]
    cluster = FakeMetacontroller(jobflow("big", *steps), T0)
    cluster.call(in_process)
    size = len(json.dumps(cluster.status, separators=(",", ":")))
    assert size / 200 < 200, "a pending step takes well under 200 bytes"


def test_response_has_only_the_keys_metacontroller_accepts() -> None:
    response = answer(FakeMetacontroller(jobflow("keys", step("a")), T0).request())
    assert set(response) == {"status", "children"}


def test_finalize_with_nothing_left_is_finalized() -> None:
    request = FakeMetacontroller(jobflow("empty", step("a")), T0).request(finalizing=True)
    response = answer(request)
    assert response["finalized"] is True
    assert response["children"] == []


def run_until_settled(cluster: FakeMetacontroller, outcomes: dict[str, bool]) -> None:
    """Finish every Job as ``outcomes`` says (default: success) until nothing changes."""
    for _ in range(20):
        cluster.call(in_process)
        active = [j for j in cluster.jobs() if not (j.get("status") or {}).get("conditions")]
        if not active:
            return
        for job in active:
            step_name = job["metadata"]["labels"]["workflow.zen.io/step"]
            finish_job(cluster, job["metadata"]["name"], outcomes.get(step_name, True))
        cluster.now += timedelta(seconds=1)


def test_readiness_counts_skipped_and_tolerated_failures_as_done() -> None:
    flow = jobflow(
        "ready",
        step("gate", when="never"),
        step("flaky", continueOnFailure=True),
        step("after", "gate", "flaky"),
    )
    cluster = FakeMetacontroller(flow, T0)
    run_until_settled(cluster, {"flaky": False})
    by_name = {s["name"]: s for s in cluster.status["steps"]}
    assert (by_name["gate"]["phase"], by_name["gate"]["reason"]) == ("Skipped", "ConditionFalse")
    assert by_name["flaky"]["phase"] == "Failed"
    assert by_name["after"]["phase"] == "Succeeded"
    assert cluster.status["phase"] == "Succeeded"
    assert cluster.status["progress"] == {
        "totalSteps": 3,
        "completedSteps": 3,
        "successfulSteps": 1,
        "failedSteps": 1,
        "skippedSteps": 1,
        "summary": "3/3",
    }


def test_failure_propagates_to_every_step_that_has_not_started() -> None:
    flow = jobflow("prop", step("a"), step("b", "a"), step("c", "b"), step("side"))
    cluster = FakeMetacontroller(flow, T0)
    run_until_settled(cluster, {"a": False})
    by_name = {s["name"]: s for s in cluster.status["steps"]}
    assert [by_name[n]["reason"] for n in ("b", "c")] == ["UpstreamFailed", "UpstreamFailed"]
    assert by_name["side"]["phase"] == "Succeeded", "it had started: running steps finish"
    assert cluster.status["phase"] == "Failed"
    assert cluster.status["reason"] == "StepFailed"
    failed = next(c for c in cluster.status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and 'step "a" failed' in failed["message"]


def test_all_ready_steps_start_in_one_sync_in_declaration_order() -> None:
    flow = jobflow("wide", step("root"), *[step(f"leaf-{i}", "root") for i in range(5)])
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], True)
    response = cluster.call(in_process)
    created = [c["metadata"]["labels"]["workflow.zen.io/step"] for c in response["children"]]
    assert created[:5] == [f"leaf-{i}" for i in range(5)]


def test_steps_skipped_in_a_sync_free_their_dependents_in_the_same_sync() -> None:
    flow = jobflow(
        "skips",
        step("a"),
        step("b", "a", when="steps.a.phase == 'Failed'"),
        step("c", "b", when="steps.a.phase == 'Failed'"),
        step("d", "c"),
        step("e", "d"),
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)
    finish_job(cluster, cluster.jobs()[0]["metadata"]["name"], True)
    response = cluster.call(in_process)
    by_name = {s["name"]: s for s in response["status"]["steps"]}
    assert [by_name[n]["phase"] for n in "abcde"] == [
        "Succeeded",
        "Skipped",
        "Skipped",
        "Running",
        "Pending",
    ]
    assert by_name["e"]["reason"] == "WaitingForDependencies"
    created = {c["metadata"]["labels"]["workflow.zen.io/step"] for c in response["children"]}
    assert created == {"a", "d"}


def test_a_step_new_to_status_waits_with_its_reason_while_its_dependency_runs() -> None:
    cluster = FakeMetacontroller(jobflow("grows", step("a"), step("b", "a")), T0)
    cluster.call(in_process)
    cluster.flow["spec"]["steps"].append(step("c", "b"))
    response = cluster.call(in_process)
    entry = next(s for s in response["status"]["steps"] if s["name"] == "c")
    assert (entry["phase"], entry["reason"]) == ("Pending", "WaitingForDependencies")


def invalid_spec_message(flow: dict[str, Any]) -> str:
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)
    assert cluster.status["reason"] == "InvalidSpec"
    assert cluster.status["message"] == "1 problem in the spec; see condition InvalidSpec"
    [condition] = [c for c in cluster.status["conditions"] if c["type"] == "InvalidSpec"]
    assert condition["status"] == "True"
    message: str = condition["message"]
    assert "\n" not in message
    return message


def test_invalid_spec_condition_says_where_and_what_in_the_products_words() -> None:
    flow = jobflow(
        "words",
        step("a", retryPolicy={"backoff": {"duration": "10 sec"}}),
        step("b", "a", when="steps.a.phase = 'Succeeded'"),
    )
    assert invalid_spec_message(flow) == (
        'spec.steps[0].retryPolicy.backoff.duration: invalid duration "10 sec": '
        'use e.g. "30s", "10m", "1h30m", "500ms"'
    )
    flow["spec"]["steps"][0].pop("retryPolicy")
    assert invalid_spec_message(flow) == (
        'spec.steps[1].when: does not parse as CEL: column 15: found "=" where an operator '
        "(e.g. ==, !=, <, in, &&, ||) or the end of the condition was expected "
        "(write == to compare)"
    )


def test_a_flow_whose_copies_could_not_be_named_is_an_invalid_spec() -> None:
    flow = jobflow("f" * 250, step("a"))
    flow["metadata"]["uid"] = "3f1c9a52-8f0e-4c54-9a57-2f1c6d1e9b10"
    flow["spec"]["resourceTemplates"] = {
        "volumeClaimTemplates": [{"metadata": {"name": "work"}, "spec": {}}]
    }
    assert invalid_spec_message(flow).startswith(
        "spec.resourceTemplates.volumeClaimTemplates[0].metadata.name: the flow's copy "
    )
    assert "would have 255 characters, more than the 253 a name may have" in invalid_spec_message(
        flow
    )
