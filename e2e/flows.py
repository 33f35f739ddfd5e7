"""Building blocks of the flows the scenarios run.

kwok plays every pod: a step's "program" is how long its pod runs (``run_for``, read by the
stage in e2e/kwok-stages.yaml from a pod annotation) and whether it fails (kwok's failure
label). Commands in the templates are never run.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from e2e.kube import Obj

RUN_FOR = "e2e.zen-flow.io/run-for"
# What a succeeding pod writes as its termination message (a step's outputs), played by kwok.
TERMINATION_MESSAGE = "e2e.zen-flow.io/termination-message"
FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"


def job_template(run_for: str | None = None, fail: bool = False) -> Obj:
    """A step's batch/v1 Job; kwok runs its pod for ``run_for`` (a Go duration), or fails it."""
    pod_meta: Obj = {}
    if run_for:
        pod_meta["annotations"] = {RUN_FOR: run_for}
    if fail:
        pod_meta["labels"] = {FAIL_LABEL: "true"}
    pod: Obj = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
        }
    }
    if pod_meta:
        pod["metadata"] = pod_meta
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"backoffLimit": 0, "template": pod},
    }


def step(
    name: str,
    dependencies: Sequence[str] = (),
    run_for: str | None = None,
    fail: bool = False,
    **extra: object,
) -> Obj:
    """One step of a flow; ``extra`` adds fields (retryPolicy, when, timeoutSeconds...)."""
    found: Obj = {"name": name}
    if dependencies:
        found["dependencies"] = list(dependencies)
    found.update(copy.deepcopy(extra))
    found["template"] = job_template(run_for, fail)
    return found


def jobflow(name: str, steps: Sequence[Obj], **spec: object) -> Obj:
    return {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": name},
        "spec": {**copy.deepcopy(spec), "steps": list(steps)},
    }


def chain(name: str, length: int, run_for: str | None = None) -> Obj:
    """s0 → s1 → ... → s<length-1>."""
    return jobflow(
        name,
        [step(f"s{i}", [f"s{i - 1}"] if i else [], run_for=run_for) for i in range(length)],
    )


def layered_flow(name: str, layers: int, width: int) -> Obj:
    """``layers`` layers of ``width`` steps, each step after the first layer depending on
    one step of the layer above; every step names one template of ``spec.templates``, so the
    spec stays small (about 60 bytes a step)."""
    steps: list[Obj] = []
    for index in range(layers * width):
        layer, column = divmod(index, width)
        found: Obj = {"name": f"s{index:04d}", "templateRef": "work"}
        if layer:
            found["dependencies"] = [f"s{(layer - 1) * width + column:04d}"]
        steps.append(found)
    return jobflow(name, steps, templates=[{"name": "work", "template": job_template()}])
