"""A small thread-safe cache whose entries expire ``ttl`` seconds after they were stored, the oldest
dropped past ``max_entries``: the one rule for what a warm instance may keep between requests (the
local gateway's authorizer answers, the pipeline's decision contexts)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept ``ttl`` seconds (``ttl <= 0`` keeps nothing), at most ``max_entries`` of them."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, threading.Event] = {}
        self._lock = threading.Lock()
        self.waiting = 0  # callers waiting for another's load of the same key (tests, stats)

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, or None when there is none or it has expired."""
        with self._lock:
            kept = self._entries.get(key)
            if kept is None or kept[0] <= self._clock():
                return None
            return kept[1]

    def get_or_load(self, key: K, load: Callable[[], V | None]) -> V | None:
        """The kept value, else ``load()``'s, kept when not None. Callers missing the same key at once
        share one load (a burst of requests with one API key makes one authorizer call): the others
        wait for it, and load themselves only if it raised or found nothing."""
        while True:
            with self._lock:
                kept = self._entries.get(key)
                if kept is not None and kept[0] > self._clock():
                    return kept[1]
                if self.ttl <= 0:
                    mine = None
                    break
                pending = self._loading.get(key)
                if pending is None:
                    mine = self._loading[key] = threading.Event()
                    break
                self.waiting += 1
            pending.wait()
            with self._lock:
                self.waiting -= 1
            if self.get(key) is None:  # the load raised or found nothing: load ourselves
                return self._load_alone(key, load, mine=None)
        return self._load_alone(key, load, mine)

    def _load_alone(self, key: K, load: Callable[[], V | None], mine: threading.Event | None) -> V | None:
        try:
            value = load()
            if value is not None:
                self.put(key, value)
            return value
        finally:
            if mine is not None:
                with self._lock:
                    del self._loading[key]
                mine.set()

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def discard(self, keep: Callable[[K], bool]) -> None:
        """Drops every entry whose key ``keep`` refuses."""
        with self._lock:
            for key in [key for key in self._entries if not keep(key)]:
                del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
