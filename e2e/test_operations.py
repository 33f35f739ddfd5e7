"""Operating zen-flow: the TTL janitor and the backup/restore procedure, run for real.

Both scripts are taken from the rendered manifests (deploy/janitor, the backup component) and
run on this machine with kubectl against the API server, as their CronJobs would in a pod.
The restore is the shell code of docs/DISASTER_RECOVERY.md#restore, run line by line.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from e2e.cluster import ROOT, Cluster
from e2e.flows import chain, jobflow, step
from e2e.kube import Kube, Obj, describe_flow, steps_of, wait_for
from e2e.scenario import FlowWatch, attempts_by_step

DOC = ROOT / "docs" / "DISASTER_RECOVERY.md"


def cronjob_script(kube: Kube, target: Path, name: str) -> tuple[str, dict[str, str]]:
    """The shell script and environment of CronJob ``name`` as kustomize renders ``target``."""
    rendered = kube.kubectl("kustomize", str(target)).stdout
    (cronjob,) = [
        o
        for o in yaml.safe_load_all(rendered)
        if o and o["kind"] == "CronJob" and o["metadata"]["name"] == name
    ]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return script, env


def component_overlay(directory: Path, component: str) -> Path:
    """An overlay of deploy/ with one component, as a user writes it (outside the repo)."""
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(ROOT / "deploy", directory)],
                "components": [
                    os.path.relpath(ROOT / "deploy" / "components" / component, directory)
                ],
            }
        )
    )
    return directory


def run_script(kube: Kube, script: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        env={**kube.env(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"script failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def test_janitor_deletes_a_finished_flow_whose_ttl_passed(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    kube = cluster.kube
    kube.apply(
        jobflow("expired", [step("only")], executionPolicy={"ttlSecondsAfterFinished": 1}), ns
    )
    kube.apply(
        jobflow("kept", [step("only")], executionPolicy={"ttlSecondsAfterFinished": 3600}), ns
    )
    expired = kube.wait_flow(ns, "expired")
    kube.wait_flow(ns, "kept")
    finished = datetime.fromisoformat(expired["status"]["completionTime"].replace("Z", "+00:00"))
    # The janitor compares whole seconds: wait until the TTL has passed by a full second.
    wait_for(
        "the TTL of jobflow expired to pass",
        lambda: datetime.now(UTC) >= finished + timedelta(seconds=3),
        10,
    )
    script, env = cronjob_script(kube, ROOT / "deploy" / "janitor", "zen-flow-janitor")
    home = tmp_path / "home"
    home.mkdir()
    output = run_script(kube, script, {**env, "HOME": str(home)}, tmp_path)
    assert f"deleting jobflow {ns}/expired" in output, output
    assert f"{ns}/kept" not in output
    wait_for("jobflow expired to be gone (finalized)", lambda: kube.flow(ns, "expired") is None, 60)
    wait_for("the Jobs of jobflow expired to be gone", lambda: not kube.jobs_of(ns, "expired"), 60)
    assert kube.flow(ns, "kept") is not None
    assert kube.jobs_of(ns, "kept"), "a kept flow keeps its Jobs"


def restore_commands() -> list[str]:
    """The shell lines of the Restore section's code blocks, in order."""
    text = DOC.read_text()
    section = text.split("\n### Restore\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_restore_keeps_finished_steps(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    kube = cluster.kube
    # "half": a and b finish, c still runs at backup time. "whole": finished. "paused":
    # suspended by its owner before the backup; it must stay so.
    half = chain("half", 3)
    half["spec"]["steps"][2] = step("s2", ["s1"], run_for="12s")
    kube.apply(half, ns)
    kube.apply(chain("whole", 2), ns)
    paused = jobflow("paused", [step("only")])
    paused["metadata"]["annotations"] = {"workflow.zen.io/suspended": "true"}
    kube.apply(paused, ns)
    FlowWatch(kube, ns, "half").step_running("s2")
    kube.wait_flow(ns, "whole")
    kube.wait_flow(ns, "paused", phases=("Suspended",), timeout=30)

    # Backup: the component's own script.
    backups = tmp_path / "backup"
    backups.mkdir()
    overlay = component_overlay(tmp_path / "overlay", "backup")
    script, env = cronjob_script(kube, overlay, "zen-flow-backup")
    run_script(kube, script, {**env, "BACKUP_DIR": str(backups), "HOME": str(tmp_path)}, tmp_path)
    (backup,) = backups.iterdir()
    date = re.fullmatch(r"jobflows-(.+)\.json", backup.name)
    assert date, backup.name

    # Disaster: the namespace's flows are gone, and their Jobs with them.
    kube.kubectl("delete", "jobflows", "--all", "-n", ns, "--timeout=90s")
    wait_for("every Job of the deleted flows to be gone", lambda: not kube.objects("jobs", ns), 60)

    # Restore: the documented commands, placeholders filled in.
    watch = FlowWatch(kube, ns, "half")
    for line in restore_commands():
        command = line.replace("<date>", date[1]).replace("<namespace>", ns)
        assert "<" not in command.replace("<<", ""), f"unfilled placeholder in: {line}"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=backups,
            env={**kube.env(), "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, f"`{command}` failed:\n{result.stderr}\n{result.stdout}"
        watch.poll()

    done = watch.until_phase("Succeeded", timeout=90)
    steps = steps_of(done)
    assert {name: s["phase"] for name, s in steps.items()} == dict.fromkeys(
        ("s0", "s1", "s2"), "Succeeded"
    ), describe_flow(done)
    rerun = {step for step, _, _ in watch.seen.values()}
    assert rerun <= {"s2"}, f"finished steps ran again: {sorted(rerun)}"
    assert attempts_by_step(kube.jobs_of(ns, "half")).keys() <= {"s2"}
    whole = kube.wait_flow(ns, "whole")
    assert {s["phase"] for s in steps_of(whole).values()} == {"Succeeded"}
    assert kube.jobs_of(ns, "whole") == [], "a finished flow runs nothing after a restore"
    restored_pause: Obj | None = kube.flow(ns, "paused")
    assert restored_pause is not None
    assert restored_pause["metadata"]["annotations"].get("workflow.zen.io/suspended") == "true"
    assert kube.jobs_of(ns, "paused") == []
