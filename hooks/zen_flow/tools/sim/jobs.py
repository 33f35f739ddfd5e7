"""A fake Job controller: it gives Jobs the conditions the real one writes.

``finish_job`` and ``is_active`` serve any test; ``FakeJobController`` runs each Job for
its step's scripted duration and finishes it with its scripted outcome, stopping the clock
of a Job while it is suspended, as the real controller deletes its pods.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zen_flow.api.labels import LABEL_ATTEMPT, LABEL_STEP
from zen_flow.api.spec import Step
from zen_flow.api.times import format_time
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.scenario import Outcome, Scenario

DEADLINE_EXCEEDED = "DeadlineExceeded"
FAILED_REASON = "BackoffLimitExceeded"


def is_active(job: dict[str, Any]) -> bool:
    """A Job without a terminal condition."""
    return not any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions", [])
    )


def finish_job(
    cluster: FakeMetacontroller,
    name: str,
    succeeded: bool,
    reason: str = "",
    outputs: Mapping[str, Any] | None = None,
    failed_indexes: str | None = None,
) -> None:
    """Give a Job its terminal condition at the cluster's current time. A Job that succeeds
    with ``outputs`` leaves a succeeded pod whose termination message is them, as JSON. An
    Indexed Job counts its items: all succeeded, or all but ``failed_indexes`` (e.g. "1,3")."""
    obj = cluster.children.edit(("Job", name))
    if succeeded and outputs is not None:
        cluster.pods[f"{name}-pod"] = _pod(obj, outputs)
    at = format_time(cluster.now)
    condition = {
        "type": "Complete" if succeeded else "Failed",
        "status": "True",
        "reason": reason or ("" if succeeded else FAILED_REASON),
        "message": "",
        "lastTransitionTime": at,
    }
    status = obj.setdefault("status", {})
    status.setdefault("startTime", at)
    status["conditions"] = [*status.get("conditions", []), condition]
    completions = obj["spec"].get("completions")
    if obj["spec"].get("completionMode") == "Indexed" and isinstance(completions, int):
        failed = _count_indexes(failed_indexes) if failed_indexes else (0 if succeeded else 1)
        status["succeeded"] = max(0, completions - failed)
        status["failed"] = failed
        if failed_indexes:
            status["failedIndexes"] = failed_indexes
    elif succeeded:
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    if succeeded:
        status["completionTime"] = at


def _count_indexes(text: str) -> int:
    """How many indexes "1,3-5" names."""
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def _pod(job: dict[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The succeeded pod a Job leaves, labelled from its template, controlled by the Job."""
    template = job["spec"].get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    containers = (template.get("spec") or {}).get("containers") or [{"name": "main"}]
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-pod",
            "namespace": meta.get("namespace", "default"),
            "labels": labels,
            "ownerReferences": [
                {"kind": "Job", "name": meta["name"], "uid": meta["uid"], "controller": True}
            ],
        },
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": containers[0].get("name", "main"),
                    "state": {"terminated": {"exitCode": 0, "message": json.dumps(outputs)}},
                }
            ],
        },
    }


@dataclass
class JobRun:
    """One Job as the controller runs it: when its pods (re)started and how it ends."""

    name: str
    step: str
    attempt: int
    outcome: Outcome
    duration: float
    deadline: float | None
    running_since: datetime | None  # None while suspended

    def finish(self) -> tuple[datetime, bool, str] | None:
        """When it finishes, whether it succeeds, and the reason; None if it never does."""
        if self.running_since is None:
            return None
        if self.deadline is not None and (
            self.outcome is Outcome.TIMEOUT or self.duration > self.deadline
        ):
            return self.running_since + timedelta(seconds=self.deadline), False, DEADLINE_EXCEEDED
        if self.outcome is Outcome.TIMEOUT:
            return None
        at = self.running_since + timedelta(seconds=self.duration)
        succeeded = self.outcome is Outcome.SUCCEED
        return at, succeeded, "" if succeeded else FAILED_REASON


class FakeJobController:
    """Runs the Jobs of one simulated flow as ``scenario`` scripts them."""

    def __init__(
        self, cluster: FakeMetacontroller, scenario: Scenario, steps: Mapping[str, Step]
    ) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.steps = steps
        self.runs: dict[str, JobRun] = {}

    def track(self, name: str) -> JobRun | None:
        """Start running a Job just created; None for a Job that is not a step's."""
        obj = self.cluster.children.peek(("Job", name))
        labels = obj["metadata"].get("labels") or {}
        step, attempt_text = labels.get(LABEL_STEP), labels.get(LABEL_ATTEMPT, "")
        if step is None or not attempt_text.isdigit():
            return None
        attempt = int(attempt_text)
        run = JobRun(
            name=name,
            step=step,
            attempt=attempt,
            outcome=self.scenario.outcome(step, attempt),
            duration=self.scenario.duration(step),
            deadline=obj["spec"].get("activeDeadlineSeconds"),
            running_since=None if obj["spec"].get("suspend") else self.cluster.now,
        )
        self.runs[name] = run
        return run

    def forget(self, name: str) -> JobRun | None:
        """A Job was deleted."""
        return self.runs.pop(name, None)

    def next_finish(self) -> datetime | None:
        ends = [end[0] for end in (run.finish() for run in self.runs.values()) if end]
        return min(ends) if ends else None

    def finish_due(self) -> list[tuple[JobRun, bool, str]]:
        """Finish every Job due by now, in time order; what finished and how."""
        due = []
        for run in self.runs.values():
            ending = run.finish()
            if ending is not None and ending[0] <= self.cluster.now:
                due.append((ending[0], run.name, run, ending[1], ending[2]))
        finished = []
        for _, _, run, succeeded, reason in sorted(due, key=lambda item: item[:2]):
            step = self.steps.get(run.step)
            written = self.scenario.written(step) if step is not None else None
            finish_job(self.cluster, run.name, succeeded, reason, written)
            del self.runs[run.name]
            finished.append((run, succeeded, reason))
        return finished

    def suspended(self, name: str) -> bool:
        key = ("Job", name)
        obj = self.cluster.children.peek(key) if key in self.cluster.children else None
        return bool(obj and obj["spec"].get("suspend"))

    def toggle(self, run: JobRun, suspend: bool) -> None:
        """Suspending deletes the pods; resuming starts them again from the beginning and
        resets the Job's startTime, and with it the activeDeadlineSeconds timer."""
        obj = self.cluster.children.edit(("Job", run.name))
        status = obj.setdefault("status", {})
        at = format_time(self.cluster.now)
        condition = {
            "type": "Suspended",
            "status": "True" if suspend else "False",
            "reason": "JobSuspended" if suspend else "JobResumed",
            "message": "Job suspended" if suspend else "Job resumed",
            "lastTransitionTime": at,
        }
        others = [c for c in status.get("conditions", []) if c.get("type") != "Suspended"]
        status["conditions"] = [*others, condition]
        if suspend:
            run.running_since = None
        else:
            run.running_since = self.cluster.now
            status["startTime"] = at
