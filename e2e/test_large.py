"""Large flows on a real control plane: a 5000-step flow written with a named template runs
to the end inside etcd's object size limit; a fan-out is one Indexed Job; finally steps run
after a failure and read it.

The 5000-step flow is the longest scenario of the suite: every step is a Job that the real
Job controller runs and kwok plays the pod of.
"""

from __future__ import annotations

import json
import time

import pytest

from e2e.cluster import Cluster
from e2e.flows import job_template, jobflow, layered_flow, step
from e2e.kube import Obj, condition, describe_flow, steps_of, wait_for
from e2e.scenario import FlowWatch, job_by_step
from e2e.watch import Timings

# etcd's default --max-request-bytes: the most one object can take.
MAX_OBJECT_BYTES = 1_572_864
LAYERS = 50
WIDTH = 100


def ended(flow: Obj | None) -> Obj | None:
    phase = (flow or {}).get("status", {}).get("phase")
    return flow if phase in ("Succeeded", "Failed") else None


def test_a_5000_step_flow_runs_to_the_end_under_the_object_size_limit(
    cluster: Cluster, ns: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = cluster.kube
    flows = Timings(kube, "jobflows", ns)
    started = time.monotonic()
    # Server-side apply keeps no copy of the spec in an annotation: client-side apply does,
    # and the API server allows 256 KiB of annotations in all.
    kube.kubectl(
        "apply", "--server-side", "-f", "-", "-n", ns,
        stdin=json.dumps(layered_flow("big", LAYERS, WIDTH)), timeout=300,
    )  # fmt: skip
    done = wait_for(
        "jobflow big to end",
        lambda: ended(kube.flow(ns, "big")),
        timeout=3600,
        interval=2,
        detail=lambda: describe_flow(kube.flow(ns, "big"))[:3000],
    )
    took = time.monotonic() - started
    time.sleep(2)  # the last versions
    assert flows.watch.alive(), "the watch ended early: versions of the flow were missed"
    flows.stop()
    sizes = flows.sizes["big"]
    steps = steps_of(done)
    assert done["status"]["phase"] == "Succeeded", describe_flow(done)[:3000]
    assert len(steps) == LAYERS * WIDTH
    assert {s["phase"] for s in steps.values()} == {"Succeeded"}
    assert done["status"]["progress"]["summary"] == f"{LAYERS * WIDTH}/{LAYERS * WIDTH}"
    assert len(kube.jobs_of(ns, "big")) == LAYERS * WIDTH, "one Job per step"
    with capsys.disabled():  # the figures, in the suite's output
        print(
            f"\n{LAYERS * WIDTH}-step flow: Succeeded in {took:.0f} s; as applied "
            f"{sizes[0]} bytes; largest version seen {max(sizes)} bytes "
            f"({max(sizes) / MAX_OBJECT_BYTES:.0%} of etcd's limit) over {len(sizes)} versions"
        )
    assert max(sizes) < MAX_OBJECT_BYTES


def test_a_fan_out_is_one_indexed_job_whose_pods_each_read_an_item(
    cluster: Cluster, ns: str
) -> None:
    kube = cluster.kube
    items = [f"part-{i:02d}" for i in range(12)]
    kube.apply(
        jobflow("fan", [step("each", withItems=items, parallelism=4), step("after", ["each"])]),
        ns,
    )
    done = FlowWatch(kube, ns, "fan").until_phase("Succeeded", timeout=180)
    each = steps_of(done)["each"]
    assert each["items"] == {"total": 12, "succeeded": 12}, describe_flow(done)
    (job,) = [
        j
        for j in kube.jobs_of(ns, "fan")
        if j["metadata"]["labels"]["workflow.zen.io/step"] == "each"
    ]
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 12, 4)
    (volume,) = [v for v in spec["template"]["spec"]["volumes"] if v["name"] == "zen-flow-items"]
    config_map = kube.get("configmaps", volume["configMap"]["name"], ns)
    assert config_map is not None and config_map["immutable"] is True
    assert config_map["data"] == {str(i): item for i, item in enumerate(items)}
    pods = kube.objects("pods", ns, "jobflow=fan,workflow.zen.io/step=each")
    indexes = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    }
    assert indexes == {str(i) for i in range(12)}, "a pod per item, each with its index"


def test_failed_indexes_are_counted_and_fail_the_step(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    template = job_template(fail=True)
    # Each index fails once and for all; the Job's backoffLimit must be unset, or it ends
    # the Job first (BackoffLimitExceeded).
    del template["spec"]["backoffLimit"]
    template["spec"]["backoffLimitPerIndex"] = 0
    each: Obj = {"name": "each", "withItems": [1, 2, 3], "template": template}
    kube.apply(jobflow("bad-items", [each]), ns)
    done = FlowWatch(kube, ns, "bad-items").until_phase("Failed", timeout=180)
    status = steps_of(done)["each"]
    assert status["items"] == {"total": 3, "succeeded": 0, "failedIndexes": "0-2"}, describe_flow(
        done
    )
    assert status["failedAttempts"][0]["reason"] == "FailedIndexes"
    (job,) = kube.jobs_of(ns, "bad-items")
    assert job["status"]["failedIndexes"] == "0-2", "as the Job controller counted them"


def test_finally_steps_run_after_a_failure_and_read_it(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow(
        "fin",
        [step("work", fail=True), step("after", ["work"])],
        **{
            "finally": [
                step("cleanup"),
                step("notify", ["cleanup"], when="flow.phase == 'Failed'"),
                step("celebrate", when="flow.phase == 'Succeeded'"),
            ]
        },
    )
    kube.apply(flow, ns)
    done = FlowWatch(kube, ns, "fin").until_phase("Failed", timeout=180)
    steps = steps_of(done)
    assert steps["after"]["phase"] == "Skipped", describe_flow(done)
    assert steps["cleanup"]["phase"] == steps["notify"]["phase"] == "Succeeded"
    assert (steps["celebrate"]["phase"], steps["celebrate"]["reason"]) == (
        "Skipped",
        "ConditionFalse",
    )
    assert done["status"]["reason"] == "StepFailed", describe_flow(done)
    ready = condition(done, "Complete")
    assert ready is None or ready["status"] != "True"
    assert set(job_by_step(kube, ns, "fin")) == {"work", "cleanup", "notify"}, (
        "no Job for a skipped step"
    )
