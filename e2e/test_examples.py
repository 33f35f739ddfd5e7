"""Every example in examples/ reaches the end state its comments promise, on a real cluster.

kwok does not run commands: where an example's program matters (it fails, it runs for
minutes), the scenario says so to kwok through the pod template (see e2e/flows.py). The
read-only kubectl commands in each example's header comment are run too: they must work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from e2e.cluster import Cluster
from e2e.flows import FAIL_LABEL
from e2e.kube import Kube, Obj, condition, steps_of
from e2e.scenario import (
    EXAMPLES,
    FlowWatch,
    assert_stays,
    attempts_by_step,
    comment_commands,
    example,
    job_by_step,
    make_fail,
    make_outputs,
    make_run_for,
)


def run_comment_commands(
    kube: Kube, name: str, namespace: str, ran: Sequence[list[str]] | None
) -> None:
    """The example's `kubectl get/wait` lines, in the scenario's namespace, but those the
    scenario ran itself at the moment they are meant for (``ran``)."""
    for command in comment_commands(name):
        verb = command[1]
        if verb not in ("get", "wait") or "--watch" in command or command in (ran or []):
            continue
        result = kube.kubectl(*command[1:], "-n", namespace)
        assert result.stdout.strip(), f"`{' '.join(command)}` printed nothing"


def wait_complete(kube: Kube, namespace: str, name: str) -> Obj:
    """The examples' own wait (`kubectl wait --for=condition=Complete`), which blocks until
    the condition holds; then the flow as it ended."""
    kube.kubectl(
        "wait", "--for=condition=Complete", f"jobflow/{name}", "--timeout=90s", "-n", namespace
    )
    return kube.wait_flow(namespace, name)


def phases(flow: Obj) -> dict[str, tuple[str, str | None]]:
    return {name: (s["phase"], s.get("reason")) for name, s in steps_of(flow).items()}


def linear_flow(cluster: Cluster, namespace: str) -> None:
    kube = cluster.kube
    kube.apply(example("linear-flow"), namespace)
    flow = wait_complete(kube, namespace, "linear-flow")
    assert {s: p for s, (p, _) in phases(flow).items()} == {
        "extract": "Succeeded",
        "transform": "Succeeded",
        "load": "Succeeded",
    }
    assert flow["status"]["progress"]["summary"] == "3/3"
    jobs = kube.jobs_of(namespace, "linear-flow")
    assert attempts_by_step(jobs) == {"extract": ["1"], "transform": ["1"], "load": ["1"]}
    # Each step started after its dependency's Job had completed.
    by_step = {j["metadata"]["labels"]["workflow.zen.io/step"]: j for j in jobs}
    for before, after in (("extract", "transform"), ("transform", "load")):
        finished = by_step[before]["status"]["completionTime"]
        assert by_step[after]["metadata"]["creationTimestamp"] >= finished


def dag_flow(cluster: Cluster, namespace: str) -> None:
    kube = cluster.kube
    kube.apply(example("dag-flow"), namespace)
    flow = kube.wait_flow(namespace, "dag-flow", timeout=120)
    assert {s: p for s, (p, _) in phases(flow).items()} == dict.fromkeys(
        ("prepare", "left", "right", "merge"), "Succeeded"
    )
    settings = kube.get("configmaps", "dag-flow-settings", namespace)
    assert settings is not None and settings["data"] == {"GREETING": "hello", "PARTS": "2"}
    claim = kube.get("persistentvolumeclaims", "dag-flow-workspace", namespace)
    assert claim is not None and claim["status"]["phase"] == "Bound"
    jobs = job_by_step(kube, namespace, "dag-flow")
    assert sorted(jobs) == ["left", "merge", "prepare", "right"]
    for job in jobs.values():
        pod = job["spec"]["template"]["spec"]
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"dag-flow-workspace"}, job["metadata"]["name"]
    prepare = jobs["prepare"]["spec"]["template"]["spec"]["containers"][0]
    assert prepare["envFrom"] == [{"configMapRef": {"name": "dag-flow-settings"}}]
    merge_volumes = {v["name"]: v for v in jobs["merge"]["spec"]["template"]["spec"]["volumes"]}
    assert merge_volumes["config"]["configMap"]["name"] == "dag-flow-settings"
    # The diamond: left and right after prepare, merge after both.
    done = {s: j["status"]["completionTime"] for s, j in jobs.items()}
    created = {s: j["metadata"]["creationTimestamp"] for s, j in jobs.items()}
    assert created["left"] >= done["prepare"] and created["right"] >= done["prepare"]
    assert created["merge"] >= max(done["left"], done["right"])


def retry_flow(cluster: Cluster, namespace: str) -> None:
    """flaky-fetch fails its first attempt, is retried with a new Job, and the flow succeeds."""
    kube = cluster.kube
    flow = example("retry-flow")
    make_fail(flow, "flaky-fetch")
    kube.apply(flow, namespace)
    watch = FlowWatch(kube, namespace, "retry-flow")
    watch.until(
        "flaky-fetch's first attempt to fail and a retry to be scheduled",
        lambda f: steps_of(f).get("flaky-fetch", {}).get("retryCount", 0) >= 1,
    )
    # The flaky source recovers: later attempts succeed (they use the spec as it is then).
    kube.kubectl(
        "patch", "jobflow", "retry-flow", "-n", namespace, "--type=json", "-p",
        json.dumps([{"op": "remove", "path": "/spec/steps/0/template/spec/template/metadata/labels/"
                     + FAIL_LABEL.replace("/", "~1")}]),
    )  # fmt: skip
    done = watch.until_phase("Succeeded", timeout=120)
    fetch = steps_of(done)["flaky-fetch"]
    assert fetch["phase"] == "Succeeded"
    assert fetch["retryCount"] == 1
    assert [a["attempt"] for a in fetch["failedAttempts"]] == [1]
    jobs = kube.jobs_of(namespace, "retry-flow")
    assert attempts_by_step(jobs) == {"flaky-fetch": ["1", "2"], "parse": ["1"], "publish": ["1"]}
    first = next(j for j in jobs if j["metadata"]["name"] == fetch["failedAttempts"][0]["jobName"])
    failed = condition(first, "Failed")
    assert failed and failed["status"] == "True", "the failed attempt's Job is kept, Failed"
    # publish's Job gets the smaller of timeoutSeconds (300) and its own deadline (600).
    publish = next(j for j in jobs if j["metadata"]["labels"]["workflow.zen.io/step"] == "publish")
    assert publish["spec"]["activeDeadlineSeconds"] == 300
    watch.assert_one_job_per_attempt()


def suspend_flow(cluster: Cluster, namespace: str) -> None:
    """Suspend while warm-up runs: its pod goes, nothing starts; resume: the flow finishes."""
    kube = cluster.kube
    flow = example("suspend-flow")
    make_run_for(flow, "warm-up", "6s")
    make_run_for(flow, "long-batch", "2s")
    kube.apply(flow, namespace)
    watch = FlowWatch(kube, namespace, "suspend-flow")
    watch.step_running("warm-up")
    kube.kubectl(
        "annotate", "jobflow", "suspend-flow", "workflow.zen.io/suspended=true", "-n", namespace
    )
    suspended = watch.until_phase("Suspended", timeout=30)
    suspended_condition = condition(suspended, "Suspended")
    assert suspended_condition and suspended_condition["status"] == "True"
    watch.until(
        "the running pod to be gone",
        lambda _: not kube.objects("pods", namespace, "jobflow=suspend-flow"),
        timeout=30,
    )
    (job,) = kube.jobs_of(namespace, "suspend-flow")
    assert job["spec"]["suspend"] is True
    # Longer than warm-up would have run: long-batch must still not start.
    assert_stays(
        "no pod and no new Job while suspended",
        lambda: (
            len(kube.jobs_of(namespace, "suspend-flow")) == 1
            and not kube.objects("pods", namespace, "jobflow=suspend-flow")
        ),
        8,
    )
    kube.kubectl(
        "annotate", "jobflow", "suspend-flow", "workflow.zen.io/suspended-", "-n", namespace
    )
    done = watch.until_phase("Succeeded", timeout=90)
    assert {s: p for s, (p, _) in phases(done).items()} == {
        "warm-up": "Succeeded",
        "long-batch": "Succeeded",
    }
    assert attempts_by_step(kube.jobs_of(namespace, "suspend-flow")) == {
        "warm-up": ["1"],
        "long-batch": ["1"],
    }
    assert "Suspended" in watch.phases
    watch.assert_one_job_per_attempt()


def when_flow(cluster: Cluster, namespace: str) -> None:
    """load-cache always fails (tolerated); the documented steps run, cleanup-disabled skips."""
    kube = cluster.kube
    flow = example("when-flow")
    make_fail(flow, "load-cache")
    kube.apply(flow, namespace)
    done = kube.wait_flow(namespace, "when-flow", timeout=120)
    found = phases(done)
    assert {s: p for s, (p, _) in found.items()} == {
        "extract": "Succeeded",
        "load-db": "Succeeded",
        "load-cache": "Failed",
        "notify-failure": "Succeeded",
        "report": "Succeeded",
        "cleanup-disabled": "Skipped",
    }
    assert found["cleanup-disabled"][1] == "ConditionFalse"
    jobs = attempts_by_step(kube.jobs_of(namespace, "when-flow"))
    assert "cleanup-disabled" not in jobs, "a skipped step has no Job"


def release_flow(cluster: Cluster, namespace: str) -> list[list[str]]:
    """build's output reaches deploy through the approval gate, once approved."""
    kube = cluster.kube
    flow = example("release-flow")
    make_outputs(flow, "build", {"version": "1.4.2", "image": "registry.example/app:1.4.2"})
    kube.apply(flow, namespace)
    watch = FlowWatch(kube, namespace, "release-flow")
    waiting = watch.until(
        "the gate to wait for an approval",
        lambda f: steps_of(f).get("approve-release", {}).get("reason") == "AwaitingApproval",
        timeout=60,
    )
    build = steps_of(waiting)["build"]
    assert build["outputs"] == {"version": "1.4.2", "image": "registry.example/app:1.4.2"}
    # The comment's command, while it is meant to be run: it says who waits for what.
    (message,) = [c for c in comment_commands("release-flow") if "{.status.message}" in c[-1]]
    said = kube.kubectl(*message[1:], "-n", namespace).stdout
    assert said.strip() == "waiting for approval of approve-release", said
    assert sorted(job_by_step(kube, namespace, "release-flow")) == ["build"], (
        "nothing past the gate"
    )
    kube.kubectl(
        "annotate", "jobflow", "release-flow", "workflow.zen.io/approve-approve-release=true",
        "-n", namespace,
    )  # fmt: skip
    kube.kubectl(
        "wait", "--for=condition=Complete", "jobflow/release-flow", "--timeout=90s", "-n", namespace
    )
    done = watch.until_phase("Succeeded", timeout=30)
    assert {s: p for s, (p, _) in phases(done).items()} == dict.fromkeys(
        ("build", "approve-release", "deploy", "cleanup"), "Succeeded"
    )
    jobs = job_by_step(kube, namespace, "release-flow")
    assert sorted(jobs) == ["build", "cleanup", "deploy"], "an approval gate has no Job"
    env = jobs["deploy"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "VERSION", "value": "1.4.2"} in env
    assert {"name": "ENVIRONMENT", "value": "production"} in env
    watch.assert_one_job_per_attempt()
    return [message]


def template_flow(cluster: Cluster, namespace: str) -> None:
    """Three steps run one named template with their own arguments."""
    kube = cluster.kube
    kube.apply(example("template-flow"), namespace)
    done = kube.wait_flow(namespace, "template-flow", timeout=120)
    assert {s: p for s, (p, _) in phases(done).items()} == dict.fromkeys(
        ("export-users", "export-orders", "export-events", "publish"), "Succeeded"
    )
    jobs = job_by_step(kube, namespace, "template-flow")
    for name, table, form in (
        ("export-users", "users", "csv"),
        ("export-orders", "orders", "csv"),
        ("export-events", "events", "json"),
    ):
        job = jobs[name]
        assert job["metadata"]["labels"]["table"] == table
        assert job["metadata"]["name"].startswith(f"template-flow-{name}-1-")
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "busybox:1.36"
        assert container["command"][-1] == f"echo exporting $TABLE as {form}"
        assert container["env"] == [{"name": "TABLE", "value": table}]
    publish = jobs["publish"]["metadata"]["creationTimestamp"]
    assert all(
        publish >= jobs[name]["status"]["completionTime"]
        for name in ("export-users", "export-orders", "export-events")
    )


def fanout_flow(cluster: Cluster, namespace: str) -> None:
    """convert runs once per file listed by list (withParam), thumbnail once per width."""
    kube = cluster.kube
    flow = example("fanout-flow")
    make_outputs(flow, "list", {"files": json.dumps(["a.csv", "b.csv", "c.csv"])})
    kube.apply(flow, namespace)
    done = kube.wait_flow(namespace, "fanout-flow", timeout=120)
    found = steps_of(done)
    assert {s: p for s, (p, _) in phases(done).items()} == dict.fromkeys(
        ("list", "convert", "thumbnail", "report"), "Succeeded"
    )
    assert found["convert"]["items"] == {"total": 3, "succeeded": 3}
    assert found["thumbnail"]["items"] == {"total": 4, "succeeded": 4}
    jobs = job_by_step(kube, namespace, "fanout-flow")
    assert sorted(jobs) == ["convert", "list", "report", "thumbnail"], "one Job per fan-out"
    for name, count in (("convert", 3), ("thumbnail", 4)):
        spec = jobs[name]["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == (
            "Indexed",
            count,
            2,
        )
    (volume,) = [
        v
        for v in jobs["convert"]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "zen-flow-items"
    ]
    items = kube.get("configmaps", volume["configMap"]["name"], namespace)
    assert items is not None and items["data"] == {"0": "a.csv", "1": "b.csv", "2": "c.csv"}


def finally_flow(cluster: Cluster, namespace: str) -> None:
    """cleanup runs after the steps; notify-failure only when the flow failed."""
    kube = cluster.kube
    kube.apply(example("finally-flow"), namespace)
    done = wait_complete(kube, namespace, "finally-flow")
    assert phases(done) == {
        "prepare": ("Succeeded", "JobComplete"),
        "process": ("Succeeded", "JobComplete"),
        "cleanup": ("Succeeded", "JobComplete"),
        "notify-failure": ("Skipped", "ConditionFalse"),
    }
    jobs = job_by_step(kube, namespace, "finally-flow")
    assert jobs["cleanup"]["metadata"]["creationTimestamp"] >= max(
        jobs[s]["status"]["completionTime"] for s in ("prepare", "process")
    )


# A scenario returns the commands of the example's comment it ran itself, if any.
SCENARIOS: dict[str, Callable[[Cluster, str], list[list[str]] | None]] = {
    "linear-flow": linear_flow,
    "dag-flow": dag_flow,
    "retry-flow": retry_flow,
    "suspend-flow": suspend_flow,
    "when-flow": when_flow,
    "release-flow": release_flow,
    "template-flow": template_flow,
    "fanout-flow": fanout_flow,
    "finally-flow": finally_flow,
}


def test_every_example_has_a_scenario() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_example_reaches_its_documented_end_state(cluster: Cluster, ns: str, name: str) -> None:
    ran = SCENARIOS[name](cluster, ns)
    run_comment_commands(cluster.kube, name, ns, ran)
