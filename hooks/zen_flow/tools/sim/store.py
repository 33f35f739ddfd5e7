"""The objects of a simulated cluster, kept as the JSON bytes a request carries.

A request of a flow with thousands of children is most of the simulator's work if every
object is serialised again for it. Here an object is encoded once after it changes and its
bytes are reused until it changes again; a request is joined from those bytes.

The objects can still be read and edited as dicts (``Objects[key]``, ``StoredFlow.handed_out``),
as tests do: an object handed out that way may be edited at any time by whoever holds it, so
it stays *live* (encoded again for every request) until ``take_back`` says nobody holds it
any more. The simulator itself reads with ``peek`` (never edited) and edits with ``edit``
(edited now, encoded once at the next request).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

Key = tuple[str, str]  # (kind, name)


def encode(value: Any) -> bytes:
    """Compact JSON with non-ASCII characters escaped, as the transports write a request
    object: the hooks count the spec's bytes against the object's size budget, so the spec
    measures the same whether a request is joined from stored bytes or written whole."""
    return json.dumps(value, separators=(",", ":")).encode()


def decode(raw: bytes) -> Any:
    return msgspec.json.decode(raw)


class _Stored:
    """One object: its dict, its bytes, or both; and answer bytes known to match the
    configuration last applied to it."""

    __slots__ = ("applied", "live", "obj", "raw")

    def __init__(self, obj: dict[str, Any] | None, raw: bytes | None, live: bool) -> None:
        self.obj = obj
        self.raw = raw
        self.live = live
        self.applied: tuple[bytes, ...] = ()

    def value(self) -> dict[str, Any]:
        if self.obj is None:
            assert self.raw is not None
            self.obj = decode(self.raw)
        return self.obj

    def encoded(self) -> bytes:
        if self.live or self.raw is None:
            self.raw = encode(self.obj)
        if not self.live:
            self.obj = None  # the bytes are the object now; a dict is made again when read
        return self.raw


@dataclass
class _Kind:
    """The objects of one kind in name order, and their part of a request."""

    names: list[str] = field(default_factory=list)
    segments: list[bytes] = field(default_factory=list)  # b'"<key>":<object>' per name
    stale: set[str] = field(default_factory=set)  # names whose segment must be made again
    live: set[str] = field(default_factory=set)
    joined: bytes | None = None

    def add(self, name: str) -> None:
        index = bisect.bisect_left(self.names, name)
        self.names.insert(index, name)
        self.segments.insert(index, b"")
        self.changed(name)

    def remove(self, name: str) -> None:
        index = bisect.bisect_left(self.names, name)
        del self.names[index]
        del self.segments[index]
        self.stale.discard(name)
        self.live.discard(name)
        self.joined = None

    def changed(self, name: str) -> None:
        self.stale.add(name)
        self.joined = None


class Objects(MutableMapping[Key, dict[str, Any]]):
    """The children of a flow by (kind, name), as the API server holds them."""

    def __init__(self, objects: Mapping[Key, dict[str, Any]] | None = None) -> None:
        self._stored: dict[Key, _Stored] = {}
        self._kinds: dict[str, _Kind] = {}
        self._applied: dict[bytes, Key] = {}
        self._key_format: object = None
        for key, obj in (objects or {}).items():
            self[key] = obj

    # -- as a dict: what is handed out may be edited at any time -------------------------

    def __getitem__(self, key: Key) -> dict[str, Any]:
        stored = self._stored[key]
        if not stored.live:
            stored.value()
            stored.live = True
            self._kind(key).live.add(key[1])
            self._forget_applied(stored)
            self._kind(key).changed(key[1])
        assert stored.obj is not None
        return stored.obj

    def __setitem__(self, key: Key, obj: dict[str, Any]) -> None:
        self._put(key, _Stored(obj, None, live=True))

    def __delitem__(self, key: Key) -> None:
        stored = self._stored.pop(key)
        self._forget_applied(stored)
        self._kind(key).remove(key[1])

    def __iter__(self) -> Iterator[Key]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def __contains__(self, key: object) -> bool:
        return key in self._stored

    # -- for the simulator ---------------------------------------------------------------

    def peek(self, key: Key) -> dict[str, Any]:
        """The object, to read only."""
        return self._stored[key].value()

    def edit(self, key: Key) -> dict[str, Any]:
        """The object, to be edited now (and encoded again at the next request)."""
        stored = self._stored[key]
        obj = stored.value()
        if not stored.live:
            stored.raw = None
        self._forget_applied(stored)
        self._kind(key).changed(key[1])
        return obj

    def create(self, key: Key, obj: dict[str, Any], applied: tuple[bytes, ...]) -> None:
        """A new object; ``applied`` are answer bytes that describe its configuration."""
        self._put(key, _Stored(obj, None, live=False))
        self.record_applied(key, applied)

    def take_back(self) -> None:
        """Nobody holds the dicts handed out any more: keep the objects as bytes again."""
        for key, stored in self._stored.items():
            if stored.live:
                stored.live = False
                stored.raw = None
                self._kind(key).live.discard(key[1])
                self._kind(key).changed(key[1])

    # -- the last-applied configurations ---------------------------------------------------

    def applied_key(self, raw: bytes) -> Key | None:
        """The object whose last-applied configuration ``raw`` is known to be, if any."""
        return self._applied.get(raw)

    def record_applied(self, key: Key, applied: tuple[bytes, ...]) -> None:
        """``applied`` describe exactly the configuration last applied to ``key``."""
        stored = self._stored[key]
        self._forget_applied(stored)
        if stored.live:
            return  # its annotation may be edited by whoever holds it: nothing is known
        stored.applied = applied
        for raw in applied:
            self._applied[raw] = key

    def forget_applied(self) -> None:
        for stored in self._stored.values():
            stored.applied = ()
        self._applied.clear()

    def _forget_applied(self, stored: _Stored) -> None:
        for raw in stored.applied:
            self._applied.pop(raw, None)
        stored.applied = ()

    # -- requests ----------------------------------------------------------------------------

    def joined(self, kind: str, key_of: Callable[[str], str], key_format: object) -> bytes:
        """The objects of ``kind`` as the members of a JSON object, keyed by ``key_of(name)``,
        in name order; ``key_format`` says when ``key_of`` changed."""
        if key_format != self._key_format:
            self._key_format = key_format
            for each in self._kinds.values():
                each.stale.update(each.names)
                each.joined = None
        entry = self._kinds.get(kind)
        if entry is None:
            return b""
        if entry.joined is not None and not entry.live:
            return entry.joined
        for name in entry.stale | entry.live:
            index = bisect.bisect_left(entry.names, name)
            raw = self._stored[(kind, name)].encoded()
            entry.segments[index] = encode(key_of(name)) + b":" + raw
        entry.stale.clear()
        entry.joined = b",".join(entry.segments)
        return entry.joined

    def _kind(self, key: Key) -> _Kind:
        entry = self._kinds.get(key[0])
        if entry is None:
            entry = self._kinds[key[0]] = _Kind()
        return entry

    def _put(self, key: Key, stored: _Stored) -> None:
        if key in self._stored:
            del self[key]
        self._stored[key] = stored
        kind = self._kind(key)
        kind.add(key[1])
        if stored.live:
            kind.live.add(key[1])


class StoredFlow:
    """The JobFlow: its fields encoded one by one (an annotation set re-encodes only the
    metadata), and its status as the bytes of the last answer."""

    def __init__(self, flow: dict[str, Any]) -> None:
        self._flow = flow
        self._live = True
        self._parts: dict[str, bytes] = {}
        self._status: bytes | None = None  # None: status is in the dict, if anywhere

    def handed_out(self) -> dict[str, Any]:
        """The whole object as a dict, status included, for whoever may edit it."""
        if self._status is not None:
            self._flow["status"] = json.loads(self._status)
            self._status = None
        self._live = True
        self._parts.clear()
        return self._flow

    def replace(self, flow: dict[str, Any]) -> None:
        self._flow = flow
        self._status = None
        self._live = True
        self._parts.clear()

    def take_back(self) -> None:
        if not self._live:
            return
        self._live = False
        self._parts.clear()
        if "status" in self._flow:
            self._status = encode(self._flow.pop("status"))

    def peek(self) -> dict[str, Any]:
        """The object to read only; its status may be left out."""
        return self._flow

    def edit_metadata(self) -> dict[str, Any]:
        self._parts.pop("metadata", None)
        metadata: dict[str, Any] = self._flow.setdefault("metadata", {})
        return metadata

    @property
    def live(self) -> bool:
        return self._live

    # -- status ------------------------------------------------------------------------------

    def set_status(self, raw: bytes) -> None:
        if self._live:
            self._flow["status"] = json.loads(raw)
        else:
            self._status = raw

    def status_bytes(self) -> bytes | None:
        """Status as JSON, None when the flow has none."""
        if self._status is not None:
            return self._status
        if "status" not in self._flow:
            return None
        return encode(self._flow["status"])

    def status(self) -> dict[str, Any]:
        value = self._flow.get("status") if self._status is None else json.loads(self._status)
        return dict(value or {})

    # -- encoding ----------------------------------------------------------------------------

    def part(self, name: str) -> bytes:
        """One field of the object, encoded."""
        if self._live:
            return encode(self._flow.get(name))
        cached = self._parts.get(name)
        if cached is None:
            cached = self._parts[name] = encode(self._flow.get(name))
        return cached

    def encoded(self) -> bytes:
        if self._live:
            return encode(self._flow)
        members = [encode(name) + b":" + self.part(name) for name in self._flow]
        if self._status is not None:
            members.append(b'"status":' + self._status)
        return b"{" + b",".join(members) + b"}"
