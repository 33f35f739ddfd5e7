"""Sync requests as Metacontroller sends them, at 0 %, 50 % and 100 % of a flow's progress.

A flow is driven by the real hook through the simulator's ``FakeMetacontroller``; then every
Job is inflated to what the API server returns for it (uid, resourceVersion, the labels the
Job controller adds, ownerReferences, managedFields, the defaulted spec with its selector,
a full status), which is what makes a 5000-step request some 20 MB.

Driving a 5000-step chain one link per sync would take thousands of syncs, so the Jobs of
the steps that are to be finished are created by the hook all at once (in as few waves as
status has room for), from a copy of the flow whose finished steps have no dependencies
(same names, same templates: the very same Jobs). The FakeMetacontroller finishes them; the
real flow then adopts them, the way the hook catches up when its status lags its children,
and starts whatever is ready next.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.flows import jobflow
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED, CHILD_CONFIGMAPS, CHILD_JOBS, CHILD_PVCS
from zen_flow.api.times import format_time
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request, encode_response
from zen_flow.spec.dag import topological_order
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
PROGRESS = (0, 50, 100)
MAX_SETTLE = 20


@dataclass(frozen=True)
class Fixture:
    """One sync request: the bytes Metacontroller posts, and the hook's "now" for it."""

    shape: str
    steps: int
    progress: int
    body: bytes
    now: datetime
    jobs: int

    @property
    def label(self) -> str:
        return f"{self.shape}/{self.steps}/{self.progress}%"


def build(shape: str, steps: int, progress: int) -> Fixture:
    """The request for ``shape`` with ``steps`` steps, ``progress`` percent of them finished."""
    flow = jobflow(shape, steps)
    cluster = drive(flow, round(steps * progress / 100))
    body = request_bytes(cluster)
    jobs = sum(1 for kind, _ in cluster.children if kind == "Job")
    return Fixture(shape, steps, progress, body, cluster.now, jobs)


def drive(flow: dict[str, Any], finished: int) -> FakeMetacontroller:
    """The flow after the first ``finished`` steps (in dependency order) have succeeded."""
    spec = flow["spec"]
    order = topological_order({s["name"]: s["dependencies"] for s in spec["steps"]})
    done = set(order[:finished])
    cluster = FakeMetacontroller(flow=copy.deepcopy(flow), now=START)
    if done:
        shortcut_flow = copy.deepcopy(flow)
        shortcut_flow["spec"]["steps"] = [
            {**step, "dependencies": []} for step in spec["steps"] if step["name"] in done
        ]
        shortcut_cluster = FakeMetacontroller(flow=shortcut_flow, now=START)
        position = {name: index for index, name in enumerate(order)}
        finished_jobs = 0
        # In waves: thousands of steps ready at once start as status has room for them.
        while True:
            settle(shortcut_cluster)
            jobs = sorted(
                (job for job in shortcut_cluster.jobs() if is_active(job)),
                key=lambda j: position[j["metadata"]["labels"][_STEP]],
            )
            if not jobs:
                break
            for job in jobs:
                # Finished one after the other, a second apart, like a flow that ran a while.
                shortcut_cluster.now = START + timedelta(seconds=60 + finished_jobs)
                finish_job(shortcut_cluster, job["metadata"]["name"], succeeded=True)
                finished_jobs += 1
        cluster.children = shortcut_cluster.children
        cluster.now = shortcut_cluster.now + timedelta(seconds=1)
    settle(cluster)
    return cluster


def settle(cluster: FakeMetacontroller) -> None:
    """Sync until an answer changes nothing, as Metacontroller would after each change.

    Like ``transports.in_process`` (the same bytes in, the same bytes out), without its deep
    copy of every child: thousands of Jobs are serialised straight from the cluster.
    """
    for _ in range(MAX_SETTLE):
        before = cluster.status
        children: dict[str, dict[str, Any]] = {CHILD_JOBS: {}, CHILD_CONFIGMAPS: {}, CHILD_PVCS: {}}
        for (kind, name), obj in sorted(cluster.children.items()):
            children[_TYPE_KEYS[kind]][name] = obj
        body = json.dumps(
            {"parent": cluster.flow, "children": children}, separators=(",", ":")
        ).encode()
        answer = sync(decode_request(body), cluster.now).response
        if not cluster.apply(json.loads(encode_response(answer))) and cluster.status == before:
            return
    raise RuntimeError("the hook's answers do not settle")


def request_bytes(cluster: FakeMetacontroller) -> bytes:
    """The sync request Metacontroller would post for the cluster's current state."""
    flow = api_server_flow(cluster.flow, cluster.now)
    owner = flow["metadata"]
    children: dict[str, dict[str, Any]] = {CHILD_JOBS: {}, CHILD_CONFIGMAPS: {}, CHILD_PVCS: {}}
    for number, ((kind, name), obj) in enumerate(sorted(cluster.children.items())):
        if kind == "Job":
            children[CHILD_JOBS][name] = api_server_job(obj, owner, 1000 + number)
    request = {
        "controller": _controller(),
        "parent": flow,
        "children": children,
        "related": {},
        "finalizing": False,
    }
    # Metacontroller is written in Go: compact JSON, keys in struct or map order.
    return json.dumps(request, separators=(",", ":")).encode()


# --- the API server's view of objects --------------------------------------------------------

_STEP = "workflow.zen.io/step"
_TYPE_KEYS = {"Job": CHILD_JOBS, "ConfigMap": CHILD_CONFIGMAPS, "PersistentVolumeClaim": CHILD_PVCS}


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def api_server_flow(flow: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The JobFlow as the API server returns it (server-side applied, with status)."""
    obj = copy.deepcopy(flow)
    meta = obj["metadata"]
    created = format_time(START - timedelta(seconds=5))
    meta.update(
        uid=_uid("jobflow", meta["name"]),
        resourceVersion="987654",
        generation=1,
        creationTimestamp=created,
        managedFields=[
            {
                "apiVersion": "workflow.zen.io/v1alpha1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": fields_v1(obj["spec"], atomic=ATOMIC_SPEC_LISTS)},
                "manager": "kubectl",
                "operation": "Apply",
                "time": created,
            },
            {
                "apiVersion": "workflow.zen.io/v1alpha1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": fields_v1(obj.get("status") or {}, depth=1)},
                "manager": "metacontroller",
                "operation": "Update",
                "subresource": "status",
                "time": format_time(now),
            },
        ],
    )
    return obj


def api_server_job(
    obj: dict[str, Any], owner: dict[str, Any], resource_version: int
) -> dict[str, Any]:
    """A Job as the API server returns it: defaulted, labelled, owned, with managedFields."""
    job = copy.deepcopy(obj)
    meta = job["metadata"]
    name = meta["name"]
    uid = _uid("job", name)
    created = meta["creationTimestamp"]
    job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name}
    meta["labels"] = {**meta.get("labels", {}), "controller-uid": owner["uid"]}
    meta.update(
        uid=uid,
        resourceVersion=str(resource_version),
        generation=1,
        ownerReferences=[
            {
                "apiVersion": "workflow.zen.io/v1alpha1",
                "kind": "JobFlow",
                "name": owner["name"],
                "uid": owner["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    )
    spec = job["spec"]
    for key, value in (
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("completions", 1),
        ("manualSelector", False),
        ("parallelism", 1),
        ("podReplacementPolicy", "TerminatingOrFailed"),
        ("suspend", False),
    ):
        spec.setdefault(key, value)
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec["template"]
    template.setdefault("metadata", {})["labels"] = {
        **template["metadata"].get("labels", {}),
        **job_labels,
        "controller-uid": uid,
        "job-name": name,
    }
    pod = template["spec"]
    for container in pod.get("containers", []):
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
    defaults: tuple[tuple[str, Any], ...] = (
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("securityContext", {}),
        ("terminationGracePeriodSeconds", 30),
    )
    for key, value in defaults:
        pod.setdefault(key, value)
    job["status"] = _job_status(obj)
    applied = json.loads(meta["annotations"][ANNOTATION_LAST_APPLIED])
    meta["managedFields"] = [
        {
            "apiVersion": "batch/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(applied),
            "manager": "metacontroller",
            "operation": "Update",
            "time": created,
        },
        {
            "apiVersion": "batch/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": fields_v1(job["status"])},
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "time": job["status"].get("completionTime") or created,
        },
    ]
    return job


def _job_status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    start = status.get("startTime") or obj["metadata"]["creationTimestamp"]
    if is_active(obj):
        return {
            "active": 1,
            "ready": 1,
            "startTime": start,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    conditions = []
    for condition in status.get("conditions", []):
        when = condition["lastTransitionTime"]
        full = {**condition, "lastProbeTime": when}
        if condition["type"] == "Complete":
            reason = {
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
            }
            conditions.append({**full, "type": "SuccessCriteriaMet", **reason})
            full.update(reason)
        conditions.append(full)
    succeeded = any(c["type"] == "Complete" for c in conditions)
    return {
        "conditions": conditions,
        "startTime": start,
        **({"completionTime": status.get("completionTime")} if succeeded else {}),
        "ready": 0,
        "succeeded" if succeeded else "failed": 1,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }


# The CRD's atomic lists: one field each in managedFields, whatever they hold.
ATOMIC_SPEC_LISTS = frozenset({"steps", "finally", "templates"})


def fields_v1(value: Any, depth: int = 64, atomic: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The managedFields ``fieldsV1`` of an object: ``f:`` per field, ``k:`` per keyed item
    (of lists other than the ``atomic`` ones at this level)."""
    if not isinstance(value, dict) or depth == 0:
        return {}
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key in atomic:
            fields[f"f:{key}"] = {}
        elif (
            isinstance(item, list)
            and item
            and all(isinstance(i, dict) and "name" in i for i in item)
        ):
            fields[f"f:{key}"] = {
                "k:" + json.dumps({"name": i["name"]}, separators=(",", ":")): {
                    ".": {},
                    **fields_v1(i, depth - 1),
                }
                for i in item
            }
        else:
            fields[f"f:{key}"] = fields_v1(item, depth - 1)
    return fields


def _controller() -> dict[str, Any]:
    path = ROOT / "metacontroller" / "compositecontroller.yaml"
    controller: dict[str, Any] = (
        yaml.safe_load(path.read_text()) if path.exists() else {"metadata": {"name": "zen-flow"}}
    )
    controller.setdefault("metadata", {}).update(
        uid=_uid("compositecontroller", "zen-flow"), resourceVersion="4242", generation=1
    )
    return controller
