"""The last check of every answer: it stays within the flow's trust boundary.

Metacontroller creates whatever an answer lists, with rights over the whole cluster, and
deletes every observed child an answer leaves out. So before an answer leaves the engine:
its children are only Jobs, ConfigMaps and PersistentVolumeClaims, only in the flow's
namespace, each listed once, and (unless the flow is being finalized) every observed child
is among them. Identities are read from the very bodies sent, independently of how the
engine built them. An answer that breaks this is a bug; it is never sent (HTTP 500 instead,
and Metacontroller retries).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import msgspec

from zen_flow.engine.cache import Cache
from zen_flow.engine.children import Desired
from zen_flow.engine.observe import Observation
from zen_flow.engine.wire import CHILD_TYPES

ALLOWED_TYPES = frozenset(CHILD_TYPES.values())
# Identities read from re-emitted children, within this many (estimated) bytes per process.
IDENTITY_CACHE_BYTES = 16 * 1024 * 1024
# An entry besides the bytes it holds: the fields read, the cache's slot.
IDENTITY_BYTES = 512


class UnsafeAnswer(RuntimeError):
    """An answer that would cross the trust boundary or lose a child."""


class Identity(NamedTuple):
    """Who a child is: what Metacontroller creates, updates or deletes by."""

    api_version: str
    kind: str
    namespace: str
    name: str


class _Meta(msgspec.Struct):
    name: Any = None
    namespace: Any = None


class _Identified(msgspec.Struct):
    apiVersion: Any = ""
    kind: Any = ""
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _Loosely(msgspec.Struct):
    """Any JSON object, whatever its metadata is."""

    apiVersion: Any = ""
    kind: Any = ""
    metadata: Any = None


# Names are read without decoding the rest of the metadata; a body whose metadata is not an
# object is read loosely (it has no name).
_identity_decoder = msgspec.json.Decoder(_Identified)
_loose_decoder = msgspec.json.Decoder(_Loosely)


def identity(body: Desired, namespace: str) -> Identity:
    """The identity Metacontroller reads from ``body``; an empty namespace is ``namespace``
    (Metacontroller defaults it to the parent's)."""
    return identities([body], namespace)[0]


def identities(bodies: Iterable[Desired], namespace: str) -> list[Identity]:
    """``identity`` of each body, in order (``UnsafeAnswer`` for a body that is not a JSON
    object). A body re-emitted sync after sync is read once."""
    listed = list(bodies)
    known = _read.get_many(list(map(id, listed)))
    # The identity read last holds for this namespace too unless the body has none.
    found = [
        read.identity
        if read is not None and read.body is body and read.identity.namespace == namespace
        else None
        for read, body in zip(known, listed, strict=True)
    ]
    for index, identified in enumerate(found):
        if identified is None:
            found[index] = _identity_of(listed[index], known[index], namespace)
    return found  # type: ignore[return-value]  # every None was replaced


def _identity_of(body: Desired, read: _Read | None, namespace: str) -> Identity:
    """``body``'s identity in ``namespace``; a body read before is not decoded again."""
    known = read is not None and read.body is body
    if read is not None and known:
        api_version, kind, name, given = read.fields
    elif isinstance(body, msgspec.Raw):
        api_version, kind, name, given = _decoded_identity(body)
    else:
        meta = body.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        api_version, kind = body.get("apiVersion"), body.get("kind")
        name, given = meta.get("name"), meta.get("namespace")
    found = Identity(
        _text(api_version),
        _text(kind),
        namespace if given in (None, "") else _text(given),
        _text(name),
    )
    if isinstance(body, msgspec.Raw) and not known:
        fields = (api_version, kind, name, given)
        _read.put(id(body), _Read(body, fields, found, IDENTITY_BYTES + len(body)))
    return found


def _decoded_identity(body: msgspec.Raw) -> tuple[Any, Any, Any, Any]:
    """apiVersion, kind, name and namespace as the body has them (None when missing)."""
    try:
        decoded = _identity_decoder.decode(body)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as error:
        raise UnsafeAnswer(f"a child that is not a JSON object: {error}") from error
    else:
        meta = decoded.metadata
        return decoded.apiVersion, decoded.kind, meta.name, meta.namespace
    try:
        loose = _loose_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise UnsafeAnswer(f"a child that is not a JSON object: {error}") from error
    fields = loose.metadata if isinstance(loose.metadata, dict) else {}
    return loose.apiVersion, loose.kind, fields.get("name"), fields.get("namespace")


class _Read(NamedTuple):
    body: msgspec.Raw  # held, so that its id is not reused while the entry is kept
    fields: tuple[Any, Any, Any, Any]  # apiVersion, kind, name, namespace as written
    identity: Identity  # in the namespace of the flow that sent it first
    size: int


def _read_size(entry: _Read) -> int:
    return entry.size


# What a re-emitted child says of its identity, by the object that holds its bytes: a child
# is re-emitted as the same ``msgspec.Raw`` sync after sync (it is kept with the child's
# observation), and its bytes cannot change. Within IDENTITY_CACHE_BYTES (estimated).
_read: Cache[int, _Read] = Cache(IDENTITY_CACHE_BYTES, _read_size)


def clear_cache() -> None:
    """Forget every identity read (for measurements)."""
    _read.clear()


def _where(found: Identity) -> str:
    api_version, kind, namespace, name = found
    return f"{kind or '?'} {name or '?'} ({api_version or '?'}, namespace {namespace!r})"


def _text(value: Any) -> str:
    """A field Metacontroller reads as a string; anything else counts as missing."""
    return value if isinstance(value, str) else ""


def check_answer(
    observation: Observation,
    desired: Iterable[Desired],
    *,
    finalizing: bool,
    deleted_jobs: frozenset[str] = frozenset(),
) -> None:
    """``UnsafeAnswer`` unless ``desired`` keeps every rule of the boundary.

    ``deleted_jobs`` are Jobs the engine ends on purpose (terminate, a rerun that replaces
    running steps): they must be step Jobs of this flow that have not finished."""
    flow = observation.flow
    found = identities(desired, flow.namespace)
    # Thousands of children: checked as sets first (in C), one by one only to say what failed.
    types = set(map(_type_of, found))
    namespaces = set(map(_namespace_of, found))
    listed = set(map(_kind_and_name, found))
    names = set(map(_name_of, found))
    safe = types <= ALLOWED_TYPES and namespaces <= {flow.namespace} and "" not in names
    if not safe or len(listed) != len(found):
        _first_unsafe(found, flow.namespace)
    if finalizing:
        return
    stray = sorted(deleted_jobs - observation.active_jobs)
    if stray:
        raise UnsafeAnswer(f"Jobs to delete that are not running step Jobs: {stray[:5]}")
    observed = set(map(_observed_kind_and_name, observation.children))
    lost = sorted(observed - listed - {("Job", name) for name in deleted_jobs})
    if lost:
        shown = ", ".join(f"{kind} {name}" for kind, name in lost[:5])
        raise UnsafeAnswer(f"observed children missing from the answer: {shown}")


def _first_unsafe(found: Iterable[Identity], namespace: str) -> None:
    """``UnsafeAnswer`` for the first child that breaks a rule, and what it breaks."""
    listed: set[tuple[str, str]] = set()
    for child in found:
        api_version, kind, child_namespace, name = child
        if (api_version, kind) not in ALLOWED_TYPES:
            raise UnsafeAnswer(f"{_where(child)}: not a child type of JobFlows")
        if child_namespace != namespace:
            raise UnsafeAnswer(f"{_where(child)}: outside the flow's namespace {namespace!r}")
        if not name:
            raise UnsafeAnswer(f"{_where(child)}: no name")
        if (kind, name) in listed:
            raise UnsafeAnswer(f"{_where(child)}: listed twice")
        listed.add((kind, name))


_type_of = itemgetter(0, 1)
_namespace_of = itemgetter(2)
_kind_and_name = itemgetter(1, 3)
_name_of = itemgetter(3)
_observed_kind_and_name = attrgetter("kind", "name")
