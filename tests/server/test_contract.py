"""Contract tests: whole flows driven through the real gunicorn server, as Metacontroller does.

Each scenario applies the server's answer to a stand-in cluster (create, update, delete
children; replace status), lets Jobs finish, and calls again.
"""

from __future__ import annotations

import copy
import http.client
import json
import urllib.request
from typing import Any

import pytest

from tests.support.flows import T0, at, jobflow, step
from zen_flow.tools.sim.jobs import finish_job
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport


def names_of_running_jobs(cluster: FakeMetacontroller) -> list[str]:
    return sorted(
        j["metadata"]["labels"]["workflow.zen.io/step"]
        for j in cluster.jobs()
        if not (j.get("status") or {}).get("conditions")
    )


def phases(cluster: FakeMetacontroller) -> dict[str, str]:
    return {s["name"]: s["phase"] for s in cluster.status["steps"]}


def condition(cluster: FakeMetacontroller, kind: str) -> dict[str, Any]:
    return next(c for c in cluster.status["conditions"] if c["type"] == kind)


def finish(
    cluster: FakeMetacontroller, step_name: str, succeeded: bool = True, attempt: int = 1
) -> None:
    job = cluster.job(step_name, attempt)
    assert job is not None, f"no Job for {step_name} attempt {attempt}"
    finish_job(cluster, job["metadata"]["name"], succeeded)


def test_linear_chain_runs_one_step_at_a_time_to_completion(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(jobflow("chain", step("a"), step("b", "a"), step("c", "b")), T0)
    for expected in ("a", "b", "c"):
        cluster.call(http)
        assert names_of_running_jobs(cluster) == [expected]
        cluster.now = cluster.now.replace(minute=cluster.now.minute + 1)
        finish(cluster, expected)
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"
    assert cluster.status["progress"]["summary"] == "3/3"
    assert condition(cluster, "Complete")["status"] == "True"
    assert cluster.status["completionTime"]
    assert len(cluster.jobs()) == 3


def test_diamond_starts_both_branches_in_the_same_sync(http: HttpTransport) -> None:
    flow = jobflow("diamond", step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    finish(cluster, "a")
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["b", "c"]
    finish(cluster, "b")
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["c"], "d waits for c"
    finish(cluster, "c")
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["d"]
    finish(cluster, "d")
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"


def test_fan_in_waits_for_every_dependency(http: HttpTransport) -> None:
    flow = jobflow("fanin", step("x"), step("y"), step("z"), step("w", "x", "y", "z"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["x", "y", "z"]
    for name in ("x", "y"):
        finish(cluster, name)
        cluster.call(http)
        assert "w" not in names_of_running_jobs(cluster)
    finish(cluster, "z")
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["w"]


def test_failed_step_stops_new_starts_and_fails_the_flow(http: HttpTransport) -> None:
    flow = jobflow("stop", step("a"), step("b"), step("after-a", "a"), step("after-b", "b"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    finish(cluster, "a", succeeded=False)
    cluster.call(http)
    assert phases(cluster)["a"] == "Failed"
    assert phases(cluster)["after-a"] == "Skipped"
    assert phases(cluster)["after-b"] == "Skipped", "no new start anywhere after a failure"
    assert phases(cluster)["b"] == "Running", "running steps finish"
    assert cluster.status["phase"] == "Running"
    finish(cluster, "b")
    cluster.call(http)
    assert cluster.status["phase"] == "Failed"
    assert condition(cluster, "Failed")["status"] == "True"
    skipped = next(s for s in cluster.status["steps"] if s["name"] == "after-a")
    assert skipped["reason"] == "UpstreamFailed"
    assert cluster.job("after-b") is None


def test_continue_on_failure_lets_dependents_run(http: HttpTransport) -> None:
    flow = jobflow("tolerant", step("flaky", continueOnFailure=True), step("next", "flaky"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    finish(cluster, "flaky", succeeded=False)
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["next"]
    finish(cluster, "next")
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"
    assert cluster.status["progress"]["failedSteps"] == 1


def test_spec_that_becomes_invalid_mid_run_keeps_children_and_recovers(
    http: HttpTransport,
) -> None:
    cluster = FakeMetacontroller(jobflow("edit", step("a"), step("b", "a")), T0)
    cluster.call(http)
    finish(cluster, "a")
    cluster.call(http)
    children_before = copy.deepcopy(cluster.children)
    good_spec = copy.deepcopy(cluster.flow["spec"])
    cluster.flow["spec"]["steps"][1]["dependencies"] = ["lod"]
    cluster.flow["metadata"]["generation"] = 2
    cluster.call(http)
    assert cluster.status["phase"] == "Failed"
    assert cluster.status["reason"] == "InvalidSpec"
    invalid = condition(cluster, "InvalidSpec")
    assert invalid["status"] == "True"
    assert 'spec.steps[1].dependencies[0]: unknown step "lod"' in invalid["message"]
    assert invalid["observedGeneration"] == 2
    assert cluster.children == children_before, "every child re-emitted unchanged"
    assert phases(cluster) == {"a": "Succeeded", "b": "Running"}
    cluster.flow["spec"] = good_spec
    cluster.call(http)
    assert cluster.status["phase"] == "Running"
    assert condition(cluster, "InvalidSpec")["status"] == "False"
    assert phases(cluster)["a"] == "Succeeded", "recorded results stay"
    finish(cluster, "b")
    cluster.call(http)
    assert cluster.status["phase"] == "Succeeded"


def test_cycle_is_reported_with_its_steps(http: HttpTransport) -> None:
    flow = jobflow("loop", step("a", "c"), step("b", "a"), step("c", "b"))
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    assert cluster.status["reason"] == "InvalidSpec"
    assert "dependency cycle: a -> c -> b -> a" in condition(cluster, "InvalidSpec")["message"]
    assert cluster.jobs() == []


def test_edited_template_does_not_touch_the_running_job(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(jobflow("retemplate", step("a"), step("b", "a")), T0)
    cluster.call(http)
    running = copy.deepcopy(cluster.jobs()[0])
    for item in cluster.flow["spec"]["steps"]:
        item["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    cluster.call(http)  # FakeMetacontroller raises on any immutable-field change
    assert cluster.jobs()[0] == running
    finish(cluster, "a")
    cluster.call(http)
    job_b = cluster.job("b")
    assert job_b is not None
    assert job_b["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_finalize_removes_running_jobs_first_then_the_rest(http: HttpTransport) -> None:
    flow = jobflow(
        "bye",
        step("a"),
        step("b"),
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "cfg"}, "data": {"k": "v"}}]
        },
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    cluster.call(http)  # ConfigMap observed: steps start
    finish(cluster, "a")
    cluster.call(http)
    assert {k for k, _ in cluster.children} == {"ConfigMap", "Job"}
    answer = cluster.call(http, finalizing=True)
    assert answer["finalized"] is False
    remaining = sorted(name for _, name in cluster.children)
    assert cluster.job("b") is None, "the running Job goes first"
    assert cluster.job("a") is not None and "bye-cfg" in remaining
    answer = cluster.call(http, finalizing=True)
    assert answer["finalized"] is False
    assert cluster.children == {}
    answer = cluster.call(http, finalizing=True)
    assert answer["finalized"] is True
    assert "status" in answer


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_hook_versions_v1_and_v2_give_the_same_answers(http: HttpTransport, version: str) -> None:
    cluster = FakeMetacontroller(
        jobflow("keys", step("a"), step("b", "a")), T0, hook_version=version
    )
    cluster.call(http)
    finish(cluster, "a")
    cluster.call(http)
    assert names_of_running_jobs(cluster) == ["b"]
    finish(cluster, "b")
    answer = cluster.call(http)
    assert set(answer) <= {"status", "children", "resyncAfterSeconds", "finalized"}
    assert cluster.status["phase"] == "Succeeded"


def test_resource_templates_are_created_first_and_referenced_by_short_name(
    http: HttpTransport,
) -> None:
    pod = {
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "scratch"}},
            {"name": "conf", "configMap": {"name": "settings"}},
        ]
    }
    a = step("a")
    a["template"]["spec"]["template"]["spec"].update(pod)
    a["template"]["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "settings"}}
    ]
    flow = jobflow(
        "res",
        a,
        resourceTemplates={
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "scratch"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
            "configMapTemplates": [{"metadata": {"name": "settings"}, "data": {"mode": "fast"}}],
        },
    )
    cluster = FakeMetacontroller(flow, T0)
    cluster.call(http)
    assert cluster.jobs() == [], "steps wait until the resources are observed"
    assert ("PersistentVolumeClaim", "res-scratch") in cluster.children
    assert ("ConfigMap", "res-settings") in cluster.children
    cluster.call(http)
    job = cluster.job("a")
    assert job is not None
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "res-scratch"
    assert pod_spec["volumes"][1]["configMap"]["name"] == "res-settings"
    assert pod_spec["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "res-settings"


# -- malformed requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "object"),
        (b'{"children": {}}', "parent"),
        (b'{"parent": {"metadata": {"name": 3}}}', "parent.metadata.name"),
        (b'{"parent": {"metadata": {}}, "children": []}', "children"),
        (b"", "empty"),
    ],
)
def test_malformed_requests_get_400_naming_the_problem(
    http: HttpTransport, body: bytes, fragment: str
) -> None:
    code, answer = http.post("/sync", body)
    assert code == 400
    error = json.loads(answer)["error"]
    assert fragment in error
    assert "Traceback" not in error


def test_oversize_body_gets_413(server: str) -> None:
    # The server answers from Content-Length, before reading the body.
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/sync")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(9 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"{" + b" " * 1024)
    answer = connection.getresponse()
    assert answer.status == 413
    assert "larger than" in json.loads(answer.read())["error"]
    connection.close()


def test_unknown_method_and_path_are_json_errors(server: str) -> None:
    for path, method in (("/sync", "GET"), ("/nowhere", "GET")):
        request = urllib.request.Request(server + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code in (404, 405)
        assert "error" in json.loads(raised.value.read())


def test_health_and_readiness(server: str) -> None:
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(server + path, timeout=10) as answer:
            assert answer.status == 200


def test_metrics_count_real_requests_across_workers(http: HttpTransport, server: str) -> None:
    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(server + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
        samples = {}
        for line in text.splitlines():
            if line.startswith("zen_flow_") and " " in line:
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    before = scrape()
    cluster = FakeMetacontroller(jobflow("metrics", step("a"), step("b")), T0)
    for _ in range(5):
        cluster.call(http)
    http.post("/sync", b"nope")
    after = scrape()
    ok = 'zen_flow_hook_requests_total{code="200",hook="sync"}'
    bad = 'zen_flow_hook_requests_total{code="400",hook="sync"}'
    assert after[ok] - before.get(ok, 0) == 5
    assert after[bad] - before.get(bad, 0) == 1
    created = "zen_flow_jobs_created_total"
    assert after[created] - before.get(created, 0) == 2
    assert after['zen_flow_hook_request_duration_seconds_count{hook="sync"}'] >= 6


def test_test_clock_header_is_ignored_unless_enabled(server_log: tuple[str, Any]) -> None:
    base, _ = server_log
    cluster = FakeMetacontroller(jobflow("clock", step("a")), T0)
    cluster.call(HttpTransport(base))
    assert cluster.status["startTime"] != "2026-03-01T12:00:00Z"
    assert cluster.status["startTime"] > "2026-11-01"


def test_log_lines_are_json_with_the_flow(server_log: tuple[str, Any]) -> None:
    base, log = server_log
    request = FakeMetacontroller(jobflow("logged", step("a")), T0).request()
    request["children"] = {"Job.batch/v1": {"x": {"metadata": {"labels": 5}}}}
    code, _ = HttpTransport(base).post("/sync", json.dumps(request).encode())
    assert code == 400
    FakeMetacontroller(jobflow("logged", step("a")), T0).call(HttpTransport(base))
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # gunicorn's own lines too
    assert any(r["logger"] == "gunicorn.error" for r in records)
    assert any(r.get("message", "").startswith("hook sync answered 400") for r in records)
    started = [r for r in records if r.get("message") == "flow is now Running (Started)"]
    assert {"namespace": "team-a", "name": "logged"} in [r.get("flow") for r in started]
    assert all(r["time"].endswith("+00:00") for r in records)
    assert not any(r.get("code") == 200 for r in records), "answered calls are debug lines"


def test_same_request_same_clock_same_bytes(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(jobflow("same", step("a"), step("b", "a")), T0)
    cluster.call(http)
    body = json.dumps(cluster.request()).encode()
    first = http.post("/sync", body, at(30))
    second = http.post("/sync", body, at(30))
    assert first == second
