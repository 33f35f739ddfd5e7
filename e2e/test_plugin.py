"""Operating flows with `kubectl jobflow` on a real control plane: kubectl finds the plugin
on PATH, and terminate, rerun and the tree act on real flows and their Jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from e2e.cluster import Cluster
from e2e.flows import FAIL_LABEL, jobflow, step
from e2e.kube import Kube, steps_of
from e2e.scenario import FlowWatch, attempts_by_step

# Where the package's executables are: kubectl-jobflow is installed next to python.
SCRIPTS = Path(sys.executable).parent


def kubectl_jobflow(kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl jobflow ARGS` as a user runs it: kubectl itself finds the plugin on PATH."""
    env = kube.env()
    env["PATH"] = f"{SCRIPTS}:{env['PATH']}"
    return subprocess.run(
        [str(kube.kubectl_binary), "jobflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )


def test_terminate_removes_running_jobs_and_skips_the_rest(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    kube.apply(jobflow("stop-me", [step("long", run_for="60s"), step("after", ["long"])]), ns)
    watch = FlowWatch(kube, ns, "stop-me")
    watch.step_running("long")
    kubectl_jobflow(kube, "terminate", "stop-me", "-n", ns)
    done = watch.until_phase("Failed", timeout=60)
    assert done["status"]["reason"] == "Terminated"
    steps = steps_of(done)
    assert steps["long"]["reason"] == "Terminated"
    assert (steps["after"]["phase"], steps["after"]["reason"]) == ("Skipped", "Terminated")
    watch.until(
        "the running Job and its pod to be gone",
        lambda _: (
            not kube.jobs_of(ns, "stop-me") and not kube.objects("pods", ns, "jobflow=stop-me")
        ),
        timeout=60,
    )


def test_rerun_runs_only_the_failed_part_again(cluster: Cluster, ns: str) -> None:
    kube = cluster.kube
    flow = jobflow(
        "again", [step("first"), step("flaky", ["first"], fail=True), step("last", ["flaky"])]
    )
    kube.apply(flow, ns)
    watch = FlowWatch(kube, ns, "again")
    failed = watch.until_phase("Failed", timeout=90)
    assert steps_of(failed)["last"]["phase"] == "Skipped"
    # The cause is fixed (the program no longer fails), then the failed part is rerun.
    kube.kubectl(
        "patch", "jobflow", "again", "-n", ns, "--type=json", "-p",
        json.dumps([{"op": "remove", "path": "/spec/steps/1/template/spec/template/metadata/labels/"
                     + FAIL_LABEL.replace("/", "~1")}]),
    )  # fmt: skip
    said = kubectl_jobflow(kube, "rerun", "again", "-n", ns).stdout.strip()
    assert said.startswith('jobflow "again" rerun requested: token '), said
    token = said.rsplit(" ", 1)[-1]
    # Until the hooks have handled the token, the flow is still the Failed one.
    watch.until(
        "the rerun to be handled",
        lambda f: f.get("status", {}).get("rerun", {}).get("token") == token,
        timeout=60,
    )
    watch.until_phase("Succeeded", timeout=90)
    assert attempts_by_step(kube.jobs_of(ns, "again")) == {
        "first": ["1"],
        "flaky": ["1", "2"],
        "last": ["1"],
    }, "the succeeded step is not run again"
    watch.assert_one_job_per_attempt()
    tree = kubectl_jobflow(kube, "tree", "again", "-n", ns).stdout
    for name in ("first", "flaky", "last"):
        assert name in tree
    assert "Succeeded" in tree
