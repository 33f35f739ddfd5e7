"""``kubectl jobflow``: the installed executable, run against a stand-in for kubectl.

Every test runs the real ``kubectl-jobflow`` entry point with ``tests/support/fake_kubectl.py``
first on PATH as ``kubectl``: a cluster in a JSON file that answers like the API server and
records every call, so the tests see exactly what the plugin asks kubectl to do.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zen_flow.api.labels import (
    ANNOTATION_APPROVE_PREFIX,
    ANNOTATION_RERUN,
    ANNOTATION_SUSPENDED,
    ANNOTATION_TERMINATE,
)

# Every test starts the plugin, and the plugin starts kubectl: `make unit` leaves them out.
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-jobflow"
FAKE = Path(__file__).resolve().parents[1] / "support" / "fake_kubectl.py"
JOBFLOWS = "jobflows.workflow.zen.io"
COMMANDS = ["get", "tree", "suspend", "resume", "terminate", "rerun", "approve", "reject", "logs"]
# What the plugin may write: these annotations on a JobFlow, nothing else.
WRITTEN = {ANNOTATION_SUSPENDED, ANNOTATION_TERMINATE, ANNOTATION_RERUN}
T0 = "2025-01-01T12:00:00Z"


def at(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"2025-01-01T12:{minutes:02d}:{secs:02d}Z"


# --- flows -----------------------------------------------------------------------------------


def job_step(name: str, *dependencies: str, **extra: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "busybox:1.36"}
    template = {"spec": {"template": {"spec": {"containers": [container]}}}}
    return {"name": name, "dependencies": list(dependencies), "template": template, **extra}


def approval_step(name: str, *dependencies: str) -> dict[str, Any]:
    return {"name": name, "type": "Approval", "dependencies": list(dependencies)}


def state(name: str, phase: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "phase": phase, "reason": reason, **extra}


def status(phase: str, reason: str, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    done = sum(s["phase"] in ("Succeeded", "Failed", "Skipped") for s in steps)
    return {
        "phase": phase,
        "reason": reason,
        "startTime": T0,
        "progress": {"totalSteps": 4, "completedSteps": done, "summary": f"{done}/4"},
        "steps": list(steps),
        **extra,
    }


def jobflow(
    name: str,
    *steps: dict[str, Any],
    namespace: str = "default",
    flow_status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": T0}
    if annotations:
        metadata["annotations"] = annotations
    flow = {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": metadata,
        "spec": {"steps": list(steps)},
    }
    if flow_status is not None:
        flow["status"] = flow_status
    return flow


ETL_STEPS = (
    job_step("extract"),
    job_step("transform", "extract", retryPolicy={"limit": 2}),
    approval_step("gate", "transform"),
    job_step("load", "gate", when="steps.gate.phase == 'Succeeded'"),
)
RUNNING = status(
    "Running",
    "Started",
    state("extract", "Succeeded", "JobComplete", startTime=T0, completionTime=at(12), attempt=1),
    state(
        "transform",
        "Running",
        "BackoffWait",
        startTime=at(12),
        attempt=1,
        retryCount=1,
        nextRetryTime=at(90),
    ),
    state("gate", "Pending", "WaitingForDependencies"),
    state("load", "Pending", "WaitingForDependencies"),
)
AWAITING = status(
    "Running",
    "Started",
    state("extract", "Succeeded", "JobComplete", startTime=T0, completionTime=at(12), attempt=1),
    state(
        "transform", "Succeeded", "JobComplete", startTime=at(12), completionTime=at(75), attempt=2
    ),
    state("gate", "Pending", "AwaitingApproval"),
    state("load", "Pending", "WaitingForDependencies"),
)
FAILED = status(
    "Failed",
    "StepFailed",
    state("extract", "Succeeded", "JobComplete", startTime=T0, completionTime=at(12), attempt=1),
    state(
        "transform",
        "Failed",
        "RetryLimitReached",
        message="attempt 3 failed: BackoffLimitExceeded",
        startTime=at(12),
        completionTime=at(200),
        attempt=3,
    ),
    state("gate", "Skipped", "UpstreamFailed", message="transform failed"),
    state("load", "Skipped", "UpstreamFailed", message="transform failed"),
    completionTime=at(200),
    message="step transform failed",
)


def pod(name: str, step: str, attempt: int, flow: str = "etl", created: str = T0) -> dict[str, Any]:
    labels = {
        "jobflow": flow,
        "workflow.zen.io/jobflow": flow,
        "workflow.zen.io/step": step,
        "workflow.zen.io/attempt": str(attempt),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels,
            "creationTimestamp": created,
        },
    }


# --- the cluster and the plugin --------------------------------------------------------------


@dataclass
class Cluster:
    """The fake kubectl's cluster; ``run`` runs the plugin against it."""

    directory: Path
    bin: Path

    def write(self, **cluster: Any) -> None:
        (self.directory / "cluster.json").write_text(json.dumps({"jobflows": [], **cluster}))

    def read(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads((self.directory / "cluster.json").read_text())
        return value

    def flow(self, name: str, namespace: str = "default") -> dict[str, Any]:
        flows: list[dict[str, Any]] = self.read()["jobflows"]
        return next(
            f
            for f in flows
            if f["metadata"]["name"] == name and f["metadata"]["namespace"] == namespace
        )

    def annotations(self, name: str, namespace: str = "default") -> dict[str, str]:
        value: dict[str, str] = self.flow(name, namespace)["metadata"].get("annotations", {})
        return value

    def calls(self) -> list[list[str]]:
        return [record["argv"] for record in self.records()]

    def records(self) -> list[dict[str, Any]]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def env(self, **extra: str) -> dict[str, str]:
        environment = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_KUBECTL_DIR": str(self.directory),
            "PYTHONIOENCODING": "utf-8",
        }
        environment.pop("KUBECONFIG", None)
        return {**environment, **extra}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLUGIN), *args],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=60,
            check=False,
        )


@pytest.fixture()
def cluster(tmp_path: Path) -> Cluster:
    if not PLUGIN.exists():
        pytest.fail(f"{PLUGIN} is not installed: run make .venv/.installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    kubectl.chmod(0o755)
    fake = Cluster(tmp_path, bin_dir)
    fake.write()
    return fake


@pytest.fixture()
def etl(cluster: Cluster) -> Cluster:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=AWAITING)])
    return cluster


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout


def error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The one error line of a failed run, which must have exited with ``code``."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kubectl-jobflow: error: "), lines[0]
    return lines[0].removeprefix("kubectl-jobflow: error: ")


def rows(text: str) -> dict[str, list[str]]:
    """A table's rows by their first cell, split on runs of two or more spaces."""
    table = [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.strip()]
    return {row[0]: row for row in table}


# --- help and usage --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_command_has_help_with_the_exit_codes(cluster: Cluster, command: str) -> None:
    out = ok(cluster.run(*([command] if command else []), "--help"))
    assert out.startswith(f"Usage: kubectl jobflow {command}".rstrip())
    assert "Exit codes:" in out and "130" in out
    assert cluster.calls() == []


def test_kubectl_finds_the_plugin_on_path(cluster: Cluster) -> None:
    """The real kubectl runs ``kubectl-jobflow`` for ``kubectl jobflow``."""
    kubectl = BIN / "kubectl"
    if not kubectl.exists():
        pytest.skip("no kubectl in the virtual environment")
    env = {**os.environ, "PATH": str(BIN)}
    done = subprocess.run(
        [str(kubectl), "jobflow", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: kubectl jobflow")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tree"], "Missing argument 'NAME'"),
        (["approve", "etl"], "Missing argument 'STEP'"),
        (["get", "--watch"], "--watch needs a NAME"),
        (["get", "etl", "-A"], "--all-namespaces lists flows: give no NAME"),
        (["get", "etl", "--watch", "--interval", "0"], "0 is not a positive duration"),
        (["tree", "etl", "--interval", "soon"], 'invalid duration "soon"'),
        (["logs", "etl", "load", "--attempt", "0"], "'--attempt'"),
        (["rerun", "etl", "--token", " "], "the token is empty"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["get", "--colour"], "No such option '--colour'"),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_code_2(
    etl: Cluster, args: list[str], says: str
) -> None:
    line = error(etl.run(*args), 2)
    assert says in line
    assert line.endswith("--help')")
    assert etl.calls() == []


# --- get -------------------------------------------------------------------------------------


def test_get_shows_every_step_with_phase_attempt_duration_reason(cluster: Cluster) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=RUNNING)])
    out = ok(cluster.run("get", "etl"))
    lines = out.splitlines()
    assert re.fullmatch(
        r"JobFlow default/etl: Running \(Started\), 1/4 steps done, started \S+ ago", lines[0]
    )
    table = rows(out)
    assert table["STEP"] == ["STEP", "PHASE", "ATTEMPT", "DURATION", "REASON", "MESSAGE"]
    assert table["extract"] == ["extract", "Succeeded", "1", "12s", "JobComplete"]
    assert table["transform"][:3] == ["transform", "Running", "1"]
    assert table["transform"][4:] == ["BackoffWait", f"next attempt at {at(90)}"]
    assert table["gate"] == ["gate", "Pending", "-", "-", "WaitingForDependencies"]
    assert cluster.calls() == [["get", JOBFLOWS, "etl", "-o", "json"]]


def test_get_gives_the_message_of_failed_skipped_and_waiting_steps(cluster: Cluster) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=FAILED)])
    out = ok(cluster.run("get", "etl"))
    assert out.splitlines()[0] == (
        "JobFlow default/etl: Failed (StepFailed), 4/4 steps done, took 3m20s"
    )
    assert out.splitlines()[1] == "message: step transform failed"
    table = rows(out)
    assert table["extract"][-1] == "JobComplete"  # no message for a succeeded step
    assert table["transform"] == [
        "transform",
        "Failed",
        "3",
        "3m8s",
        "RetryLimitReached",
        "attempt 3 failed: BackoffLimitExceeded",
    ]
    assert table["gate"][-1] == "transform failed"


def test_get_shows_the_items_of_fan_out_and_the_finally_steps(cluster: Cluster) -> None:
    each = state("each", "Failed", "FailedIndexes", message="attempt 1 failed: FailedIndexes")
    each["items"] = {"total": 10, "succeeded": 8, "failedIndexes": "3,7"}
    cleanup = state("cleanup", "Running", "JobRunning", attempt=1)
    flow = jobflow(
        "fan",
        job_step("each", withItems=list(range(10))),
        flow_status=status("Running", "RunningFinally", each, cleanup),
    )
    flow["spec"]["finally"] = [job_step("cleanup")]
    cluster.write(jobflows=[flow])
    table = rows(ok(cluster.run("get", "fan")))
    assert table["each"][-1] == (
        "8/10 items done, failed indexes 3,7; attempt 1 failed: FailedIndexes"
    )
    assert table["cleanup"][:2] == ["cleanup", "Running"]
    tree = ok(cluster.run("tree", "fan")).splitlines()
    assert tree[tree.index("finally 1 (after every step)") + 1].split()[1] == "cleanup"


def test_get_says_how_to_decide_a_step_awaiting_approval(etl: Cluster) -> None:
    table = rows(ok(etl.run("get", "etl")))
    assert table["gate"] == [
        "gate",
        "Pending",
        "-",
        "-",
        "AwaitingApproval",
        "approve or reject: kubectl jobflow approve etl gate",
    ]


def test_get_shows_a_flow_without_status_as_pending(cluster: Cluster) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS)])
    out = ok(cluster.run("get", "etl"))
    assert out.splitlines()[0] == "JobFlow default/etl: Pending, 0/4 steps done"
    assert rows(out)["load"] == ["load", "Pending", "-", "-", "-"]


def test_get_reads_fields_it_does_not_know_and_shows_the_last_rerun(cluster: Cluster) -> None:
    newer = {**AWAITING, "rerun": {"token": "t-1", "startTime": T0}, "somethingNew": {"a": 1}}
    steps = [{**job_step("extract"), "futureField": True}, *ETL_STEPS[1:]]
    cluster.write(jobflows=[jobflow("etl", *steps, flow_status=newer)])
    out = ok(cluster.run("get", "etl"))
    assert "last rerun: t-1" in out.splitlines()


def test_get_without_name_lists_flows_with_progress_and_awaited_approval(
    cluster: Cluster,
) -> None:
    cluster.write(
        jobflows=[
            jobflow("etl", *ETL_STEPS, flow_status=AWAITING),
            jobflow("nightly", *ETL_STEPS, flow_status=FAILED),
            jobflow("other", *ETL_STEPS, namespace="team-a", flow_status=RUNNING),
        ]
    )
    out = ok(cluster.run("get"))
    table = rows(out)
    assert list(table) == ["NAME", "etl", "nightly"]
    assert table["NAME"] == ["NAME", "PHASE", "PROGRESS", "AWAITING APPROVAL", "AGE"]
    assert table["etl"][:4] == ["etl", "Running", "2/4", "gate"]
    assert table["nightly"][:4] == ["nightly", "Failed", "4/4", "-"]
    assert re.fullmatch(r"\d+d\d+h", table["etl"][4])
    assert cluster.calls() == [["get", JOBFLOWS, "-o", "json"]]


def test_get_all_namespaces_adds_the_namespace_column(cluster: Cluster) -> None:
    cluster.write(
        jobflows=[
            jobflow("etl", *ETL_STEPS, flow_status=AWAITING),
            jobflow("other", *ETL_STEPS, namespace="team-a", flow_status=RUNNING),
        ]
    )
    table = rows(ok(cluster.run("get", "-A")))
    assert table["NAMESPACE"][:2] == ["NAMESPACE", "NAME"]
    assert table["team-a"][:3] == ["team-a", "other", "Running"]
    assert cluster.calls() == [["get", JOBFLOWS, "--all-namespaces", "-o", "json"]]


def test_get_without_flows_says_so_on_stderr(cluster: Cluster) -> None:
    cluster.write(namespace="team-a")
    done = cluster.run("get")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == "No jobflows found in namespace team-a.\n"


# --- tree ------------------------------------------------------------------------------------


APPROVE = "approve or reject: kubectl jobflow approve etl gate"
WHEN = "when steps.gate.phase == 'Succeeded'"


def test_tree_draws_the_dag_layer_by_layer_with_each_step_state(etl: Cluster) -> None:
    out = ok(etl.run("tree", "etl"))
    lines = out.splitlines()
    assert lines[0].startswith("JobFlow default/etl: Running (Started), 2/4 steps done")
    assert [line for line in lines if line.startswith("layer")] == [
        "layer 1",
        "layer 2",
        "layer 3",
        "layer 4",
    ]
    cells = [re.split(r" {2,}", line.strip()) for line in lines if line.startswith("  ")]
    assert cells == [
        ["✓ extract", "Succeeded", "#1", "12s", "JobComplete"],
        ["✓ transform", "Succeeded", "#2", "1m3s", "JobComplete", "after extract"],
        ["· gate", "Pending", "-", "-", "AwaitingApproval", "after transform", APPROVE],
        ["· load", "Pending", "-", "-", "WaitingForDependencies", "after gate", WHEN],
    ]


def test_tree_uses_ascii_markers_when_the_terminal_cannot_show_others(etl: Cluster) -> None:
    out = ok(etl.run("tree", "etl", PYTHONIOENCODING="ascii"))
    assert "\n  + extract " in out and "\n  . gate " in out


def test_tree_shows_a_flow_with_a_dependency_cycle(cluster: Cluster) -> None:
    steps = [job_step("a"), job_step("b", "c"), job_step("c", "b"), job_step("d", "b")]
    cluster.write(jobflows=[jobflow("loop", *steps)])
    lines = ok(cluster.run("tree", "loop")).splitlines()
    cut = lines.index("on or after a dependency cycle (the spec is invalid)")
    assert "a" in lines[cut - 1].split()
    assert [line.split()[0] for line in lines[cut + 1 :]] == ["b", "c", "d"]


# --- watch -----------------------------------------------------------------------------------


def test_watch_on_a_pipe_appends_a_drawing_per_change_and_ends_with_the_flow(
    cluster: Cluster,
) -> None:
    succeeded = {**AWAITING, "phase": "Succeeded", "reason": "AllStepsDone"}
    sequence = [RUNNING, RUNNING, AWAITING, AWAITING, succeeded]
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS)], statuses={"default/etl": sequence})
    out = ok(cluster.run("get", "etl", "--watch", "--interval", "10ms"))
    headers = [line for line in out.splitlines() if line.startswith("JobFlow ")]
    assert [h.split(":")[1].split(",")[0] for h in headers] == [
        " Running (Started)",
        " Running (Started)",
        " Succeeded (AllStepsDone)",
    ]
    assert "\x1b" not in out
    assert cluster.calls() == [["get", JOBFLOWS, "etl", "-o", "json"]] * len(sequence)


def test_tree_watch_ends_at_once_for_a_finished_flow(cluster: Cluster) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=FAILED)])
    out = ok(cluster.run("tree", "etl", "-w", "--interval", "10ms"))
    assert out.count("layer 1") == 1
    assert len(cluster.calls()) == 1


def test_watch_on_a_terminal_redraws_in_place(cluster: Cluster) -> None:
    succeeded = {**AWAITING, "phase": "Succeeded", "reason": "AllStepsDone"}
    sequence = [RUNNING, RUNNING, succeeded]
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS)], statuses={"default/etl": sequence})
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(PLUGIN), "tree", "etl", "--watch", "--interval", "10ms"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=cluster.env(),
    )
    os.close(follower)
    output = b"".join(_read_all(leader))
    os.close(leader)
    assert process.wait(timeout=30) == 0
    text = output.decode()
    assert text.count("\x1b[H\x1b[2J") == len(sequence)
    assert text.rsplit("\x1b[H\x1b[2J", 1)[1].startswith("JobFlow default/etl: Succeeded")


def _read_all(fd: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed: Linux reports EIO
            return
        if not chunk:
            return
        yield chunk


def test_watch_stops_on_ctrl_c_with_exit_code_130(etl: Cluster) -> None:
    process = subprocess.Popen(
        [str(PLUGIN), "get", "etl", "--watch", "--interval", "50ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=etl.env(),
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("JobFlow default/etl")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in stderr


# --- suspend, resume, terminate --------------------------------------------------------------


def test_suspend_resume_and_terminate_write_their_annotation(etl: Cluster) -> None:
    assert ok(etl.run("suspend", "etl")) == 'jobflow "etl" suspended\n'
    assert etl.annotations("etl") == {ANNOTATION_SUSPENDED: "true"}
    assert ok(etl.run("resume", "etl")) == 'jobflow "etl" resumed\n'
    assert etl.annotations("etl") == {}
    assert ok(etl.run("terminate", "etl")) == 'jobflow "etl" terminating\n'
    assert etl.annotations("etl") == {ANNOTATION_TERMINATE: "true"}
    assert etl.calls() == [
        ["annotate", JOBFLOWS, "etl", f"{ANNOTATION_SUSPENDED}=true", "--overwrite"],
        ["annotate", JOBFLOWS, "etl", f"{ANNOTATION_SUSPENDED}-", "--overwrite"],
        ["annotate", JOBFLOWS, "etl", f"{ANNOTATION_TERMINATE}=true", "--overwrite"],
    ]


def test_suspend_overwrites_suspended_false(cluster: Cluster) -> None:
    annotations = {ANNOTATION_SUSPENDED: "false"}
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, annotations=annotations)])
    ok(cluster.run("suspend", "etl"))
    assert cluster.annotations("etl") == {ANNOTATION_SUSPENDED: "true"}


# --- rerun -----------------------------------------------------------------------------------


def test_rerun_sets_a_new_token_and_clears_terminate(cluster: Cluster) -> None:
    annotations = {ANNOTATION_TERMINATE: "true", "team": "data"}
    cluster.write(
        jobflows=[jobflow("etl", *ETL_STEPS, flow_status=FAILED, annotations=annotations)]
    )
    out = ok(cluster.run("rerun", "etl"))
    match = re.fullmatch(r'jobflow "etl" rerun requested: token (\d{8}t\d{6}z-[0-9a-f]{6})\n', out)
    assert match, out
    assert cluster.annotations("etl") == {ANNOTATION_RERUN: match[1], "team": "data"}
    assert cluster.calls()[-1] == [
        "annotate",
        JOBFLOWS,
        "etl",
        f"{ANNOTATION_RERUN}={match[1]}",
        f"{ANNOTATION_TERMINATE}-",
        "--overwrite",
    ]


def test_rerun_tokens_differ_from_one_run_to_the_next(etl: Cluster) -> None:
    first, second = ok(etl.run("rerun", "etl")), ok(etl.run("rerun", "etl"))
    assert first.split()[-1] != second.split()[-1]


def test_rerun_wait_returns_once_the_hooks_recorded_the_token(cluster: Cluster) -> None:
    handled = {**FAILED, "phase": "Running", "rerun": {"token": "again", "startTime": at(300)}}
    sequence = [FAILED, FAILED, FAILED, handled]
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS)], statuses={"default/etl": sequence})
    out = ok(cluster.run("rerun", "etl", "--token", "again", "--wait", "--interval", "10ms"))
    assert out == (
        'jobflow "etl" rerun requested: token again\njobflow "etl" rerun again started\n'
    )
    assert [call[0] for call in cluster.calls()] == ["get", "annotate", "get", "get", "get"]


def test_rerun_wait_gives_up_after_its_timeout_with_exit_code_5(etl: Cluster) -> None:
    done = etl.run(
        "rerun", "etl", "--token", "t2", "--wait", "--interval", "10ms", "--timeout", "200ms"
    )
    line = error(done, 5)
    assert line == (
        'timed out waiting for jobflow "etl" to start rerun t2 (.status.rerun.token is "")'
    )
    assert etl.annotations("etl") == {ANNOTATION_RERUN: "t2"}


def test_rerun_refuses_a_token_already_handled(cluster: Cluster) -> None:
    handled = {**FAILED, "rerun": {"token": "t1", "startTime": T0}}
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=handled)])
    line = error(cluster.run("rerun", "etl", "--token", "t1"), 4)
    assert line == 'jobflow "etl" has already handled rerun token "t1": give a new one'
    assert [call[0] for call in cluster.calls()] == ["get"]


# --- approve and reject ----------------------------------------------------------------------


def test_approve_and_reject_a_step_awaiting_approval(etl: Cluster) -> None:
    assert ok(etl.run("approve", "etl", "gate")) == 'step "gate" of jobflow "etl" approved\n'
    assert etl.annotations("etl") == {f"{ANNOTATION_APPROVE_PREFIX}gate": "true"}
    assert ok(etl.run("reject", "etl", "gate")) == 'step "gate" of jobflow "etl" rejected\n'
    assert etl.annotations("etl") == {f"{ANNOTATION_APPROVE_PREFIX}gate": "false"}
    assert etl.calls()[1] == [
        "annotate",
        JOBFLOWS,
        "etl",
        f"{ANNOTATION_APPROVE_PREFIX}gate=true",
        "--overwrite",
    ]


def test_approve_in_advance_says_the_step_is_not_waiting_yet(cluster: Cluster) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=RUNNING)])
    out = ok(cluster.run("approve", "etl", "gate"))
    assert out == (
        'step "gate" of jobflow "etl" approved in advance: it is Pending '
        "(WaitingForDependencies), not waiting for approval yet\n"
    )
    assert cluster.annotations("etl") == {f"{ANNOTATION_APPROVE_PREFIX}gate": "true"}


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_deciding_an_unknown_step_is_not_found(etl: Cluster, command: str) -> None:
    line = error(etl.run(command, "etl", "gat"), 3)
    assert line == 'jobflow "etl" has no step "gat" (steps: extract, transform, gate, load)'
    assert etl.annotations("etl") == {}


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_deciding_a_job_step_is_refused(etl: Cluster, command: str) -> None:
    line = error(etl.run(command, "etl", "load"), 4)
    assert line == (
        'step "load" of jobflow "etl" is a Job step, not an Approval step: there is nothing '
        "to decide"
    )
    assert etl.annotations("etl") == {}


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_deciding_a_decided_step_is_refused(cluster: Cluster, command: str) -> None:
    approved = {
        **AWAITING,
        "steps": [*AWAITING["steps"][:2], state("gate", "Succeeded", "Approved")],
    }
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=approved)])
    line = error(cluster.run(command, "etl", "gate"), 4)
    assert line == (
        'step "gate" of jobflow "etl" is no longer waiting for approval: Succeeded (Approved)'
    )
    assert cluster.annotations("etl") == {}


# --- logs ------------------------------------------------------------------------------------


def logs_cluster(cluster: Cluster, *pods: dict[str, Any], flow_status: Any = AWAITING) -> None:
    texts = {p["metadata"]["name"]: f"hello from {p['metadata']['name']}\n" for p in pods}
    cluster.write(
        jobflows=[jobflow("etl", *ETL_STEPS, flow_status=flow_status)],
        pods=list(pods),
        logs=texts,
    )


SELECTOR = "workflow.zen.io/jobflow=etl,workflow.zen.io/step=transform"


def test_logs_of_the_current_attempt(cluster: Cluster) -> None:
    logs_cluster(cluster, pod("t1", "transform", 1), pod("t2", "transform", 2))
    assert ok(cluster.run("logs", "etl", "transform")) == "hello from t2\n"
    assert cluster.calls()[1:] == [
        ["get", "pods", "-l", f"{SELECTOR},workflow.zen.io/attempt=2", "-o", "json"],
        ["logs", "pod/t2"],
    ]


def test_logs_of_another_attempt_followed_in_a_container(cluster: Cluster) -> None:
    logs_cluster(cluster, pod("t1", "transform", 1), pod("t2", "transform", 2))
    out = ok(cluster.run("logs", "etl", "transform", "--attempt", "1", "-f", "-c", "main"))
    assert out == "hello from t1\n"
    assert cluster.calls()[-1] == ["logs", "pod/t1", "--container", "main", "--follow"]


def test_logs_of_several_pods_are_prefixed(cluster: Cluster) -> None:
    logs_cluster(
        cluster,
        pod("t2-b", "transform", 2, created=at(30)),
        pod("t2-a", "transform", 2, created=at(10)),
    )
    out = ok(cluster.run("logs", "etl", "transform"))
    assert out == "[pod/t2-b/main] hello from t2-b\n[pod/t2-a/main] hello from t2-a\n"
    selector = f"{SELECTOR},workflow.zen.io/attempt=2"
    assert cluster.calls()[-1] == [
        "logs",
        "-l",
        selector,
        "--prefix",
        "--tail=-1",
        "--max-log-requests=2",
    ]


def test_logs_without_attempt_in_status_take_the_highest_found(cluster: Cluster) -> None:
    without = {**AWAITING, "steps": [state("transform", "Running", "JobRunning")]}
    logs_cluster(cluster, pod("t1", "transform", 1), pod("t3", "transform", 3), flow_status=without)
    assert ok(cluster.run("logs", "etl", "transform")) == "hello from t3\n"
    assert cluster.calls()[1] == ["get", "pods", "-l", SELECTOR, "-o", "json"]


def test_logs_of_garbage_collected_pods_point_to_the_jobs(cluster: Cluster) -> None:
    logs_cluster(cluster, pod("t1", "transform", 1))
    line = error(cluster.run("logs", "etl", "transform"), 3)
    assert line == (
        'no pod of step "transform" attempt 2 of jobflow "etl" exists any more (pods may be '
        "garbage-collected); its Job is kept: kubectl get jobs -n default -l "
        f"{SELECTOR},workflow.zen.io/attempt=2"
    )


def test_logs_of_a_step_not_started(cluster: Cluster) -> None:
    logs_cluster(cluster)
    line = error(cluster.run("logs", "etl", "load"), 3)
    assert line == 'step "load" of jobflow "etl" has not started: no pods yet'


def test_logs_of_an_approval_step_are_refused(etl: Cluster) -> None:
    line = error(etl.run("logs", "etl", "gate"), 4)
    assert line == 'step "gate" of jobflow "etl" is an approval step: no pods'


def test_logs_of_an_unknown_step_are_not_found(etl: Cluster) -> None:
    assert error(etl.run("logs", "etl", "nope"), 3).startswith('jobflow "etl" has no step "nope"')


def test_logs_relays_kubectl_failure(cluster: Cluster) -> None:
    logs_cluster(cluster, pod("t2", "transform", 2))
    stderr = 'Error from server (BadRequest): container "sidecar" is not valid for pod "t2"'
    cluster.write(**{**cluster.read(), "errors": {"logs": {"stderr": stderr}}})
    line = error(cluster.run("logs", "etl", "transform", "-c", "sidecar"), 1)
    assert line == 'container "sidecar" is not valid for pod "t2"'


# --- connection flags ------------------------------------------------------------------------

CONNECTION = ["--kubeconfig", "/tmp/team.kubeconfig", "--context", "prod", "--namespace", "team-a"]


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "team-a", "--context", "prod", "--kubeconfig", "/tmp/team.kubeconfig"],
        ["--namespace=team-a", "--context=prod", "--kubeconfig=/tmp/team.kubeconfig"],
    ],
    ids=["short", "equals"],
)
@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_connection_flags_reach_every_kubectl_call(
    cluster: Cluster, args: list[str], before: bool
) -> None:
    flow = jobflow("etl", *ETL_STEPS, namespace="team-a", flow_status=AWAITING)
    cluster.write(jobflows=[flow])
    command = ["approve", "etl", "gate"]
    ok(cluster.run(*(args + command if before else command + args)))
    calls = cluster.calls()
    assert [call[:6] for call in calls] == [CONNECTION, CONNECTION]
    assert [call[6] for call in calls] == ["get", "annotate"]
    assert cluster.annotations("etl", "team-a") == {f"{ANNOTATION_APPROVE_PREFIX}gate": "true"}


def test_flags_after_the_command_win_over_those_before(cluster: Cluster) -> None:
    flow = jobflow("etl", *ETL_STEPS, namespace="team-b", flow_status=AWAITING)
    cluster.write(jobflows=[flow])
    ok(cluster.run("-n", "team-a", "get", "etl", "-n", "team-b"))
    assert cluster.calls() == [["--namespace", "team-b", "get", JOBFLOWS, "etl", "-o", "json"]]


def test_kubeconfig_variable_reaches_kubectl(etl: Cluster) -> None:
    ok(etl.run("get", "etl", KUBECONFIG="/tmp/a:/tmp/b"))
    assert [record["KUBECONFIG"] for record in etl.records()] == ["/tmp/a:/tmp/b"]
    assert etl.calls() == [["get", JOBFLOWS, "etl", "-o", "json"]]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["get", "x"], ["tree", "x"], ["suspend", "x"], ["rerun", "x"],
                                     ["approve", "x", "s"], ["logs", "x", "s"], ["resume", "x"],
                                     ["terminate", "x"], ["reject", "x", "s"]])  # fmt: skip
def test_a_missing_flow_is_one_line_with_its_namespace_and_exit_code_3(
    cluster: Cluster, command: list[str]
) -> None:
    line = error(cluster.run(*command, "-n", "team-a"), 3)
    assert line == 'jobflow "x" not found in namespace "team-a"'


def test_a_missing_flow_names_the_context_namespace(cluster: Cluster) -> None:
    cluster.write(namespace="team-c")
    assert error(cluster.run("get", "x"), 3) == 'jobflow "x" not found in namespace "team-c"'
    assert cluster.calls()[-1] == ["config", "view", "--minify", "-o", "jsonpath={..namespace}"]
    cluster.write(namespace="")
    assert error(cluster.run("get", "x"), 3) == 'jobflow "x" not found in namespace "default"'


@pytest.mark.parametrize(
    ("verb", "stderr", "says"),
    [
        (
            "annotate",
            'Error from server (Forbidden): jobflows.workflow.zen.io "etl" is forbidden: User '
            '"bob" cannot patch resource "jobflows" in API group "workflow.zen.io"',
            'jobflows.workflow.zen.io "etl" is forbidden: User "bob" cannot patch resource '
            '"jobflows" in API group "workflow.zen.io"',
        ),
        (
            "get",
            "E0101 12:00:00.000000   42 memcache.go:265] couldn't get current server API group "
            "list: connection refused\n"
            "The connection to the server localhost:8080 was refused - did you specify the "
            "right host or port?",
            "The connection to the server localhost:8080 was refused - did you specify the "
            "right host or port?",
        ),
        (
            "get",
            'error: the server doesn\'t have a resource type "jobflows"',
            "the cluster has no JobFlow resource type: is zen-flow's CRD installed?",
        ),
        ("get", 'error: context "prod" does not exist', 'context "prod" does not exist'),
    ],
)
def test_kubectl_errors_are_one_line_and_exit_code_1(
    etl: Cluster, verb: str, stderr: str, says: str
) -> None:
    etl.write(**{**etl.read(), "errors": {verb: {"stderr": stderr}}})
    assert error(etl.run("suspend" if verb == "annotate" else "get", "etl"), 1) == says


def test_without_kubectl_on_path_exit_code_1(cluster: Cluster) -> None:
    (cluster.bin / "kubectl").unlink()
    done = cluster.run("get", "etl", PATH=str(cluster.bin))
    assert error(done, 1) == "kubectl not found on PATH"


def test_an_answer_that_is_not_json_is_an_error(cluster: Cluster) -> None:
    (cluster.bin / "kubectl").write_text("#!/bin/sh\necho 'not json'\n")
    assert error(cluster.run("get", "etl"), 1) == (
        f"kubectl get {JOBFLOWS} etl did not answer a JSON object"
    )


# --- what the plugin writes ------------------------------------------------------------------


def test_nothing_but_the_documented_annotations_is_ever_written(cluster: Cluster) -> None:
    before = jobflow(
        "etl",
        *ETL_STEPS,
        flow_status=AWAITING,
        annotations={"team": "data", ANNOTATION_TERMINATE: "true"},
    )
    cluster.write(jobflows=[before], pods=[pod("t2", "transform", 2)], logs={"t2": "hello\n"})
    for command in (
        ["get"],
        ["get", "etl"],
        ["tree", "etl"],
        ["logs", "etl", "transform"],
        ["suspend", "etl"],
        ["resume", "etl"],
        ["terminate", "etl"],
        ["rerun", "etl", "--token", "r1"],
        ["approve", "etl", "gate"],
        ["reject", "etl", "gate"],
    ):
        ok(cluster.run(*command))
    verbs = {call[0] for call in cluster.calls()}
    assert verbs == {"get", "annotate", "logs"}
    for call in cluster.calls():
        if call[0] == "annotate":
            assert call[:3] == ["annotate", JOBFLOWS, "etl"] and call[-1] == "--overwrite"
            keys = {change.partition("=")[0].removesuffix("-") for change in call[3:-1]}
            assert keys <= WRITTEN | {f"{ANNOTATION_APPROVE_PREFIX}gate"}, call
    after = cluster.flow("etl")
    assert {**after, "metadata": {}} == {**before, "metadata": {}}
    assert after["metadata"]["annotations"] == {
        "team": "data",
        ANNOTATION_RERUN: "r1",
        f"{ANNOTATION_APPROVE_PREFIX}gate": "false",
    }


@pytest.mark.parametrize("interval", ["0.01", "10ms", "1s"])
def test_interval_takes_seconds_or_a_duration(cluster: Cluster, interval: str) -> None:
    cluster.write(jobflows=[jobflow("etl", *ETL_STEPS, flow_status=FAILED)])
    ok(cluster.run("get", "etl", "--watch", "--interval", interval))
