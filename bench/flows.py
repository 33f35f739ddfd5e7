"""The flows measured: a linear chain, a wide fan-out and a layered random DAG.

Every step runs a realistic Job template (a container with a command, environment and
resources, retries and a time limit), so the Jobs the hook renders, and the requests
Metacontroller sends back, are the size of real ones. The template is given once, in
``spec.templates``, the step's name its argument, as a flow of thousands of steps must be
written to fit in one object (a 5000-step flow with inline templates takes 4 MiB).
"""

from __future__ import annotations

import math
import random
from typing import Any

SHAPES = ("chain", "fan-out", "layered")
SEED = 20250101
MAX_DEPENDENCIES = 3


def step_name(index: int) -> str:
    return f"transform-{index:05d}"


def job_template(step: str) -> dict[str, Any]:
    """The Job template of one step, as a user would write it."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "labels": {"app.kubernetes.io/name": "etl", "app.kubernetes.io/part-of": "warehouse"},
            "annotations": {"owner": "data-platform"},
        },
        "spec": {
            # The step's retries and time limit, in the Job itself: a flow of thousands of
            # steps keeps each step's entry short (see "Large flows" in the user guide).
            "backoffLimit": 2,
            "activeDeadlineSeconds": 3600,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "etl"}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "etl-runner",
                    "containers": [
                        {
                            "name": "main",
                            "image": "etl-runner:2.14.3",
                            "command": ["python", "-m", "etl.run", "--step", step],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "WAREHOUSE_HOST", "value": "warehouse.data.svc"},
                            ],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "512Mi"},
                                "limits": {"memory": "2Gi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def dependencies(shape: str, steps: int) -> list[list[int]]:
    """For each step, the indexes of the steps it depends on."""
    if shape == "chain":
        return [[] if i == 0 else [i - 1] for i in range(steps)]
    if shape == "fan-out":
        return [[] if i == 0 else [0] for i in range(steps)]
    if shape == "layered":
        return _layered(steps)
    raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")


def _layered(steps: int) -> list[list[int]]:
    """Layers of about sqrt(steps) steps; each step depends on 1-3 steps of the layer above."""
    rng = random.Random(SEED)
    width = max(1, round(math.sqrt(steps)))
    result: list[list[int]] = []
    previous: list[int] = []
    current: list[int] = []
    for index in range(steps):
        if len(current) == width:
            previous, current = current, []
        current.append(index)
        if not previous:
            result.append([])
            continue
        count = rng.randint(1, min(MAX_DEPENDENCIES, len(previous)))
        result.append(sorted(rng.sample(previous, count)))
    return result


def jobflow(shape: str, steps: int) -> dict[str, Any]:
    """A JobFlow object of ``steps`` steps of the given shape."""
    graph = dependencies(shape, steps)
    return {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": f"bench-{shape}-{steps}", "namespace": "warehouse"},
        "spec": {
            "executionPolicy": {"backoffLimit": 20},
            "templates": [
                {
                    "name": "etl",
                    "parameters": [{"name": "step"}],
                    "template": job_template("{{params.step}}"),
                }
            ],
            "steps": [
                {
                    "name": step_name(i),
                    "dependencies": [step_name(d) for d in graph[i]],
                    "templateRef": "etl",
                    "arguments": {"step": step_name(i)},
                }
                for i in range(steps)
            ],
        },
    }


def items_flow(items: int) -> dict[str, Any]:
    """One step run over ``items`` items (``withItems``): one Indexed Job."""
    return {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": f"bench-items-{items}", "namespace": "warehouse"},
        "spec": {
            "steps": [
                {
                    "name": "each",
                    "withItems": [f"part-{i:05d}" for i in range(items)],
                    "parallelism": 100,
                    "template": job_template("each"),
                }
            ]
        },
    }
