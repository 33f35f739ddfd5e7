"""A small stand-in for Metacontroller and the Job controller, on a virtual clock.

It builds Metacontroller-shaped requests from the objects it holds, applies answers the way
Metacontroller does (create missing children with the last-applied annotation, update
changed ones, delete those left out, replace status), and lets a caller finish Jobs. The CLI's
``simulate`` and the contract tests drive the real hooks with it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zen_flow.api.labels import (
    ANNOTATION_LAST_APPLIED,
    CHILD_CONFIGMAPS,
    CHILD_JOBS,
    CHILD_PVCS,
    LABEL_ATTEMPT,
    LABEL_STEP,
)
from zen_flow.api.times import format_time

Transport = Callable[[dict[str, Any], datetime, bool], dict[str, Any]]
"""Sends a hook request (request, now, finalizing) and returns the decoded response."""

_TYPE_KEYS = {"Job": CHILD_JOBS, "ConfigMap": CHILD_CONFIGMAPS, "PersistentVolumeClaim": CHILD_PVCS}
_ALLOWED_RESPONSE_KEYS = {"status", "children", "resyncAfterSeconds", "finalized"}


class ApplyError(AssertionError):
    """The answer would be rejected by Metacontroller or the API server."""


@dataclass
class Change:
    """One thing that happened to a child when an answer was applied."""

    action: str  # created | updated | deleted
    kind: str
    name: str


@dataclass
class FakeCluster:
    """One JobFlow and its children, as the API server would hold them."""

    flow: dict[str, Any]
    now: datetime
    hook_version: str = "v2"
    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resync_after: float | None = None

    def __post_init__(self) -> None:
        meta = self.flow.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", f"uid-{meta.get('name', 'flow')}")
        meta.setdefault("generation", 1)
        self.flow.setdefault("apiVersion", "workflow.zen.io/v1alpha1")
        self.flow.setdefault("kind", "JobFlow")

    # -- requests -------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return str(self.flow["metadata"]["namespace"])

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.flow.get("status") or {})

    def request(self, finalizing: bool = False) -> dict[str, Any]:
        """The request Metacontroller would send now."""
        by_type: dict[str, dict[str, Any]] = {key: {} for key in _TYPE_KEYS.values()}
        for (kind, name), obj in sorted(self.children.items()):
            key = name if self.hook_version == "v1" else f"{self.namespace}/{name}"
            by_type[_TYPE_KEYS[kind]][key] = copy.deepcopy(obj)
        return {
            "controller": {"metadata": {"name": "zen-flow"}},
            "parent": copy.deepcopy(self.flow),
            "children": by_type,
            "related": {},
            "finalizing": finalizing,
        }

    def call(self, transport: Transport, finalizing: bool = False) -> dict[str, Any]:
        """Send a request through ``transport`` and apply the answer."""
        response = transport(self.request(finalizing), self.now, finalizing)
        self.apply(response)
        return response

    # -- applying answers ---------------------------------------------------------------

    def apply(self, response: dict[str, Any]) -> list[Change]:
        """Apply an answer like Metacontroller: status replaced, children reconciled."""
        extra = set(response) - _ALLOWED_RESPONSE_KEYS
        if extra:
            raise ApplyError(f"response has keys Metacontroller v2 rejects: {sorted(extra)}")
        if "status" not in response:
            raise ApplyError("response has no status: it would wipe the flow's status")
        self.flow["status"] = copy.deepcopy(response["status"])
        self.resync_after = response.get("resyncAfterSeconds")
        changes: list[Change] = []
        desired: dict[tuple[str, str], dict[str, Any]] = {}
        for child in response.get("children") or []:
            key = (child["kind"], child["metadata"]["name"])
            if key in desired:
                raise ApplyError(f"child {key} listed twice")
            if child["kind"] not in _TYPE_KEYS:
                raise ApplyError(f"child kind {child['kind']} is not a declared child type")
            namespace = child["metadata"].get("namespace", self.namespace)
            if namespace != self.namespace:
                raise ApplyError(f"child {key} in namespace {namespace}, flow in {self.namespace}")
            desired[key] = child
        for key in sorted(set(self.children) - set(desired)):
            del self.children[key]
            changes.append(Change("deleted", *key))
        for key, child in desired.items():
            if key not in self.children:
                self.children[key] = self._created(child)
                changes.append(Change("created", *key))
            elif self._update(key, child):
                changes.append(Change("updated", *key))
        return changes

    def _created(self, desired: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(desired)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        meta["creationTimestamp"] = format_time(self.now)
        meta["uid"] = f"uid-{meta['name']}"
        meta.setdefault("annotations", {})[ANNOTATION_LAST_APPLIED] = _canonical(desired)
        if obj["kind"] == "Job":
            obj["status"] = {}
            if not obj["spec"].get("suspend"):
                obj["status"]["startTime"] = format_time(self.now)
        return obj

    def _update(self, key: tuple[str, str], desired: dict[str, Any]) -> bool:
        live = self.children[key]
        last = json.loads(live["metadata"]["annotations"][ANNOTATION_LAST_APPLIED])
        if _canonical(last) == _canonical(desired):
            return False
        if key[0] == "Job":
            changed_spec = {
                k
                for k in set(last["spec"]) | set(desired["spec"])
                if last["spec"].get(k) != desired["spec"].get(k)
            }
            if changed_spec - {"suspend"} or last["metadata"] != desired["metadata"]:
                raise ApplyError(
                    f"Job {key[1]}: update of immutable or unexpected fields {sorted(changed_spec)}"
                )
            live["spec"]["suspend"] = desired["spec"].get("suspend", False)
        else:
            for field_name, value in desired.items():
                if field_name != "metadata":
                    live[field_name] = copy.deepcopy(value)
        live["metadata"]["annotations"][ANNOTATION_LAST_APPLIED] = _canonical(desired)
        return True

    # -- the Job controller ---------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        return [obj for (kind, _), obj in sorted(self.children.items()) if kind == "Job"]

    def job(self, step: str, attempt: int = 1) -> dict[str, Any] | None:
        for obj in self.jobs():
            labels = obj["metadata"].get("labels", {})
            if labels.get(LABEL_STEP) == step and labels.get(LABEL_ATTEMPT) == str(attempt):
                return obj
        return None

    def finish_job(self, name: str, succeeded: bool, reason: str = "") -> None:
        """Give a Job its terminal condition at the current time."""
        obj = self.children[("Job", name)]
        at = format_time(self.now)
        condition = {
            "type": "Complete" if succeeded else "Failed",
            "status": "True",
            "reason": reason or ("" if succeeded else "BackoffLimitExceeded"),
            "message": "",
            "lastTransitionTime": at,
        }
        status = obj.setdefault("status", {})
        status.setdefault("startTime", at)
        status["conditions"] = [*status.get("conditions", []), condition]
        if succeeded:
            status["completionTime"] = at
            status["succeeded"] = 1
        else:
            status["failed"] = 1

    def delete(self, kind: str, name: str) -> None:
        del self.children[(kind, name)]


def is_active(job: dict[str, Any]) -> bool:
    """A Job without a terminal condition."""
    return not any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions", [])
    )


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def in_process(request: dict[str, Any], now: datetime, finalizing: bool) -> dict[str, Any]:
    """A transport that calls the core directly, through the same bytes as the server."""
    from zen_flow.engine.sync import sync
    from zen_flow.engine.wire import decode_request, encode_response

    decoded = decode_request(json.dumps({**request, "finalizing": finalizing}).encode())
    answer: dict[str, Any] = json.loads(encode_response(sync(decoded, now).response))
    return answer
