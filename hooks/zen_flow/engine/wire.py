"""The Metacontroller hook wire format: request bytes in, response bytes out.

Metacontroller sends every child in full (status, managedFields, the last-applied annotation),
so a 5000-step flow is a request of tens of megabytes. We decode straight from bytes into
typed structures that name only the fields the hooks read; everything else is skipped by the
decoder without building Python objects. Each child is also kept as its raw bytes so that it
can be re-emitted untouched.

The decoded structs are left out of the cyclic garbage collector (``gc=False``): a large
request makes thousands of them, each collection would scan them all, and decoded JSON
cannot form reference cycles.
"""

from __future__ import annotations

from typing import Any

import msgspec

NULL = msgspec.Raw(b"null")


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
    """Of a child's spec only Job's ``suspend`` matters; other kinds have none of it."""

    suspend: bool | None = None


class ChildStatus(msgspec.Struct, frozen=True, gc=False):
    conditions: list[JobCondition] = []
    startTime: str | None = None
    completionTime: str | None = None


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


class Parent(msgspec.Struct, frozen=True, gc=False):
    """The JobFlow: metadata decoded, spec and status kept raw for the API models."""

    metadata: ObjectMeta
    apiVersion: str = ""
    kind: str = ""
    spec: msgspec.Raw = NULL
    status: msgspec.Raw = NULL


class _Request(msgspec.Struct, frozen=True, gc=False):
    parent: Parent
    children: dict[str, dict[str, msgspec.Raw] | None] = {}
    finalizing: bool = False


class HookRequest(msgspec.Struct, frozen=True, gc=False):
    """A decoded sync or finalize request; children listed per type key, in key order."""

    parent: Parent
    children: dict[str, tuple[Child, ...]]
    finalizing: bool = False


class HookResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer: exactly the keys Metacontroller accepts (v2 parses strictly)."""

    status: dict[str, Any]
    children: list[msgspec.Raw | dict[str, Any]]
    resyncAfterSeconds: float | None = None
    finalized: bool | None = None


_request_decoder = msgspec.json.Decoder(_Request)
_child_decoder = msgspec.json.Decoder(ChildView)
_encoder = msgspec.json.Encoder()


def decode_request(body: bytes) -> HookRequest:
    """Decode a hook request; ``WireError`` when it is not JSON or has the wrong shape."""
    try:
        request = _request_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise WireError(_describe(error)) from error
    children: dict[str, tuple[Child, ...]] = {}
    for type_key in sorted(request.children):
        by_key = request.children[type_key] or {}
        decoded = []
        # Keys are `name` (hook v1) or `namespace/name` (v2): sort for a stable order, but
        # never read them; the object itself says who it is.
        for key in sorted(by_key):
            raw = by_key[key]
            try:
                view = _child_decoder.decode(raw)
            except msgspec.DecodeError as error:
                path = f"children[{type_key!r}][{key!r}]"
                raise WireError(_describe(error, path)) from error
            decoded.append(Child(view=view, raw=raw))
        children[type_key] = tuple(decoded)
    return HookRequest(parent=request.parent, children=children, finalizing=request.finalizing)


def encode_response(response: HookResponse) -> bytes:
    """Serialise a response; same response, same bytes."""
    return _encoder.encode(response)


def encode(value: object) -> bytes:
    """Serialise any JSON value the way responses are serialised."""
    return _encoder.encode(value)


def _describe(error: msgspec.DecodeError, prefix: str = "") -> str:
    """msgspec says `at $.parent.metadata`; we say `parent.metadata` like the rest of the API."""
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        text = text.replace(" - at `$", " at `" + (prefix or "request"))
        text = text.replace("`request.", "`").replace("`request`", "the request")
    elif prefix:
        text = f"{prefix}: {text}"
    return text
