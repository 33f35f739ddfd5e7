"""Decoding requests: what is not a hook request from Metacontroller is refused, naming why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.flows import T0, jobflow, step
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import MAX_JSON_DEPTH, WireError, decode_request, encode_response

DEEPER = b"[" * (MAX_JSON_DEPTH * 3) + b"]" * (MAX_JSON_DEPTH * 3)


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"parent": jobflow("f", step("a")), "children": {"Job.batch/v1": {}}}
    body.update(changes)
    return body


def child(kind: str = "Job", api_version: str = "batch/v1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "c", **meta}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps(request()).encode().replace(b'"name": "f"', b'"name": "f\\xff"'), "not UTF-8"),
        (
            json.dumps(request()).encode().replace(b'"name": "f"', b'"name": "F_1"'),
            "parent.metadata.name",
        ),
        (
            json.dumps(request()).encode().replace(b'"namespace": "team-a"', b'"namespace": ""'),
            "namespace",
        ),
        (json.dumps(request()).encode().replace(b'"uid": "uid-f"', b'"uid": ""'), "uid"),
        (json.dumps(request(children={"Pod.v1": {}})).encode(), "unknown child type 'Pod.v1'"),
        (
            json.dumps(request(children={"Job.batch/v1": {"c": child("Pod", "v1")}})).encode(),
            "a Pod among the Jobs",
        ),
        (
            json.dumps(
                request(children={"Job.batch/v1": {"c": child(namespace="kube-system")}})
            ).encode(),
            "is not the parent's",
        ),
        (
            json.dumps(request(children={"Job.batch/v1": {"c": child(name="A/B")}})).encode(),
            "not a Kubernetes name",
        ),
        (
            json.dumps(request()).encode().replace(b'"steps"', b'"x": ' + DEEPER + b', "steps"'),
            "nested deeper",
        ),
    ],
    ids=[
        "utf-8",
        "name",
        "namespace",
        "uid",
        "type",
        "kind",
        "child namespace",
        "child name",
        "depth",
    ],
)
def test_what_metacontroller_never_sends_is_refused(body: bytes, message: str) -> None:
    if message == "not UTF-8":
        body = body.replace(b"\\xff", b"\xff")
    with pytest.raises(WireError, match=message):
        decode_request(body)


def test_json_as_deep_as_kubernetes_allows_is_answered() -> None:
    """The API server keeps up to 10000 levels in a pod template: the flow gets InvalidSpec,
    its children are kept."""
    flow = jobflow("f", step("a"))
    flow["spec"]["steps"][0]["template"]["spec"]["template"]["spec"]["x"] = "DEEP"
    deep = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"x": "DEEP"},
    }
    body = json.dumps(request(parent=flow, children={"Job.batch/v1": {"j": deep}})).encode()
    body = body.replace(b'"DEEP"', b"[" * 9000 + b"]" * 9000)
    answer = json.loads(encode_response(sync(decode_request(body), T0).response))
    assert answer["status"]["reason"] == "InvalidSpec"
    problems = next(c for c in answer["status"]["conditions"] if c["type"] == "InvalidSpec")
    assert problems["message"].startswith(
        "spec.steps[0].template.spec.template.spec.x[0][0][0][0]...: nested more than 200"
    )
    assert [c["metadata"]["name"] for c in answer["children"]] == ["j"]
