"""The hooks are a privilege boundary: what a namespace user writes never names a child.

A user who may edit a ConfigMap, PVC or Job of a flow can rewrite its
``metacontroller.k8s.io/last-applied-configuration`` annotation. Metacontroller creates
whatever the answer lists, with rights over the whole cluster, and deletes what it leaves
out; so the answer must take each child's identity from the spec or from the observed object,
and keep every observed child.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED
from zen_flow.engine.guard import UnsafeAnswer, check_answer
from zen_flow.engine.observe import FlowIdentity, observe
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import in_process

NAMESPACE = "team-a"
PRIVILEGED_JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "owned", "namespace": "kube-system"},
    "spec": {
        "template": {
            "spec": {
                "hostPID": True,
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "x",
                        "image": "busybox",
                        "securityContext": {"privileged": True},
                    }
                ],
            }
        }
    },
}


def flow_with_configmap(*steps: dict[str, Any]) -> dict[str, Any]:
    return jobflow(
        "esc",
        *(steps or (step("a"),)),
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "cfg"}, "data": {"k": "v"}}]
        },
    )


def started(flow: dict[str, Any]) -> FakeMetacontroller:
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)  # the ConfigMap
    cluster.call(in_process)  # the first Job
    return cluster


def finished(flow: dict[str, Any]) -> FakeMetacontroller:
    cluster = started(flow)
    for job in cluster.jobs():
        finish_job(cluster, job["metadata"]["name"], succeeded=True)
    cluster.call(in_process)
    assert cluster.status["phase"] == "Succeeded"
    return cluster


def tamper(cluster: FakeMetacontroller, kind: str, name: str, applied: Any) -> None:
    """What a user with edit rights on the child does to Metacontroller's bookkeeping."""
    annotations = cluster.children[(kind, name)]["metadata"]["annotations"]
    annotations[ANNOTATION_LAST_APPLIED] = (
        applied if isinstance(applied, str) else json.dumps(applied)
    )


def answer(cluster: FakeMetacontroller, finalizing: bool = False) -> dict[str, Any]:
    """The hooks' answer, not applied (a fake Metacontroller would refuse a bad one)."""
    return in_process(cluster.request(finalizing), cluster.now, finalizing)


def identities(response: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (
            child["apiVersion"],
            child["kind"],
            child["metadata"].get("namespace", NAMESPACE),
            child["metadata"]["name"],
        )
        for child in response["children"]
    }


def assert_within_boundary(cluster: FakeMetacontroller, response: dict[str, Any]) -> None:
    found = identities(response)
    assert {namespace for _, _, namespace, _ in found} <= {NAMESPACE}
    assert {(v, k) for v, k, _, _ in found} <= {
        ("batch/v1", "Job"),
        ("v1", "ConfigMap"),
        ("v1", "PersistentVolumeClaim"),
    }
    observed = {(kind, name) for kind, name in cluster.children}
    assert observed <= {(kind, name) for _, kind, _, name in found}, "an observed child is lost"


@pytest.mark.parametrize("when", ["finished", "running", "invalid spec", "template removed"])
def test_a_rewritten_annotation_creates_nothing_outside_the_namespace(when: str) -> None:
    cluster = (
        finished(flow_with_configmap()) if when == "finished" else started(flow_with_configmap())
    )
    if when == "invalid spec":
        cluster.flow["spec"]["steps"][0]["dependencies"] = ["nope"]
    if when == "template removed":
        del cluster.flow["spec"]["resourceTemplates"]
    tamper(cluster, "ConfigMap", "esc-cfg", PRIVILEGED_JOB)
    response = answer(cluster)
    assert_within_boundary(cluster, response)
    assert ("v1", "ConfigMap", NAMESPACE, "esc-cfg") in identities(response)
    assert not any(
        child["kind"] == "Job" and child["metadata"]["name"] == "owned"
        for child in response["children"]
    )


def test_a_rewritten_annotation_is_ignored_in_finalize_too() -> None:
    cluster = finished(flow_with_configmap())
    tamper(cluster, "ConfigMap", "esc-cfg", PRIVILEGED_JOB)
    cluster.flow["metadata"]["deletionTimestamp"] = "2026-03-01T13:00:00Z"
    response = answer(cluster, finalizing=True)
    found = identities(response)
    assert {namespace for _, _, namespace, _ in found} <= {NAMESPACE}
    assert ("batch/v1", "Job", "kube-system", "owned") not in found


@pytest.mark.parametrize(
    "applied",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "esc-cfg", "namespace": "x"},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "esc-cfg"}},
        {"metadata": {"name": "esc-cfg"}},
        [1, 2, 3],
        "not json",
        "",
    ],
    ids=["renamed", "re-namespaced", "no name", "other kind", "no kind", "a list", "text", "empty"],
)
def test_the_child_keeps_its_observed_identity(applied: Any) -> None:
    cluster = finished(flow_with_configmap())
    tamper(cluster, "ConfigMap", "esc-cfg", applied)
    response = answer(cluster)
    assert_within_boundary(cluster, response)
    (configmap,) = [c for c in response["children"] if c["kind"] == "ConfigMap"]
    assert configmap["metadata"]["name"] == "esc-cfg"
    assert configmap["data"] == {"k": "v"}, "re-emitted as observed"
    assert ANNOTATION_LAST_APPLIED not in configmap["metadata"].get("annotations", {})


def test_a_disagreeing_annotation_is_reported() -> None:
    cluster = finished(flow_with_configmap())
    tamper(cluster, "ConfigMap", "esc-cfg", PRIVILEGED_JOB)
    result = sync(decode_request(json.dumps(cluster.request()).encode()), cluster.now)
    assert result.ignored_bookkeeping == ("ConfigMap esc-cfg",)
    untouched = finished(flow_with_configmap())
    result = sync(decode_request(json.dumps(untouched.request()).encode()), untouched.now)
    assert result.ignored_bookkeeping == ()


def test_a_job_whose_annotation_describes_another_job_is_re_emitted_as_observed() -> None:
    cluster = started(jobflow("esc", step("a"), step("b", "a")))
    (job,) = cluster.jobs()
    name = job["metadata"]["name"]
    tamper(
        cluster,
        "Job",
        name,
        {**PRIVILEGED_JOB, "metadata": {"name": name, "namespace": "kube-system"}},
    )
    response = answer(cluster)
    assert_within_boundary(cluster, response)
    (emitted,) = [c for c in response["children"] if c["metadata"]["name"] == name]
    assert emitted["spec"] == job["spec"], "the observed Job, not the annotation's"


def test_a_forged_suspension_record_does_not_hide_a_running_job() -> None:
    """A suspend the annotation claims we applied counts only if the annotation is ours."""
    cluster = started(jobflow("esc", step("a")))
    (job,) = cluster.jobs()
    job["spec"]["suspend"] = True
    forged = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x"},
        "spec": {"suspend": True},
    }
    tamper(cluster, "Job", job["metadata"]["name"], forged)
    observation = observe(decode_request(json.dumps(cluster.request()).encode()))
    (observed,) = observation.jobs.values()
    assert observed.suspended and not observed.suspended_by_flow


def test_attempt_labels_are_read_strictly() -> None:
    cluster = started(jobflow("esc", step("a")))
    (job,) = cluster.jobs()
    for label in ("²", "٣", "0", "-1", "1e3", " 1", "99999"):
        job["metadata"]["labels"]["workflow.zen.io/attempt"] = label
        response = answer(cluster)
        assert_within_boundary(cluster, response)
        assert observe(decode_request(json.dumps(cluster.request()).encode())).jobs == {}


# --- the guard ---------------------------------------------------------------------------

FLOW = FlowIdentity("f", NAMESPACE, "uid-f", 1)
NOTHING_OBSERVED = observe(decode_request(json.dumps({"parent": jobflow("f", step("a"))}).encode()))


def desired(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def sent_as_is(body: dict[str, Any]) -> msgspec.Raw:
    """A child re-emitted from its last-applied bytes."""
    return msgspec.Raw(json.dumps(body).encode())


def test_the_guard_passes_an_answer_within_the_boundary() -> None:
    check_answer(NOTHING_OBSERVED, [desired("batch/v1", "Job", NAMESPACE, "j")], finalizing=False)


@pytest.mark.parametrize(
    ("child", "problem"),
    [
        (desired("batch/v1", "Job", "kube-system", "j"), "outside the flow's namespace"),
        (desired("v1", "Secret", NAMESPACE, "s"), "not a child type"),
        (desired("apps/v1", "Job", NAMESPACE, "j"), "not a child type"),
        (desired("v1", "ConfigMap", NAMESPACE, ""), "no name"),
        (sent_as_is(desired("batch/v1", "Job", "kube-system", "j")), "outside the flow's"),
        (sent_as_is(desired("rbac.authorization.k8s.io/v1", "Role", NAMESPACE, "r")), "child type"),
        (msgspec.Raw(b"[]"), "not a JSON object"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 7}}, "no name"),
    ],
)
def test_the_guard_refuses_a_child_outside_the_boundary(child: Any, problem: str) -> None:
    with pytest.raises(UnsafeAnswer, match=problem):
        check_answer(NOTHING_OBSERVED, [child], finalizing=False)


def test_the_guard_refuses_a_child_listed_twice() -> None:
    twice = [desired("v1", "ConfigMap", NAMESPACE, "c")] * 2
    with pytest.raises(UnsafeAnswer, match="listed twice"):
        check_answer(NOTHING_OBSERVED, twice, finalizing=False)


def test_the_guard_refuses_to_lose_an_observed_child_unless_finalizing() -> None:
    cluster = started(jobflow("esc", step("a")))
    observation = observe(decode_request(json.dumps(cluster.request()).encode()))
    with pytest.raises(UnsafeAnswer, match="missing from the answer"):
        check_answer(observation, [], finalizing=False)
    check_answer(observation, [], finalizing=True)
    (job,) = observation.jobs.values()
    check_answer(observation, [], finalizing=False, deleted_jobs=frozenset({job.name}))


def test_the_guard_allows_deleting_only_running_step_jobs() -> None:
    with pytest.raises(UnsafeAnswer, match="not running step Jobs"):
        check_answer(NOTHING_OBSERVED, [], finalizing=False, deleted_jobs=frozenset({"x"}))


# --- what a spec may contain -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("executionPolicy.activeDeadlineSeconds", 300_000_000_000),
        ("executionPolicy.backoffLimit", 10**12),
        ("executionPolicy.ttlSecondsAfterFinished", 10**12),
        ("steps[0].timeoutSeconds", 10**15),
        ("steps[0].retryPolicy.limit", 10**6),
        ("steps[0].retryPolicy.backoff.duration", "99999999h"),
        ("steps[0].retryPolicy.backoff.maxDelay", "99999999h"),
        ("steps[0].retryPolicy.backoff.factor", 1e300),
        ("steps[0].when", "steps.a.phase == 'x' || " * 200 + "true"),
    ],
)
def test_values_beyond_the_bounds_are_an_invalid_spec_naming_the_field(
    field: str, value: Any
) -> None:
    flow = jobflow("big", step("a", retryPolicy={"limit": 1}))
    target = flow["spec"]
    parts = field.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[parts[-1]] = value
    cluster = FakeMetacontroller(flow, T0)
    response = answer(cluster)
    assert response["status"]["reason"] == "InvalidSpec"
    invalid = next(c for c in response["status"]["conditions"] if c["type"] == "InvalidSpec")
    assert "spec." + field.split(".")[0] in invalid["message"]


def test_the_largest_values_allowed_work() -> None:
    flow = jobflow(
        "big",
        step(
            "a",
            timeoutSeconds=315_360_000,
            retryPolicy={"limit": 100, "backoff": {"duration": "1h", "factor": 100}},
        ),
        executionPolicy={
            "activeDeadlineSeconds": 315_360_000,
            "backoffLimit": 100_000,
            "ttlSecondsAfterFinished": 315_360_000,
        },
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(in_process)
    delays = []
    for _ in range(5):  # 1h, 100h, 10000h, then capped at ten years
        job = cluster.jobs()[-1]
        finish_job(cluster, job["metadata"]["name"], succeeded=False)
        response = cluster.call(in_process)
        delays.append(response.get("resyncAfterSeconds"))
        if response["status"]["phase"] != "Running":
            break
        cluster.now += timedelta(seconds=response["resyncAfterSeconds"])
        cluster.call(in_process)
    assert delays[:3] == [3600, 360_000, 36_000_000]
    assert cluster.status["steps"][0]["reason"] == "DeadlineExceeded", "the retry lands past it"


def test_times_in_status_far_from_now_do_not_overflow() -> None:
    for start in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        flow = jobflow("old", step("a"), executionPolicy={"activeDeadlineSeconds": 315_360_000})
        flow["status"] = {"phase": "Running", "startTime": start}
        cluster = FakeMetacontroller(flow, T0)
        response = answer(cluster)
        assert response["status"]["startTime"] == start, "RFC 3339: four-digit years"
        assert response.get("resyncAfterSeconds", 0) <= 315_360_000


def test_reserved_metadata_in_templates_is_refused_with_its_path() -> None:
    template = step("a")["template"]
    template["metadata"] = {
        "labels": {"controller-uid": "x"},
        "annotations": {"metacontroller.k8s.io/last-applied-configuration": "{}"},
    }
    template["spec"]["template"]["metadata"] = {
        "labels": {"workflow.zen.io/step": "b", "batch.kubernetes.io/job-name": "j"}
    }
    flow = jobflow("res", step("a", template=template, metadata={"labels": {"jobflow": "other"}}))
    response = answer(FakeMetacontroller(flow, T0))
    message = next(c for c in response["status"]["conditions"] if c["type"] == "InvalidSpec")[
        "message"
    ]
    job, pod = "spec.steps[0].template.metadata", "spec.steps[0].template.spec.template.metadata"
    for problem in (
        f'{job}.labels["controller-uid"]: reserved label, set by Metacontroller',
        f'{job}.annotations["metacontroller.k8s.io/last-applied-configuration"]: '
        "reserved annotation, set by Metacontroller",
        f'{pod}.labels["workflow.zen.io/step"]: reserved label, set by zen-flow',
        f'{pod}.labels["batch.kubernetes.io/job-name"]: reserved label, set by the Job controller',
        'spec.steps[0].metadata.labels["jobflow"]: reserved label, set by zen-flow',
    ):
        assert problem in message


def test_reserved_metadata_never_reaches_a_job() -> None:
    """Even past validation (defence in depth), rendering drops what others own."""
    from zen_flow.api.spec import JobFlowSpec
    from zen_flow.engine.children import render_job
    from zen_flow.engine.plan.attempts import JobToCreate

    template = step("a")["template"]
    template["metadata"] = {
        "labels": {"controller-uid": "x", "team": "t"},
        "annotations": {"metacontroller.k8s.io/x": "y"},
    }
    template["spec"]["template"]["metadata"] = {"labels": {"workflow.zen.io/attempt": "7"}}
    spec = JobFlowSpec.model_validate({"steps": [step("a", template=template)]})
    job = render_job(FLOW, spec, JobToCreate(spec.steps[0], 1, "f-a-1", None), suspend=False)
    assert job["metadata"]["labels"]["team"] == "t"
    assert "controller-uid" not in job["metadata"]["labels"]
    assert "annotations" not in job["metadata"]
    assert job["spec"]["template"]["metadata"]["labels"]["workflow.zen.io/attempt"] == "1"


def test_encoded_answers_are_the_same_for_the_same_request() -> None:
    cluster = finished(flow_with_configmap())
    tamper(cluster, "ConfigMap", "esc-cfg", PRIVILEGED_JOB)
    body = json.dumps(cluster.request()).encode()
    first = encode_response(sync(decode_request(body), cluster.now).response)
    assert first == encode_response(sync(decode_request(body), cluster.now).response)
