"""What the scenarios share: watching a flow's Jobs, reading examples, checking absence."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e.flows import FAIL_LABEL, RUN_FOR, TERMINATION_MESSAGE
from e2e.kube import Kube, Obj, describe_flow, job_attempts, wait_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass
class FlowWatch:
    """Polls a flow and its Jobs, remembering every Job ever seen (by uid)."""

    kube: Kube
    namespace: str
    name: str
    seen: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # uid → step, attempt, name
    phases: list[str] = field(default_factory=list)  # the flow's phases, in the order seen

    def poll(self) -> Obj | None:
        for job in self.kube.jobs_of(self.namespace, self.name):
            labels = job["metadata"]["labels"]
            self.seen[job["metadata"]["uid"]] = (
                labels.get("workflow.zen.io/step", "?"),
                labels.get("workflow.zen.io/attempt", "?"),
                job["metadata"]["name"],
            )
        flow = self.kube.flow(self.namespace, self.name)
        phase = (flow or {}).get("status", {}).get("phase")
        if phase and (not self.phases or self.phases[-1] != phase):
            self.phases.append(phase)
        return flow

    def until(self, what: str, test: Callable[[Obj], bool], timeout: float = 90) -> Obj:
        """Poll until ``test(flow)`` holds."""

        def probe() -> Obj | None:
            flow = self.poll()
            return flow if flow is not None and test(flow) else None

        return wait_for(
            f"{what} (jobflow {self.namespace}/{self.name})",
            probe,
            timeout,
            detail=lambda: describe_flow(self.kube.flow(self.namespace, self.name)),
        )

    def until_phase(self, *phases: str, timeout: float = 90) -> Obj:
        terminal = {"Succeeded", "Failed"} - set(phases)

        def test(flow: Obj) -> bool:
            phase = flow.get("status", {}).get("phase")
            if phase in terminal:
                raise AssertionError(
                    f"jobflow {self.namespace}/{self.name} ended {phase}, expected "
                    f"{'/'.join(phases)}:\n{describe_flow(flow)}"
                )
            return phase in phases

        return self.until(f"phase {'/'.join(phases)}", test, timeout)

    def step_running(self, step: str, timeout: float = 60) -> Obj:
        """Until ``step``'s pod runs (its Job exists and kwok has started the pod)."""

        def pod_running(flow: Obj) -> bool:
            pods = self.kube.objects(
                "pods", self.namespace, f"jobflow={self.name},workflow.zen.io/step={step}"
            )
            return any(p.get("status", {}).get("phase") == "Running" for p in pods)

        return self.until(f"a running pod of step {step}", pod_running, timeout)

    def assert_one_job_per_attempt(self) -> None:
        """Exactly one Job per step attempt, ever: nothing was created twice or re-run."""
        final = {j["metadata"]["uid"] for j in self.kube.jobs_of(self.namespace, self.name)}
        attempts = sorted((step, attempt) for step, attempt, _ in self.seen.values())
        duplicates = sorted({a for a in attempts if attempts.count(a) > 1})
        assert not duplicates, f"more than one Job for (step, attempt) {duplicates}: {self.seen}"
        gone = {uid: self.seen[uid] for uid in set(self.seen) - final}
        assert not gone, f"Jobs deleted while the flow ran: {gone}"


def assert_stays(what: str, holds: Callable[[], bool], seconds: float) -> None:
    """Observe for ``seconds`` that ``holds()`` stays true (for absences: nothing starts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert holds(), f"{what} stopped holding"
        time.sleep(0.2)


def job_by_step(kube: Kube, namespace: str, flow: str) -> dict[str, Obj]:
    """The flow's Jobs by step, for flows whose steps each ran once."""
    return {
        j["metadata"]["labels"]["workflow.zen.io/step"]: j for j in kube.jobs_of(namespace, flow)
    }


def attempts_by_step(jobs: list[Obj]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for step, attempt in job_attempts(jobs):
        found.setdefault(step, []).append(attempt)
    return found


# --- examples --------------------------------------------------------------------------------


def example(name: str) -> Obj:
    loaded: Obj = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return loaded


def comment_commands(name: str) -> list[list[str]]:
    """The kubectl commands an example's header comment tells users to run."""
    commands = []
    for line in (EXAMPLES / f"{name}.yaml").read_text().splitlines():
        text = line.lstrip("# ").rstrip()
        if line.startswith("#") and text.startswith("kubectl "):
            commands.append(shlex.split(text))
    return commands


def pod_template(flow: Obj, step: str) -> Obj:
    """The pod template of a step's Job, with metadata ready to receive labels/annotations."""
    (found,) = [s for s in flow["spec"]["steps"] if s["name"] == step]
    pod: Obj = found["template"]["spec"]["template"]
    meta = pod.setdefault("metadata", {})
    meta.setdefault("labels", {})
    meta.setdefault("annotations", {})
    return pod


def make_fail(flow: Obj, step: str) -> None:
    """kwok fails the step's pods (the program "always fails")."""
    pod_template(flow, step)["metadata"]["labels"][FAIL_LABEL] = "true"


def make_run_for(flow: Obj, step: str, duration: str) -> None:
    """kwok keeps the step's pods running for ``duration`` (the program's run time)."""
    pod_template(flow, step)["metadata"]["annotations"][RUN_FOR] = duration


def make_outputs(flow: Obj, step: str, outputs: Obj) -> None:
    """kwok writes ``outputs`` (a JSON object) as the termination message of the step's pod,
    as the example's program would."""
    pod_template(flow, step)["metadata"]["annotations"][TERMINATION_MESSAGE] = json.dumps(outputs)
