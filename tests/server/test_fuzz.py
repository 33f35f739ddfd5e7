"""A mutation fuzzer over real hook requests: whatever a namespace user (or a broken client)
puts into a request, the answer keeps the trust boundary.

The corpus is Metacontroller-shaped requests recorded while simulated flows ran (resource
templates, retries, ``when``, suspension, finished and failed flows). Each case mutates one
of them (any value replaced by arbitrary JSON, keys deleted, a child's last-applied
annotation rewritten to describe another object, labels and numbers and times made odd)
and sends it to the app. Every answer must be: not a 5xx; if a 200, only Jobs, ConfigMaps
and PVCs, only in the flow's namespace, each once, and every observed child kept unless
finalizing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED
from zen_flow.server.app import create_app
from zen_flow.server.settings import Settings
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import in_process

CHILD_TYPES = {("batch/v1", "Job"), ("v1", "ConfigMap"), ("v1", "PersistentVolumeClaim")}
CASES = 2000

Json = Any
Path = tuple[str | int, ...]


def corpus_flows() -> Iterator[dict[str, Any]]:
    retry = {"limit": 2, "backoff": {"type": "Fixed", "duration": "5s"}}
    yield jobflow(
        "res",
        step("a", retryPolicy=retry),
        step("b", "a", when="steps.a.phase == 'Succeeded'"),
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "cfg"}, "data": {"k": "v"}}],
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {}},
                }
            ],
        },
    )
    yield jobflow(
        "ops",
        step("build", outputs={"parameters": [{"name": "version"}]}),
        step("gate", "build", type="Approval", template=None),
        step(
            "deploy",
            "gate",
            inputs={
                "parameters": [
                    {
                        "name": "V",
                        "valueFrom": {"stepOutput": {"step": "build", "parameter": "version"}},
                    }
                ]
            },
        ),
        executionPolicy={"concurrencyPolicy": "Replace"},
    )
    yield jobflow(
        "dag",
        step("a"),
        step("b", "a", continueOnFailure=True, retryPolicy=retry),
        step("c", "a"),
        step("d", "b", "c", when="steps.b.phase == 'Failed' || steps['c'].phase != 'Skipped'"),
        executionPolicy={"activeDeadlineSeconds": 600, "backoffLimit": 3},
    )
    work = {
        "name": "work",
        "parameters": [{"name": "what"}],
        "template": {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "image": "busybox:1.36",
                                "command": ["echo", "{{params.what}}"],
                            }
                        ]
                    }
                }
            }
        },
    }
    yield jobflow(
        "large",
        {
            "name": "list",
            "templateRef": "work",
            "arguments": {"what": "list"},
            "outputs": {"parameters": [{"name": "version"}]},
        },
        step("each", "list", withItems=["a", 1, {"b": [2]}], parallelism=2, retryPolicy=retry),
        step("param", "list", withParam={"step": "list", "parameter": "version"}),
        templates=[work],
        **{
            "finally": [
                step("cleanup"),
                step("report", "cleanup", when="flow.phase == 'Failed' && flow.reason != ''"),
            ]
        },
    )


@cache
def corpus() -> tuple[bytes, ...]:
    """Requests recorded along simulated runs, suspension and failures included."""
    recorded = []
    for index, flow in enumerate(corpus_flows()):
        cluster = FakeMetacontroller(flow, T0)
        for round_ in range(12):
            recorded.append(json.dumps(cluster.request()).encode())
            cluster.call(in_process)
            for job_number, job in enumerate(cluster.jobs()):
                if is_active(job):
                    ok = (round_ + job_number + index) % 3 != 0
                    finish_job(cluster, job["metadata"]["name"], ok, outputs={"version": "1.0"})
            annotations = cluster.flow["metadata"].setdefault("annotations", {})
            if round_ == 3:
                annotations["workflow.zen.io/approve-gate"] = "true"
            if round_ == 4:
                annotations["workflow.zen.io/suspended"] = "true"
            if round_ == 6:
                annotations.pop("workflow.zen.io/suspended")
            if round_ == 8:
                annotations["workflow.zen.io/terminate"] = "true"
            if round_ == 9:
                del annotations["workflow.zen.io/terminate"]
                annotations["workflow.zen.io/rerun"] = "again"
            cluster.now += timedelta(seconds=7)
        recorded.append(json.dumps(cluster.request()).encode())
        recorded.append(json.dumps(cluster.request(finalizing=True)).encode())
    return tuple(recorded)


def objects(children: Json) -> Iterator[dict[str, Any]]:
    """The child objects of a (perhaps already mutated) request's children map."""
    for by_key in children.values() if isinstance(children, dict) else ():
        for obj in by_key.values() if isinstance(by_key, dict) else ():
            if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
                yield obj


def paths(value: Json, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def at(value: Json, path: Path) -> Json:
    for part in path:
        value = value[part]
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "²",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "99999999h",
            "kube-system",
            "Job",
            "Secret",
            "true",
            "steps.a.phase == 'Succeeded'",
            "[1,2].exists(x, x > 1)",
            "A" * 300,
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
foreign = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["batch/v1", "v1", "rbac.authorization.k8s.io/v1", ""]),
        "kind": st.sampled_from(["Job", "ConfigMap", "Secret", "ClusterRoleBinding", ""]),
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["owned", "res-cfg", "", "x" * 300]),
                "namespace": st.sampled_from(["kube-system", "team-a", "", "other"]),
            },
        ),
        "spec": json_values,
    }
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A recorded request with one to four mutations; and whether it is a finalize call."""
    request = json.loads(draw(st.sampled_from(corpus())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["value", "delete", "annotation", "label", "number"]))
        if kind == "annotation" or kind == "label":
            children = [obj for obj in objects(request.get("children")) if "metadata" in obj]
            if not children:
                continue
            meta = draw(st.sampled_from(children))["metadata"]
            for field in ("labels", "annotations"):
                if not isinstance(meta.get(field), dict):
                    meta[field] = {}
            if kind == "annotation":
                applied = draw(st.one_of(foreign.map(json.dumps), st.text(max_size=30)))
                meta["annotations"][ANNOTATION_LAST_APPLIED] = applied
            else:
                key = draw(
                    st.sampled_from(
                        ["workflow.zen.io/step", "workflow.zen.io/attempt", "controller-uid"]
                    )
                )
                meta["labels"][key] = draw(st.text(max_size=12))
            continue
        everywhere = list(paths(request))[1:]
        path = draw(st.sampled_from(everywhere))
        parent, last = at(request, path[:-1]), path[-1]
        if kind == "delete" and isinstance(parent, dict):
            del parent[last]
        elif kind == "number":
            parent[last] = draw(st.sampled_from([0, -1, 2**31, 2**63, 10**20, 1e308, 0.5]))
        else:
            parent[last] = draw(json_values)
    finalizing = bool(request.get("finalizing"))
    return json.dumps(request).encode(), finalizing


def check(request_body: bytes, finalizing: bool, code: int, body: bytes) -> None:
    assert code < 500, body
    if code != 200:
        return
    answer = json.loads(body)
    assert set(answer) <= {"status", "children", "resyncAfterSeconds", "finalized"}
    assert isinstance(answer["status"], dict)
    request = json.loads(request_body)
    namespace = request["parent"]["metadata"]["namespace"]
    listed: set[tuple[str, str]] = set()
    for child in answer["children"]:
        assert (child["apiVersion"], child["kind"]) in CHILD_TYPES, child
        # Metacontroller gives a child without a namespace, or with an empty one, the parent's.
        assert child["metadata"].get("namespace") in (None, "", namespace), child
        key = (child["kind"], child["metadata"]["name"])
        assert key not in listed, key
        listed.add(key)
    if finalizing:
        return
    observed = {(obj["kind"], obj["metadata"]["name"]) for obj in objects(request.get("children"))}
    dropped = observed - listed
    assert all(kind == "Job" for kind, _ in dropped), dropped
    if dropped:  # only running Jobs, and only when terminating or rerunning asks for it
        parent = request["parent"]
        asked = parent["metadata"].get("annotations") or {}
        status = parent.get("status") if isinstance(parent.get("status"), dict) else {}
        assert asked.get("workflow.zen.io/terminate", "").strip().lower() == "true" or (
            asked.get("workflow.zen.io/rerun") or status.get("reason") == "Terminated"
        ), dropped
        jobs = {o["metadata"]["name"]: o for o in objects(request.get("children"))}
        assert all(is_active(jobs[name]) for _, name in dropped), dropped


@cache
def client() -> FlaskClient:
    return create_app(Settings(test_clock=True, log_level="critical")).test_client()


@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=mutated())
def test_no_mutated_request_breaks_the_boundary(case: tuple[bytes, bool]) -> None:
    body, finalizing = case
    path = "/finalize" if finalizing else "/sync"
    answer = client().post(path, data=body, headers={"X-Zen-Flow-Now": "2026-03-01T12:05:00Z"})
    check(body, finalizing, answer.status_code, answer.get_data())


def test_the_corpus_is_answered_as_it_was_recorded() -> None:
    """Guard the fuzzer itself: its unmutated requests are good ones."""
    for body in corpus():
        request = json.loads(body)
        answer = client().post("/finalize" if request["finalizing"] else "/sync", data=body)
        assert answer.status_code == 200
        check(body, request["finalizing"], 200, answer.get_data())
    assert len(corpus()) > 20
    assert any(copy.deepcopy(json.loads(b))["children"]["ConfigMap.v1"] for b in corpus())
