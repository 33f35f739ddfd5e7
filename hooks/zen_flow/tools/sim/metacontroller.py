"""A fake Metacontroller, with the objects of one flow as the API server would hold them.

It builds Metacontroller-shaped requests from the objects it holds, and applies answers the
way Metacontroller does: status replaced; missing children created with the last-applied
annotation; changed ones updated (a Job only in ``spec.suspend``, as a real API server
refuses other changes); children left out deleted. It refuses what Metacontroller or the API
server would refuse, so a test that passes here does not depend on luck there.

Requests and answers are bytes (``request_bytes``, ``apply_bytes``): the objects are kept
encoded (``store``), and an answer's child is parsed only when its bytes differ from what
was last applied to it (the hooks re-emit Metacontroller's last-applied record verbatim),
so a sync of a flow with thousands of Jobs costs the simulator little more than the bytes.
``request`` and ``apply`` are the same with decoded objects, for tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

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
from zen_flow.tools.sim.store import Key, Objects, StoredFlow, decode, encode
from zen_flow.tools.sim.transports import Transport

TYPE_KEYS = {"Job": CHILD_JOBS, "ConfigMap": CHILD_CONFIGMAPS, "PersistentVolumeClaim": CHILD_PVCS}
_ALLOWED_RESPONSE_KEYS = {"status", "children", "resyncAfterSeconds", "finalized"}
_CONTROLLER = b'{"metadata":{"name":"zen-flow"}}'

_answer_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_children_decoder = msgspec.json.Decoder(list[msgspec.Raw] | None)


class ApplyError(AssertionError):
    """The answer would be rejected by Metacontroller or the API server."""


@dataclass
class Change:
    """One thing that happened to a child when an answer was applied."""

    action: str  # created | updated | deleted
    kind: str
    name: str


class FakeMetacontroller:
    """One JobFlow and its children, and Metacontroller's side of the hook calls."""

    def __init__(
        self,
        flow: dict[str, Any],
        now: datetime,
        hook_version: str = "v2",
        children: Mapping[Key, dict[str, Any]] | None = None,
        pods: dict[str, dict[str, Any]] | None = None,
        resync_after: float | None = None,
    ) -> None:
        meta = flow.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generated_name(str(meta["generateName"]))
        meta.setdefault(
            "uid",
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meta['namespace']}/{meta.get('name', '')}")),
        )
        meta.setdefault("generation", 1)
        flow.setdefault("apiVersion", "workflow.zen.io/v1alpha1")
        flow.setdefault("kind", "JobFlow")
        self._flow = StoredFlow(flow)
        self._children = children if isinstance(children, Objects) else Objects(children)
        self.now = now
        self.hook_version = hook_version
        self.pods: dict[str, dict[str, Any]] = {} if pods is None else pods  # by name
        self.resync_after = resync_after
        self._rules: tuple[bytes, list[dict[str, Any]]] | None = None

    # -- the objects ------------------------------------------------------------------------

    @property
    def flow(self) -> dict[str, Any]:
        """The JobFlow, to read or edit (status included)."""
        self._children.forget_applied()  # its namespace may change
        return self._flow.handed_out()

    @flow.setter
    def flow(self, flow: dict[str, Any]) -> None:
        self._children.forget_applied()
        self._flow.replace(flow)

    @property
    def children(self) -> Objects:
        """The children by (kind, name); a child read from it may be edited by the reader."""
        return self._children

    @children.setter
    def children(self, children: Mapping[Key, dict[str, Any]]) -> None:
        self._children = children if isinstance(children, Objects) else Objects(children)

    def take_back(self) -> None:
        """Nobody holds the objects handed out (``flow``, ``children[...]``) any more: keep
        them as bytes, encoded once, until they are read again."""
        self._flow.take_back()
        self._children.take_back()

    def annotate(self, key: str, value: str | None) -> None:
        """Set the flow's annotation ``key`` (None: remove it), as a user does."""
        annotations = self._flow.edit_metadata().setdefault("annotations", {})
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value

    @property
    def namespace(self) -> str:
        return str(self._flow.peek()["metadata"]["namespace"])

    @property
    def status(self) -> dict[str, Any]:
        return self._flow.status()

    @property
    def status_bytes(self) -> bytes | None:
        """The flow's status as the last answer wrote it; None before the first."""
        return self._flow.status_bytes()

    # -- requests -------------------------------------------------------------------------

    def request(self, finalizing: bool = False) -> dict[str, Any]:
        """The request Metacontroller would send now."""
        request: dict[str, Any] = json.loads(self.request_bytes(finalizing))
        return request

    def request_bytes(self, finalizing: bool = False) -> bytes:
        """The request Metacontroller would send now, as it posts it."""
        key_format = (self.hook_version, self.namespace)
        children = b",".join(
            encode(type_key) + b":{" + self._children.joined(kind, self._key, key_format) + b"}"
            for kind, type_key in TYPE_KEYS.items()
        )
        return b"".join(
            (
                b'{"controller":',
                _CONTROLLER,
                b',"parent":',
                self._flow.encoded(),
                b',"children":{',
                children,
                b'},"related":',
                self._related(),
                b',"finalizing":',
                b"true" if finalizing else b"false",
                b"}",
            )
        )

    def related(self) -> dict[str, dict[str, Any]]:
        """The pods the customize hook asks for, as Metacontroller would select them."""
        related: dict[str, dict[str, Any]] = json.loads(self._related())
        return related

    def _related(self) -> bytes:
        if not self.pods:
            return b"{}"
        rules = self._relation_rules()
        selected = {
            self._key(name): pod
            for name, pod in sorted(self.pods.items())
            if any(_selects(rule["labelSelector"], pod) for rule in rules)
        }
        return encode({RELATED_PODS: selected}) if rules else b"{}"

    def _relation_rules(self) -> list[dict[str, Any]]:
        """The customize hook's answer, asked again only when the flow's spec or metadata
        changed (Metacontroller caches it per flow generation)."""
        parent = b'{"metadata":' + self._flow.part("metadata")
        parent += b',"spec":' + self._flow.part("spec") + b"}"
        if self._rules is None or self._rules[0] != parent:
            answer = customize(b'{"parent":' + parent + b"}")
            self._rules = (parent, answer["relatedResources"])
        return self._rules[1]

    def _key(self, name: str) -> str:
        return name if self.hook_version == "v1" else f"{self.namespace}/{name}"

    def call(self, transport: Transport, finalizing: bool = False) -> dict[str, Any]:
        """Send a request through ``transport`` and apply the answer."""
        answer = transport.exchange(self.request_bytes(finalizing), self.now, finalizing)
        self.apply_bytes(answer)
        response: dict[str, Any] = json.loads(answer)
        return response

    # -- applying answers ---------------------------------------------------------------

    def apply(self, response: dict[str, Any]) -> list[Change]:
        """Apply an answer like Metacontroller: status replaced, children reconciled."""
        return self.apply_bytes(encode(response))

    def apply_bytes(self, answer: bytes) -> list[Change]:
        """``apply`` for the answer's bytes."""
        try:
            response = _answer_decoder.decode(answer)
        except msgspec.DecodeError as error:
            raise ApplyError(f"the answer is not a JSON object: {error}") from error
        extra = set(response) - _ALLOWED_RESPONSE_KEYS
        if extra:
            raise ApplyError(f"response has keys Metacontroller v2 rejects: {sorted(extra)}")
        if "status" not in response:
            raise ApplyError("response has no status: it would wipe the flow's status")
        self._flow.set_status(bytes(response["status"]))
        resync = response.get("resyncAfterSeconds")
        self.resync_after = decode(resync) if resync is not None else None
        children = response.get("children")
        try:
            listed = _children_decoder.decode(children) if children is not None else None
        except msgspec.DecodeError as error:
            raise ApplyError(f"the answer's children are not a list: {error}") from error
        return self._reconcile([bytes(child) for child in listed or []])

    def _reconcile(self, bodies: list[bytes]) -> list[Change]:
        known = list(map(self._children.applied_key, bodies))
        if None not in known and len(set(known)) == len(known) == len(self._children):
            return []  # every child listed once, each as last applied: nothing to do
        desired = self._desired(bodies, known)
        changes: list[Change] = []
        for key in sorted(set(self._children) - set(desired)):
            self.delete(*key)
            changes.append(Change("deleted", *key))
        for key, (body, child) in desired.items():
            if child is None:
                continue  # listed as last applied
            if key not in self._children:
                self._create(key, body, child)
                changes.append(Change("created", *key))
            elif self._update(key, body, child):
                changes.append(Change("updated", *key))
        return changes

    def _desired(
        self, bodies: list[bytes], known: list[Key | None]
    ) -> dict[Key, tuple[bytes, dict[str, Any] | None]]:
        """The answer's children by (kind, name), parsed unless they are known as last
        applied; ``ApplyError`` for what would be refused."""
        desired: dict[Key, tuple[bytes, dict[str, Any] | None]] = {}
        for body, key in zip(bodies, known, strict=True):
            child: dict[str, Any] | None = None
            if key is None:
                child = decode(body)
                key = (child["kind"], child["metadata"]["name"])
            if key in desired:
                raise ApplyError(f"child {key} listed twice")
            if child is not None:
                self._check(key, child)
            desired[key] = (body, child)
        return desired

    def _check(self, key: Key, child: dict[str, Any]) -> None:
        if child["kind"] not in TYPE_KEYS:
            raise ApplyError(f"child kind {child['kind']} is not a declared child type")
        namespace = child["metadata"].get("namespace", self.namespace)
        if namespace != self.namespace:
            raise ApplyError(f"child {key} in namespace {namespace}, flow in {self.namespace}")
        refused = _refused_name(child["kind"], key[1])
        if refused:
            raise ApplyError(f"the API server would refuse {child['kind']} {key[1]!r}: {refused}")

    def _create(self, key: Key, body: bytes, desired: dict[str, Any]) -> None:
        applied = canonical(desired)
        obj = desired  # parsed from the answer for this object alone
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        meta["creationTimestamp"] = format_time(self.now)
        meta["uid"] = f"uid-{meta['name']}"
        meta.setdefault("annotations", {})[ANNOTATION_LAST_APPLIED] = applied
        if obj["kind"] == "Job":
            obj["status"] = {}
            if not obj["spec"].get("suspend"):
                obj["status"]["startTime"] = format_time(self.now)
        self._children.create(key, obj, (body, applied.encode()))

    def _update(self, key: Key, body: bytes, desired: dict[str, Any]) -> bool:
        current = self._children.peek(key)
        last = json.loads(current["metadata"]["annotations"][ANNOTATION_LAST_APPLIED])
        applied = canonical(desired)
        if canonical(last) == applied:
            self._children.record_applied(key, (body, applied.encode()))
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
            live = self._children.edit(key)
            live["spec"]["suspend"] = desired["spec"].get("suspend", False)
        else:
            if current.get("immutable") and any(
                current.get(k) != desired.get(k) for k in ("data", "binaryData", "immutable")
            ):
                raise ApplyError(f"{key[0]} {key[1]} is immutable: its data cannot change")
            live = self._children.edit(key)
            for field_name, value in desired.items():
                if field_name != "metadata":
                    live[field_name] = copy.deepcopy(value)
        live["metadata"]["annotations"][ANNOTATION_LAST_APPLIED] = applied
        self._children.record_applied(key, (body, applied.encode()))
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
        del self._children[(kind, name)]
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
