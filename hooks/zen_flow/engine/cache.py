"""A cache for the many small lookups of a sync (children, status entries), by key, bounded
by estimated bytes, least recently used out first, shared by the threads of a worker.

A sync makes thousands of lookups, too many for a cache that runs Python code for each
(cachetools' ``LRUCache`` does): here a batch of lookups, and the use of the entries found, are
a few calls that iterate in C.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from itertools import compress
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Cache(Generic[K, V]):
    """At most ``max_bytes`` of entries, as ``size`` estimates each. With ``index``, an entry
    is also found by ``index(entry)`` (``find_many``), exactly as long as it is kept."""

    def __init__(
        self,
        max_bytes: int,
        size: Callable[[V], int],
        index: Callable[[V], Hashable] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._size = size
        self._index = index
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0
        self._by_index: dict[Hashable, V] = {}

    def get_many(self, keys: Sequence[K]) -> list[V | None]:
        """The entries of ``keys`` (None where there is none), in order; those found count
        as used now."""
        with self._lock:
            found = list(map(self._entries.get, keys))
            deque(map(self._entries.move_to_end, compress(keys, found)), maxlen=0)
            return found

    def get(self, key: K) -> V | None:
        return self.get_many((key,))[0]

    def find_many(self, indexes: Sequence[Hashable]) -> list[V | None]:
        """The entries kept whose ``index`` is each of ``indexes`` (None where none is)."""
        with self._lock:
            return list(map(self._by_index.get, indexes))

    def put(self, key: K, value: V) -> None:
        """Keep ``value``, unless ``key`` is kept already or it is larger than the bound."""
        size = self._size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._bytes += size
            if self._index is not None:
                self._by_index[self._index(value)] = value
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self._size(dropped)
                if self._index is not None and self._by_index.get(self._index(dropped)) is dropped:
                    del self._by_index[self._index(dropped)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_index.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """The estimated bytes held now."""
        with self._lock:
            return self._bytes
