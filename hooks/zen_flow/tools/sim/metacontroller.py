"""A fake Metacontroller, with the objects of one flow as the API server would hold them.

It builds Metacontroller-shaped requests from the objects it holds, and applies answers the
way Metacontroller does: status replaced; missing children created with the last-applied
annotation; changed ones updated (a Job only in ``spec.suspend``, as a real API server
refuses other changes); children left out deleted. It refuses what Metacontroller or the API
server would refuse, so a test that passes here does not depend on luck there.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
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
    RELATED_PODS,
)
from zen_flow.api.times import format_time
from zen_flow.engine.customize import customize
from zen_flow.spec.names import MAX_GENERATE_NAME
from zen_flow.tools.sim.transports import Transport

TYPE_KEYS = {"Job": CHILD_JOBS, "ConfigMap": CHILD_CONFIGMAPS, "PersistentVolumeClaim": CHILD_PVCS}
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
class FakeMetacontroller:
    """One JobFlow and its children, and Metacontroller's side of the hook calls."""

    flow: dict[str, Any]
    now: datetime
    hook_version: str = "v2"
    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    resync_after: float | None = None

    def __post_init__(self) -> None:
        meta = self.flow.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generated_name(str(meta["generateName"]))
        meta.setdefault(
            "uid",
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meta['namespace']}/{meta.get('name', '')}")),
        )
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
        by_type: dict[str, dict[str, Any]] = {key: {} for key in TYPE_KEYS.values()}
        for (kind, name), obj in sorted(self.children.items()):
            by_type[TYPE_KEYS[kind]][self._key(name)] = copy.deepcopy(obj)
        return {
            "controller": {"metadata": {"name": "zen-flow"}},
            "parent": copy.deepcopy(self.flow),
            "children": by_type,
            "related": self.related(),
            "finalizing": finalizing,
        }

    def related(self) -> dict[str, dict[str, Any]]:
        """The pods the customize hook asks for, as Metacontroller would select them."""
        rules = customize(json.dumps({"parent": self.flow}).encode())["relatedResources"]
        if not rules or not self.pods:
            return {}
        selected = {
            self._key(name): copy.deepcopy(pod)
            for name, pod in sorted(self.pods.items())
            if any(_selects(rule["labelSelector"], pod) for rule in rules)
        }
        return {RELATED_PODS: selected}

    def _key(self, name: str) -> str:
        return name if self.hook_version == "v1" else f"{self.namespace}/{name}"

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
        desired = self._desired(response.get("children") or [])
        for key in sorted(set(self.children) - set(desired)):
            self.delete(*key)
            changes.append(Change("deleted", *key))
        for key, child in desired.items():
            if key not in self.children:
                self.children[key] = self._created(child)
                changes.append(Change("created", *key))
            elif self._update(key, child):
                changes.append(Change("updated", *key))
        return changes

    def _desired(self, children: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The answer's children by (kind, name); ``ApplyError`` for what would be refused."""
        desired: dict[tuple[str, str], dict[str, Any]] = {}
        for child in children:
            key = (child["kind"], child["metadata"]["name"])
            if key in desired:
                raise ApplyError(f"child {key} listed twice")
            if child["kind"] not in TYPE_KEYS:
                raise ApplyError(f"child kind {child['kind']} is not a declared child type")
            namespace = child["metadata"].get("namespace", self.namespace)
            if namespace != self.namespace:
                raise ApplyError(f"child {key} in namespace {namespace}, flow in {self.namespace}")
            refused = _refused_name(child["kind"], key[1])
            if refused:
                raise ApplyError(
                    f"the API server would refuse {child['kind']} {key[1]!r}: {refused}"
                )
            desired[key] = child
        return desired

    def _created(self, desired: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(desired)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        meta["creationTimestamp"] = format_time(self.now)
        meta["uid"] = f"uid-{meta['name']}"
        meta.setdefault("annotations", {})[ANNOTATION_LAST_APPLIED] = canonical(desired)
        if obj["kind"] == "Job":
            obj["status"] = {}
            if not obj["spec"].get("suspend"):
                obj["status"]["startTime"] = format_time(self.now)
        return obj

    def _update(self, key: tuple[str, str], desired: dict[str, Any]) -> bool:
        live = self.children[key]
        last = json.loads(live["metadata"]["annotations"][ANNOTATION_LAST_APPLIED])
        if canonical(last) == canonical(desired):
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
            if live.get("immutable") and any(
                live.get(k) != desired.get(k) for k in ("data", "binaryData", "immutable")
            ):
                raise ApplyError(f"{key[0]} {key[1]} is immutable: its data cannot change")
            for field_name, value in desired.items():
                if field_name != "metadata":
                    live[field_name] = copy.deepcopy(value)
        live["metadata"]["annotations"][ANNOTATION_LAST_APPLIED] = canonical(desired)
        return True

    # -- the objects, as the API server lists them ----------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        return [obj for (kind, _), obj in sorted(self.children.items()) if kind == "Job"]

    def job(self, step: str, attempt: int = 1) -> dict[str, Any] | None:
        for obj in self.jobs():
            labels = obj["metadata"].get("labels", {})
            if labels.get(LABEL_STEP) == step and labels.get(LABEL_ATTEMPT) == str(attempt):
                return obj
        return None

    def delete(self, kind: str, name: str) -> None:
        """A user (or a TTL) deletes a child; a deleted Job's pods go with it."""
        del self.children[(kind, name)]
        if kind == "Job":
            self.pods = {
                pod_name: pod
                for pod_name, pod in self.pods.items()
                if pod["metadata"]["ownerReferences"][0]["name"] != name
            }


def _selects(selector: dict[str, Any], obj: dict[str, Any]) -> bool:
    """A label selector (matchLabels, matchExpressions with In) matches the object."""
    labels = obj["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(
        labels.get(expression["key"]) in expression["values"]
        for expression in selector.get("matchExpressions") or []
    )


# The characters the API server draws the suffix of a generated name from.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def generated_name(prefix: str) -> str:
    """The name the API server makes from ``metadata.generateName``: the prefix (cut to 58
    characters) and 5 random characters; here derived from the prefix, so that a simulation
    prints the same names every time."""
    digest = hashlib.sha256(prefix.encode()).digest()
    suffix = "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest[:5])
    return prefix[:MAX_GENERATE_NAME] + suffix


def simulated_name(flow: dict[str, Any]) -> str:
    """The name the flow has in a simulation: its own, or the one made from generateName."""
    meta = flow.get("metadata") or {}
    if meta.get("name"):
        return str(meta["name"])
    if meta.get("generateName"):
        return generated_name(str(meta["generateName"]))
    return ""


def _refused_name(kind: str, name: str) -> str:
    """Why the API server would refuse a child named ``name``, or ""."""
    limit = 63 if kind == "Job" else 253
    if len(name) > limit:
        return f"{len(name)} characters, at most {limit} allowed"
    if not _SUBDOMAIN.fullmatch(name):
        return "not a DNS subdomain name"
    return ""


def canonical(obj: Any) -> str:
    """The JSON Metacontroller compares and stores as the last-applied configuration."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
