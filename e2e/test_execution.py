"""Execution semantics on a real control plane: suspension, retries, timeouts, deadlines,
conditions, resource templates and deletion."""

from __future__ import annotations

from e2e.cluster import Cluster
from e2e.flows import jobflow, step
from e2e.kube import condition, describe_flow, steps_of, wait_for
from e2e.scenario import FlowWatch, assert_stays, attempts_by_step


def test_suspend_removes_running_pods_starts_nothing_and_resume_finishes(
    cluster: Cluster, ns: str
) -> None:
    kube = cluster.kube
    flow = jobflow(
        "pausable",
        [
            step("left", run_for="5s"),
            step("right", run_for="5s"),
            step("join", ["left", "right"]),
        ],
    )
    kube.apply(flow, ns)
    watch = FlowWatch(kube, ns, "pausable")
    watch.step_running("left")
    watch.step_running("right")
    kube.kubectl("annotate", "jobflow", "pausable", "workflow.zen.io/suspended=true", "-n", ns)
    watch.until_phase("Suspended", timeout=30)
    watch.until(
        "every pod of the flow to be gone",
        lambda _: not kube.objects("pods", ns, "jobflow=pausable"),
        timeout=30,
    )
    jobs = kube.jobs_of(ns, "pausable")
    assert sorted(j["spec"]["suspend"] for j in jobs) == [True, True]
    assert_stays(
        "no pod and no Job for join while suspended",
        lambda: (
            not kube.objects("pods", ns, "jobflow=pausable")
            and len(kube.jobs_of(ns, "pausable")) == 2
        ),
        7,
    )
    # Resume the other documented way: the annotation set to "false".
    kube.kubectl(
        "annotate",
        "jobflow",
        "pausable",
        "workflow.zen.io/suspended=false",
        "--overwrite",
        "-n",
        ns,
    )
    done = watch.until_phase("Succeeded", timeout=90)
    resumed = condition(done, "Suspended")
    assert resumed is None or resumed["status"] == "False", describe_flow(done)
    assert all(j["spec"]["suspend"] is False for j in kube.jobs_of(ns, "pausable"))
    assert attempts_by_step(kube.jobs_of(ns, "pausable")) == {
        "join": ["1"],
        "left": ["1"],
        "right": ["1"],
    }
    watch.assert_one_job_per_attempt()


def test_a_flow_created_suspended_starts_nothing_until_resumed(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow("held", [step("only")])
    flow["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    kube.apply(flow, ns)
    watch = FlowWatch(kube, ns, "held")
    watch.until_phase("Suspended", timeout=30)
    assert_stays("no Job while suspended", lambda: not kube.jobs_of(ns, "held"), 4)
    kube.kubectl("annotate", "jobflow", "held", "workflow.zen.io/suspended-", "-n", ns)
    watch.until_phase("Succeeded", timeout=60)


def test_failing_pods_are_retried_as_new_jobs_until_the_limit(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    retry = {"limit": 2, "backoff": {"type": "Fixed", "duration": "3s"}}
    kube.apply(
        jobflow("flaky", [step("fetch", fail=True, retryPolicy=retry), step("use", ["fetch"])]), ns
    )
    watch = FlowWatch(kube, ns, "flaky")
    waiting = watch.until(
        "fetch to wait for its first retry",
        lambda f: steps_of(f).get("fetch", {}).get("reason") == "BackoffWait",
    )
    fetch = steps_of(waiting)["fetch"]
    assert fetch["phase"] == "Running" and fetch.get("nextRetryTime"), describe_flow(waiting)
    done = watch.until_phase("Failed", timeout=90)
    steps = steps_of(done)
    assert steps["fetch"]["phase"] == "Failed"
    assert steps["fetch"]["reason"] == "RetryLimitReached"
    assert steps["fetch"]["retryCount"] == 2
    assert [a["attempt"] for a in steps["fetch"]["failedAttempts"]] == [1, 2, 3]
    assert (steps["use"]["phase"], steps["use"]["reason"]) == ("Skipped", "UpstreamFailed")
    jobs = kube.jobs_of(ns, "flaky")
    assert attempts_by_step(jobs) == {"fetch": ["1", "2", "3"]}
    for job in jobs:  # every failed attempt's Job is kept, Failed, for its logs
        failed = condition(job, "Failed")
        assert failed and failed["status"] == "True", job["metadata"]["name"]
    failed_condition = condition(done, "Failed")
    assert failed_condition and failed_condition["status"] == "True"
    watch.assert_one_job_per_attempt()


def test_step_timeout_ends_a_running_attempt(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    kube.apply(jobflow("slow", [step("crawl", run_for="10m", timeoutSeconds=2)]), ns)
    done = FlowWatch(kube, ns, "slow").until_phase("Failed", timeout=60)
    crawl = steps_of(done)["crawl"]
    assert (crawl["phase"], crawl["reason"]) == ("Failed", "DeadlineExceeded"), describe_flow(done)
    (job,) = kube.jobs_of(ns, "slow")
    assert job["spec"]["activeDeadlineSeconds"] == 2
    failed = condition(job, "Failed")
    assert failed and failed["reason"] == "DeadlineExceeded"


def test_flow_deadline_stops_the_flow(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow(
        "late",
        [step("first", run_for="10m"), step("second", ["first"])],
        executionPolicy={"activeDeadlineSeconds": 4},
    )
    kube.apply(flow, ns)
    done = FlowWatch(kube, ns, "late").until_phase("Failed", timeout=60)
    assert done["status"]["reason"] == "DeadlineExceeded", describe_flow(done)
    steps = steps_of(done)
    assert (steps["second"]["phase"], steps["second"]["reason"]) == ("Skipped", "DeadlineExceeded")
    assert steps["first"]["phase"] == "Failed", describe_flow(done)
    (job,) = kube.jobs_of(ns, "late")
    assert 0 < job["spec"]["activeDeadlineSeconds"] <= 4, "a Job gets at most the time left"
    wait_for(
        "the running Job to end at the flow's deadline",
        lambda: condition(kube.jobs_of(ns, "late")[0], "Failed"),
        30,
    )


def test_when_false_skips_a_step_and_its_dependents_still_run(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow(
        "choosy",
        [
            step("check"),
            step("repair", ["check"], when="steps.check.phase == 'Failed'"),
            step("report", ["repair"]),
        ],
    )
    kube.apply(flow, ns)
    done = kube.wait_flow(ns, "choosy")
    steps = steps_of(done)
    assert (steps["repair"]["phase"], steps["repair"]["reason"]) == ("Skipped", "ConditionFalse")
    assert steps["report"]["phase"] == "Succeeded"
    assert attempts_by_step(kube.jobs_of(ns, "choosy")) == {"check": ["1"], "report": ["1"]}
    assert done["status"]["progress"]["skippedSteps"] == 1


def test_resource_templates_are_the_flows_own_copies(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    work = step("work")
    pod = work["template"]["spec"]["template"]["spec"]
    pod["containers"][0]["env"] = [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}
    ]
    pod["containers"][0]["envFrom"] = [{"configMapRef": {"name": "settings"}}]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"},
        {"name": "config", "mountPath": "/config"},
    ]
    pod["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "scratch"}},
        {"name": "config", "configMap": {"name": "settings"}},
    ]
    flow = jobflow(
        "stocked",
        [work],
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "settings"}, "data": {"mode": "fast"}}],
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "scratch"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "100Mi"}},
                    },
                }
            ],
        },
    )
    kube.apply(flow, ns)
    done = kube.wait_flow(ns, "stocked", timeout=120)
    uid = done["metadata"]["uid"]
    settings = kube.get("configmaps", "stocked-settings", ns)
    assert settings is not None and settings["data"] == {"mode": "fast"}
    claim = kube.get("persistentvolumeclaims", "stocked-scratch", ns)
    assert claim is not None and claim["status"]["phase"] == "Bound"
    volume = kube.get("persistentvolumes", claim["spec"]["volumeName"])
    assert volume is not None and "hostPath" in volume["spec"], "bound to a static volume"
    for child in (settings, claim):
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == uid and owner["kind"] == "JobFlow" and owner["controller"]
    (job,) = kube.jobs_of(ns, "stocked")
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["env"][0]["valueFrom"]["configMapKeyRef"]["name"] == "stocked-settings"
    assert container["envFrom"] == [{"configMapRef": {"name": "stocked-settings"}}]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "stocked-scratch"
    assert volumes["config"]["configMap"]["name"] == "stocked-settings"


def test_deleting_a_flow_removes_its_children(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow(
        "doomed",
        [step("busy", run_for="10m"), step("never", ["busy"])],
        resourceTemplates={
            "configMapTemplates": [{"metadata": {"name": "notes"}, "data": {"k": "v"}}],
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "disk"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Mi"}},
                    },
                }
            ],
        },
    )
    kube.apply(flow, ns)
    watch = FlowWatch(kube, ns, "doomed")
    running = watch.step_running("busy", timeout=90)
    selector = f"controller-uid={running['metadata']['uid']}"
    assert kube.objects("configmaps", ns, selector) and kube.objects(
        "persistentvolumeclaims", ns, selector
    )
    kube.kubectl("delete", "jobflow", "doomed", "-n", ns, "--timeout=60s")
    assert kube.flow(ns, "doomed") is None
    for resource in ("jobs", "configmaps", "persistentvolumeclaims"):
        wait_for(
            f"every {resource} of the deleted flow to be gone",
            lambda r=resource: (
                not [  # type: ignore[misc]
                    o
                    for o in kube.objects(r, ns, selector)
                    if not o["metadata"].get("deletionTimestamp")
                ]
            ),
            30,
        )
    wait_for(
        "the running pod to be gone", lambda: not kube.objects("pods", ns, "jobflow=doomed"), 30
    )
