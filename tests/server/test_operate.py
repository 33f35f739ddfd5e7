"""Operating flows through the real server: terminate, rerun (with each concurrency policy),
approval gates, and step outputs read from pods; each also asked twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.support.flows import T0, jobflow, step
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport

TERMINATE = "workflow.zen.io/terminate"
RERUN = "workflow.zen.io/rerun"


def annotate(cluster: FakeMetacontroller, key: str, value: str | None) -> None:
    annotations = cluster.flow["metadata"].setdefault("annotations", {})
    if value is None:
        annotations.pop(key, None)
    else:
        annotations[key] = value


def steps(cluster: FakeMetacontroller) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cluster.status["steps"]}


def finish(cluster: FakeMetacontroller, name: str, ok: bool = True, **outputs: Any) -> None:
    job = cluster.job(name, steps(cluster)[name]["attempt"])
    assert job is not None, f"no Job of {name}"
    finish_job(cluster, job["metadata"]["name"], ok, outputs=outputs or None)


def settle(cluster: FakeMetacontroller, http: HttpTransport, calls: int = 3) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for _ in range(calls):
        answer = cluster.call(http)
    return answer


def chain() -> dict[str, Any]:
    return jobflow("ops", step("a"), step("b", "a"), step("c", "b"))


# --- terminate ----------------------------------------------------------------------------


def test_terminate_deletes_running_jobs_skips_the_rest_and_sticks(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(chain(), T0)
    settle(cluster, http)
    finish(cluster, "a")
    settle(cluster, http)
    running = cluster.job("b")
    assert running is not None and is_active(running)
    annotate(cluster, TERMINATE, "true")
    settle(cluster, http)
    assert cluster.job("b") is None, "the running Job is deleted"
    assert cluster.job("a") is not None, "finished Jobs are kept"
    state = steps(cluster)
    assert (state["a"]["phase"], state["b"]["reason"], state["c"]["reason"]) == (
        "Succeeded",
        "Terminated",
        "Terminated",
    )
    assert (cluster.status["phase"], cluster.status["reason"]) == ("Failed", "Terminated")
    before = json.dumps(cluster.status, sort_keys=True)
    annotate(cluster, TERMINATE, "true")  # asked again
    settle(cluster, http)
    annotate(cluster, TERMINATE, None)  # and withdrawn: still terminated
    settle(cluster, http)
    assert json.dumps(cluster.status, sort_keys=True) == before
    assert not any(is_active(job) for job in cluster.jobs())


def test_terminate_works_while_suspended(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(chain(), T0)
    settle(cluster, http)
    annotate(cluster, "workflow.zen.io/suspended", "true")
    settle(cluster, http)
    assert cluster.status["phase"] == "Suspended"
    annotate(cluster, TERMINATE, "true")
    settle(cluster, http)
    assert cluster.status["reason"] == "Terminated" and cluster.jobs() == []


# --- rerun --------------------------------------------------------------------------------


def failed_flow(http: HttpTransport, **policy: Any) -> FakeMetacontroller:
    flow = jobflow(
        "again",
        step("a"),
        step("b", "a", retryPolicy={"limit": 1, "backoff": {"type": "Fixed", "duration": "1s"}}),
        step("c", "b"),
        executionPolicy={"backoffLimit": 1, **policy},
    )
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    finish(cluster, "a")
    settle(cluster, http)
    finish(cluster, "b", ok=False)
    settle(cluster, http)
    cluster.now += timedelta(seconds=2)
    settle(cluster, http)
    finish(cluster, "b", ok=False)
    settle(cluster, http)
    assert cluster.status["phase"] == "Failed"
    return cluster


def test_rerun_reruns_failed_and_skipped_steps_once_with_fresh_budgets(
    http: HttpTransport,
) -> None:
    cluster = failed_flow(http)
    first_a = cluster.job("a")
    annotate(cluster, RERUN, "t1")
    settle(cluster, http)
    state = steps(cluster)
    assert cluster.status["phase"] == "Running" and cluster.status["reason"] == "Rerun"
    assert cluster.status["rerun"]["token"] == "t1"
    running = next(c for c in cluster.status["conditions"] if c["type"] == "Running")
    assert running["status"] == "True" and "rerun t1" in running["message"]
    assert state["a"]["phase"] == "Succeeded" and cluster.job("a") == first_a, "kept"
    assert state["b"]["attempt"] == 3 and state["b"]["priorAttempts"] == 2
    assert cluster.job("b", 1) is not None and cluster.job("b", 2) is not None, "kept for logs"
    finish(cluster, "b", ok=False)  # the retry budget starts afresh: one retry again
    settle(cluster, http)
    assert steps(cluster)["b"]["reason"] == "BackoffWait"
    cluster.now += timedelta(seconds=2)
    settle(cluster, http)
    finish(cluster, "b")
    settle(cluster, http)
    finish(cluster, "c")
    settle(cluster, http)
    assert cluster.status["phase"] == "Succeeded"
    jobs = len(cluster.jobs())
    settle(cluster, http)  # the same token again does nothing
    assert cluster.status["phase"] == "Succeeded" and len(cluster.jobs()) == jobs


def test_forbid_waits_for_the_run_to_end(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(jobflow("wait", step("a"), step("b", continueOnFailure=True)), T0)
    settle(cluster, http)
    finish(cluster, "b", ok=False)
    settle(cluster, http)
    annotate(cluster, RERUN, "soon")
    settle(cluster, http)
    assert steps(cluster)["b"]["phase"] == "Failed", "not yet"
    assert "rerun soon waits for this run to end" in cluster.status["message"]
    finish(cluster, "a")
    settle(cluster, http)
    assert steps(cluster)["b"]["phase"] == "Running" and steps(cluster)["b"]["attempt"] == 2
    assert cluster.status["rerun"]["token"] == "soon"


def test_replace_stops_running_steps_and_starts_them_again(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(
        jobflow(
            "swap",
            step("a"),
            step("b", continueOnFailure=True),
            executionPolicy={"concurrencyPolicy": "Replace"},
        ),
        T0,
    )
    settle(cluster, http)
    finish(cluster, "b", ok=False)
    settle(cluster, http)
    old = cluster.job("a")
    assert old is not None
    annotate(cluster, RERUN, "now")
    settle(cluster, http)
    state = steps(cluster)
    assert cluster.job("a", 1) is None, "the running attempt is deleted"
    assert state["a"]["attempt"] == 2 and state["a"]["failedAttempts"][0]["reason"] == "Replaced"
    assert state["b"]["attempt"] == 2


def test_allow_starts_the_rerun_while_the_run_goes_on(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(
        jobflow(
            "both",
            step("a"),
            step("b", continueOnFailure=True),
            executionPolicy={"concurrencyPolicy": "Allow"},
        ),
        T0,
    )
    settle(cluster, http)
    finish(cluster, "b", ok=False)
    settle(cluster, http)
    annotate(cluster, RERUN, "parallel")
    settle(cluster, http)
    state = steps(cluster)
    assert state["a"]["attempt"] == 1 and is_active(cluster.job("a") or {})
    assert state["b"]["attempt"] == 2 and state["b"]["phase"] == "Running"


def test_terminate_then_rerun(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(chain(), T0)
    settle(cluster, http)
    annotate(cluster, TERMINATE, "true")
    settle(cluster, http)
    annotate(cluster, RERUN, "after")
    settle(cluster, http)
    assert cluster.status["reason"] == "Terminated", "terminate holds the rerun"
    annotate(cluster, TERMINATE, None)
    settle(cluster, http)
    assert cluster.status["phase"] == "Running"
    assert steps(cluster)["a"]["attempt"] == 2


# --- approval -----------------------------------------------------------------------------


def gated(**fields: Any) -> dict[str, Any]:
    return jobflow(
        "gate",
        step("build"),
        step("ok", "build", type="Approval", template=None, **fields),
        step("ship", "ok"),
    )


def test_an_approval_step_waits_then_approve_succeeds_it(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(gated(), T0)
    settle(cluster, http)
    finish(cluster, "build")
    settle(cluster, http)
    state = steps(cluster)["ok"]
    assert (state["phase"], state["reason"]) == ("Pending", "AwaitingApproval")
    assert "workflow.zen.io/approve-ok" in state["message"]
    assert cluster.status["reason"] == "AwaitingApproval"
    assert "waiting for approval of ok" in cluster.status["message"]
    annotate(cluster, "workflow.zen.io/approve-ok", "true")
    settle(cluster, http)
    assert steps(cluster)["ok"]["reason"] == "Approved"
    assert steps(cluster)["ship"]["phase"] == "Running"
    before = json.dumps(cluster.status, sort_keys=True)
    settle(cluster, http)  # approved twice: nothing more
    assert json.dumps(cluster.status, sort_keys=True) == before


def test_reject_fails_the_gate(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(gated(), T0)
    settle(cluster, http)
    finish(cluster, "build")
    annotate(cluster, "workflow.zen.io/approve-ok", "false")
    settle(cluster, http)
    state = steps(cluster)
    assert (state["ok"]["phase"], state["ok"]["reason"]) == ("Failed", "Rejected")
    assert state["ship"]["reason"] == "UpstreamFailed"
    assert cluster.status["phase"] == "Failed"


def test_waiting_for_approval_counts_against_the_deadline(http: HttpTransport) -> None:
    flow = gated()
    flow["spec"]["executionPolicy"] = {"activeDeadlineSeconds": 60}
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    finish(cluster, "build")
    settle(cluster, http)
    cluster.now += timedelta(seconds=61)
    settle(cluster, http)
    assert cluster.status["reason"] == "DeadlineExceeded"
    assert steps(cluster)["ok"]["reason"] == "DeadlineExceeded"


# --- outputs ------------------------------------------------------------------------------


def with_outputs() -> dict[str, Any]:
    consumer = step(
        "use",
        "make",
        when="steps.make.outputs.count == '3'",
        inputs={
            "parameters": [
                {
                    "name": "COUNT",
                    "valueFrom": {"stepOutput": {"step": "make", "parameter": "count"}},
                },
                {"name": "MODE", "value": "fast"},
            ]
        },
    )
    return jobflow("outs", step("make", outputs={"parameters": [{"name": "count"}]}), consumer)


def test_outputs_are_read_from_the_pod_and_given_to_dependents(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_outputs(), T0)
    settle(cluster, http)
    finish(cluster, "make", count=3)
    settle(cluster, http)
    assert steps(cluster)["make"]["outputs"] == {"count": "3"}
    job = cluster.job("use")
    assert job is not None, "the when read the output"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert {"name": "COUNT", "value": "3"} in container["env"]
    assert {"name": "MODE", "value": "fast"} in container["env"]
    cluster.pods.clear()  # pods garbage-collected: the outputs stay
    settle(cluster, http)
    assert steps(cluster)["make"]["outputs"] == {"count": "3"}


def test_a_declared_output_missing_fails_the_step_naming_it(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_outputs(), T0)
    settle(cluster, http)
    finish(cluster, "make", other="x")
    settle(cluster, http)
    state = steps(cluster)["make"]
    assert (state["phase"], state["reason"]) == ("Failed", "OutputMissing")
    assert '"count"' in state["message"]


def test_outputs_wait_for_the_pod_then_give_up(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_outputs(), T0)
    settle(cluster, http)
    job = cluster.job("make")
    assert job is not None
    finish_job(cluster, job["metadata"]["name"], True)  # no pod seen
    answer = settle(cluster, http)
    assert steps(cluster)["make"]["reason"] == "CollectingOutputs"
    cluster.now += timedelta(seconds=answer["resyncAfterSeconds"])
    settle(cluster, http)
    assert steps(cluster)["make"]["reason"] == "OutputsUnavailable"


def test_customize_asks_for_the_pods_of_steps_with_outputs(http: HttpTransport) -> None:
    for flow, expected in ((with_outputs(), ["make"]), (chain(), None)):
        code, body = http.post("/customize", json.dumps({"parent": flow}).encode())
        assert code == 200
        rules = json.loads(body)["relatedResources"]
        if expected is None:
            assert rules == []
            continue
        (rule,) = rules
        assert (rule["apiVersion"], rule["resource"]) == ("v1", "pods")
        selector = rule["labelSelector"]
        assert selector["matchLabels"] == {"workflow.zen.io/jobflow": flow["metadata"]["name"]}
        assert selector["matchExpressions"][0]["values"] == expected
