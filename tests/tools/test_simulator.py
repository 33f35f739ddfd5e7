"""The simulator's fake Metacontroller keeps objects as bytes: what it sends and applies must
be exactly what it would with the objects as dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.flows import T0, jobflow, step
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED, CHILD_JOBS
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import ApplyError, FakeMetacontroller
from zen_flow.tools.sim.timeline import EventKind, StatusView, Timeline
from zen_flow.tools.sim.transports import in_process


def started(*steps: dict[str, Any]) -> FakeMetacontroller:
    cluster = FakeMetacontroller(jobflow("f", *steps), T0)
    cluster.call(in_process)
    cluster.take_back()
    return cluster


def job_names(cluster: FakeMetacontroller) -> list[str]:
    return [name for kind, name in cluster.children if kind == "Job"]


def test_request_bytes_are_the_request() -> None:
    cluster = started(step("a"), step("b"))
    assert json.loads(cluster.request_bytes()) == cluster.request()
    assert json.loads(cluster.request_bytes(finalizing=True))["finalizing"] is True


def test_a_child_handed_out_is_sent_as_edited_later() -> None:
    cluster = started(step("a"))
    [name] = job_names(cluster)
    job = cluster.children[("Job", name)]
    cluster.request_bytes()
    job["metadata"]["labels"]["edited"] = "later"
    sent = json.loads(cluster.request_bytes())["children"][CHILD_JOBS][f"team-a/{name}"]
    assert sent["metadata"]["labels"]["edited"] == "later"


def test_the_flow_handed_out_is_sent_as_edited_later() -> None:
    cluster = started(step("a"))
    flow = cluster.flow
    cluster.request_bytes()
    flow["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    sent = json.loads(cluster.request_bytes())["parent"]
    assert sent["metadata"]["annotations"] == {"workflow.zen.io/suspended": "true"}
    assert sent["status"] == cluster.status


def test_an_edit_by_the_job_controller_is_sent_once_taken_back() -> None:
    cluster = started(step("a"))
    [name] = job_names(cluster)
    finish_job(cluster, name, succeeded=True)
    sent = json.loads(cluster.request_bytes())["children"][CHILD_JOBS][f"team-a/{name}"]
    assert sent["status"]["conditions"][0]["type"] == "Complete"


def test_a_child_reemitted_as_last_applied_changes_nothing() -> None:
    cluster = started(step("a"))
    [name] = job_names(cluster)
    applied = cluster.children.peek(("Job", name))["metadata"]["annotations"]
    text = applied[ANNOTATION_LAST_APPLIED]
    answer = {"status": cluster.status, "children": [json.loads(text)]}
    assert cluster.apply(answer) == []
    assert cluster.apply_bytes(b'{"status":{},"children":[' + text.encode() + b"]}") == []


def test_a_known_child_listed_twice_is_refused() -> None:
    cluster = started(step("a"))
    [name] = job_names(cluster)
    text = cluster.children.peek(("Job", name))["metadata"]["annotations"]
    body = text[ANNOTATION_LAST_APPLIED].encode()
    with pytest.raises(ApplyError, match="listed twice"):
        cluster.apply_bytes(b'{"status":{},"children":[' + body + b"," + body + b"]}")


def test_a_suspend_toggle_is_an_update_and_a_left_out_child_is_deleted() -> None:
    cluster = started(step("a"), step("b"))
    first, second = job_names(cluster)
    job = json.loads(
        cluster.children.peek(("Job", first))["metadata"]["annotations"][ANNOTATION_LAST_APPLIED]
    )
    job["spec"]["suspend"] = True
    changes = cluster.apply({"status": {}, "children": [job]})
    assert [(c.action, c.name) for c in changes] == [("deleted", second), ("updated", first)]
    assert cluster.children.peek(("Job", first))["spec"]["suspend"] is True


def test_timeline_reads_only_the_steps_that_changed() -> None:
    timeline = Timeline(T0, {})
    before = StatusView.of(
        b'{"phase":"Running","steps":[{"name":"a","phase":"Running"},{"name":"b","phase":"Pending"}]}'
    )
    after = StatusView.of(
        b'{"phase":"Running","steps":[{"name":"a","phase":"Succeeded","reason":"JobComplete"},'
        b'{"name":"b","phase":"Pending"}]}'
    )
    timeline.steps(T0, before, after)
    timeline.flow(T0, before, after)
    assert [(e.kind, e.message) for e in timeline.events] == [
        (EventKind.STEP_PHASE, "step a: Running -> Succeeded (JobComplete)")
    ]
    assert StatusView.of(b"null") == StatusView.of(None)
