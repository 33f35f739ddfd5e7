"""The Metacontroller hook wire format: request bytes in, response bytes out.

Metacontroller sends every child in full (status, managedFields, the last-applied annotation),
so a 5000-step flow is a request of tens of megabytes. We decode straight from bytes into
typed structures that name only the fields the hooks read; everything else is skipped by the
decoder without building Python objects. Each child is also kept as its raw bytes so that it
can be re-emitted untouched.

The decoded structs are left out of the cyclic garbage collector (``gc=False``): a large
request makes thousands of them, each collection would scan them all, and decoded JSON
cannot form reference cycles.

Most children of a flow are the same from one sync to the next, so decoded children are
cached by their exact bytes (with the type and namespace they were checked against), within
``CHILD_CACHE_BYTES`` (estimated) per process, shared by its threads. A decoded child is never
changed. Each comes with a ``Memo``: what the layers above derive from the child alone (its
observation) is kept there, as long as the child is cached, and derived once.
"""

from __future__ import annotations

import re
import sys
from itertools import chain
from sys import getsizeof
from typing import Any, NamedTuple

import msgspec
from msgspec.structs import astuple

from zen_flow.api.labels import CHILD_CONFIGMAPS, CHILD_JOBS, CHILD_PVCS, RELATED_PODS
from zen_flow.engine.cache import Cache

NULL = msgspec.Raw(b"null")
# Decoded children, within this many (estimated) bytes per process.
CHILD_CACHE_BYTES = 96 * 1024 * 1024
# A cached child holds its bytes (the key), its decoded view (``_held`` counts it object by
# object), what observe derives from it, whose largest part is a copy of the last-applied
# record (no larger than the bytes, nor than the view, which holds it as a string), and this
# for the rest: the cache's slot, the observation's objects. tests/engine/test_caches.py
# checks the estimate against tracemalloc.
CHILD_OVERHEAD_BYTES = 1024
# Metacontroller and the API server decode JSON nested up to 10000 levels (Go's limit), so
# a flow can hold such nesting in the unmodelled parts of its pod templates.
MAX_JSON_DEPTH = 10_000
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


# Metacontroller's key of each declared child type, and what the objects under it are.
CHILD_TYPES = {
    CHILD_JOBS: ("batch/v1", "Job"),
    CHILD_CONFIGMAPS: ("v1", "ConfigMap"),
    CHILD_PVCS: ("v1", "PersistentVolumeClaim"),
}


class WireError(ValueError):
    """The request is not a hook request; the message names the field and the problem."""


class ObjectMeta(msgspec.Struct, frozen=True, gc=False):
    """The metadata fields the hooks read, of the parent and of children."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None


class JobCondition(msgspec.Struct, frozen=True, gc=False):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class ChildSpec(msgspec.Struct, frozen=True, gc=False):
    """Of a child's spec only a Job's ``suspend`` and ``completions`` matter; other kinds
    have none of them."""

    suspend: bool | None = None
    completions: int | None = None


class ChildStatus(msgspec.Struct, frozen=True, gc=False):
    conditions: list[JobCondition] = []
    startTime: str | None = None
    completionTime: str | None = None
    succeeded: int = 0
    failedIndexes: str | None = None


class ChildView(msgspec.Struct, frozen=True, gc=False):
    """What the hooks read of an observed child (Job, ConfigMap or PVC)."""

    apiVersion: str = ""
    kind: str = ""
    metadata: ObjectMeta = ObjectMeta()
    spec: ChildSpec = ChildSpec()
    status: ChildStatus = ChildStatus()


class Child(msgspec.Struct, frozen=True, gc=False):
    """An observed child: the fields read, and its bytes exactly as received."""

    view: ChildView
    raw: msgspec.Raw


class OwnerReference(msgspec.Struct, frozen=True, gc=False):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class PodMeta(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = {}
    ownerReferences: list[OwnerReference] = []


class Terminated(msgspec.Struct, frozen=True, gc=False):
    exitCode: int = 0
    message: str = ""


class ContainerState(msgspec.Struct, frozen=True, gc=False):
    terminated: Terminated | None = None


class ContainerStatus(msgspec.Struct, frozen=True, gc=False):
    name: str = ""
    state: ContainerState = ContainerState()


class PodStatus(msgspec.Struct, frozen=True, gc=False):
    phase: str = ""
    containerStatuses: list[ContainerStatus] = []


class PodView(msgspec.Struct, frozen=True, gc=False):
    """What the hooks read of a related pod: whose it is, and its termination messages."""

    metadata: PodMeta = PodMeta()
    status: PodStatus = PodStatus()


class Parent(msgspec.Struct, frozen=True, gc=False):
    """The JobFlow: metadata decoded, spec and status kept raw for the API models."""

    metadata: ObjectMeta
    apiVersion: str = ""
    kind: str = ""
    spec: msgspec.Raw = NULL
    status: msgspec.Raw = NULL


class _Related(msgspec.Struct, frozen=True, gc=False):
    pods: dict[str, PodView] | None = msgspec.field(default=None, name=RELATED_PODS)


class _Request(msgspec.Struct, frozen=True, gc=False):
    parent: Parent
    children: dict[str, dict[str, msgspec.Raw] | None] = {}
    related: _Related | None = None
    finalizing: bool = False


class Memo:
    """A place for what is derived from one decoded child; it lives as long as the child is
    cached. It never holds the child's own struct: that would make a reference cycle the
    collector cannot see (``gc=False``)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


class HookRequest(msgspec.Struct, frozen=True, gc=False):
    """A decoded sync or finalize request; children listed per type key, in key order, each
    with its memo (``memos``, in the same order), and the related pods (those of steps with
    outputs) in name order."""

    parent: Parent
    children: dict[str, tuple[Child, ...]]
    finalizing: bool = False
    pods: tuple[PodView, ...] = ()
    memos: dict[str, tuple[Memo, ...]] = {}


class HookResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer: exactly the keys Metacontroller accepts (v2 parses strictly)."""

    status: dict[str, Any]
    children: list[msgspec.Raw | dict[str, Any]]
    resyncAfterSeconds: float | None = None
    finalized: bool | None = None


_request_decoder = msgspec.json.Decoder(_Request)
_child_decoder = msgspec.json.Decoder(ChildView)
_encoder = msgspec.json.Encoder()


def allow_deep_json() -> None:
    """Let this process decode and encode JSON as deeply nested as Kubernetes allows.

    The decoder and encoder recurse once per level and stop at the interpreter's recursion
    limit; the entry points (server, command) call this once. The C stack this needs (some
    2 MB at 10000 levels) is far within a thread's default 8 MB.
    """
    needed = MAX_JSON_DEPTH + 2000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def decode_request(body: bytes) -> HookRequest:
    """Decode a hook request; ``WireError`` when it is not JSON or has the wrong shape."""
    try:
        request = _request_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise WireError(_describe(error)) from error
    except UnicodeDecodeError as error:
        raise WireError(
            f"the request is not UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    except RecursionError:
        raise WireError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_parent(request.parent.metadata)
    namespace = request.parent.metadata.namespace
    children: dict[str, tuple[Child, ...]] = {}
    memos: dict[str, tuple[Memo, ...]] = {}
    for type_key in sorted(request.children):
        if type_key not in CHILD_TYPES:
            known = ", ".join(sorted(CHILD_TYPES))
            raise WireError(f"children: unknown child type {type_key!r} (expected {known})")
        by_key = request.children[type_key] or {}
        # Keys are `name` (hook v1) or `namespace/name` (v2): sort for a stable order, but
        # never read them; the object itself says who it is.
        keys = sorted(by_key)
        bodies = [bytes(by_key[key]) for key in keys]
        decoded = _children.get_many([(type_key, namespace, body) for body in bodies])
        for index, found in enumerate(decoded):
            if found is None:
                decoded[index] = _decoded_child(type_key, keys[index], bodies[index], namespace)
        children[type_key] = tuple(found.child for found in decoded if found is not None)
        memos[type_key] = tuple(found.memo for found in decoded if found is not None)
    pods = (request.related.pods or {}) if request.related is not None else {}
    return HookRequest(
        parent=request.parent,
        children=children,
        finalizing=request.finalizing,
        pods=tuple(pods[key] for key in sorted(pods)),
        memos=memos,
    )


class _Decoded(NamedTuple):
    child: Child
    memo: Memo
    size: int  # estimated bytes held while cached


def _decoded_child(type_key: str, key: str, body: bytes, namespace: str) -> _Decoded:
    """Decode and check one child; cached unless it is refused."""
    try:
        view = _child_decoder.decode(body)
    except msgspec.DecodeError as error:
        path = f"children[{type_key!r}][{key!r}]"
        raise WireError(_describe(error, path)) from error
    except RecursionError:
        raise WireError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_child(type_key, key, view, namespace)
    held = _held(view)
    found = _Decoded(
        Child(view=view, raw=msgspec.Raw(body)),
        Memo(),
        CHILD_OVERHEAD_BYTES + len(body) + held + min(len(body), held),
    )
    _children.put((type_key, namespace, body), found)
    return found


def _held(view: ChildView) -> int:
    """The bytes a decoded child holds, its objects one by one (sys.getsizeof), counted with
    a few calls that iterate in C: a large flow's first sync in a worker sizes thousands.

    It counts ``ChildView`` as declared: structs of strings, numbers and these containers,
    the dicts (labels, annotations) of strings, the one list (conditions) of structs of
    strings. A field of another shape must be counted here too."""
    meta, status = view.metadata, view.status
    conditions = status.conditions
    return (
        getsizeof(view)
        + sum(map(getsizeof, astuple(view)))
        + sum(map(getsizeof, astuple(meta)))
        + sum(map(getsizeof, astuple(view.spec)))
        + sum(map(getsizeof, astuple(status)))
        + sum(map(getsizeof, chain(meta.labels, meta.labels.values())))
        + sum(map(getsizeof, chain(meta.annotations, meta.annotations.values())))
        + sum(map(getsizeof, conditions))
        + sum(map(getsizeof, chain.from_iterable(map(astuple, conditions))))
    )


def _decoded_size(found: _Decoded) -> int:
    return found.size


_children: Cache[tuple[str, str, bytes], _Decoded] = Cache(CHILD_CACHE_BYTES, _decoded_size)


def clear_cache() -> None:
    """Forget every decoded child (for measurements)."""
    _children.clear()


def cache_bytes() -> int:
    """The estimated bytes the cache of decoded children holds now."""
    return _children.bytes


def _check_parent(meta: ObjectMeta) -> None:
    """The API server names every object validly: a request whose parent it did not name is
    not a hook request (and its name must never reach a child's name)."""
    if len(meta.name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(meta.name):
        raise WireError(f"parent.metadata.name: {meta.name[:80]!r} is not a Kubernetes name")
    if len(meta.namespace) > 63 or not _DNS1123_LABEL.fullmatch(meta.namespace):
        raise WireError(
            f"parent.metadata.namespace: {meta.namespace[:80]!r} is not a Kubernetes namespace"
        )
    if not meta.uid or len(meta.uid) > 128 or not meta.uid.isascii():
        raise WireError("parent.metadata.uid: missing or not a Kubernetes uid")


def _check_child(type_key: str, key: str, view: ChildView, namespace: str) -> None:
    """Metacontroller lists only objects of the declared types, in the parent's namespace."""
    where = f"children[{type_key!r}][{key!r}]"
    if (view.apiVersion, view.kind) != CHILD_TYPES[type_key]:
        api_version, kind = CHILD_TYPES[type_key]
        raise WireError(
            f"{where}: a {view.kind or 'nameless kind'} among the {kind}s ({api_version})"
        )
    meta = view.metadata
    if len(meta.name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(meta.name):
        raise WireError(f"{where}.metadata.name: {meta.name[:80]!r} is not a Kubernetes name")
    if meta.namespace not in ("", namespace):
        raise WireError(f"{where}.metadata.namespace: {meta.namespace[:80]!r} is not the parent's")


def encode_response(response: HookResponse) -> bytes:
    """Serialise a response; same response, same bytes."""
    return _encoder.encode(response)


def encode(value: object) -> bytes:
    """Serialise any JSON value the way responses are serialised."""
    return _encoder.encode(value)


_JSON_TYPES = {
    "object": "an object",
    "array": "a list",
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
}
_EXPECTED = re.compile(r"Expected `([^`]+)`, got `([^`]+)`(?: - at `\$(.*)`)?$")
_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$(.*)`)?$")


def _describe(error: msgspec.DecodeError, prefix: str = "") -> str:
    """What is wrong with a request, where: ``parent.metadata.generation: must be a whole
    number (got a string)``, the paths as the rest of the API writes them."""
    text = str(error)
    expected, missing = _EXPECTED.match(text), _MISSING.match(text)
    if expected:
        want, got, where = expected.groups()
        wanted = " or ".join(_JSON_TYPES.get(kind, kind) for kind in want.split(" | "))
        return f"{_path(prefix, where)}: must be {wanted} (got {_JSON_TYPES.get(got, got)})"
    if missing:
        field, where = missing.groups()
        return f"{_path(prefix, (where or '') + '.' + field)}: required field is missing"
    if isinstance(error, msgspec.ValidationError):
        return f"{prefix}: {text}" if prefix else text
    text = text.removeprefix("JSON is malformed: ")
    return f"{prefix}: not JSON: {text}" if prefix else f"the body is not JSON: {text}"


def _path(prefix: str, where: str | None) -> str:
    """``$.parent.metadata`` (msgspec's) after ``prefix`` as ``parent.metadata``."""
    rest = (where or "").lstrip(".")
    if prefix:
        return prefix + ("" if not rest or rest.startswith("[") else ".") + rest
    return rest or "the request"
