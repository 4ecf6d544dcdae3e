"""Decision contexts kept for a few seconds in a warm instance: the read a policy decision needs (one
BatchGetItem) is then paid once per VM and destination bucket per ``ttl`` instead of per request.

The stated bound: a topology change (a sync, a load, a re-pinned host key) reaches a warm instance's
decisions within ``ttl`` seconds (TOPOLOGY_CACHE_SECONDS, 5 by default; 0 turns the cache off). A host
key is the one fact a stale context can make fail at once; the execution asks for a fresh context then
(:meth:`CachedTopology.fresh_context`) and runs again if the pin changed (nothing ran: the key exchange
failed). A VM the store does not have is never kept, so a new VM is found at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sysvmdiag.pipeline.ports import TopologySource
from sysvmdiag.topology.layout import destination_buckets
from sysvmdiag.topology.model import Host, Topology
from sysvmdiag.ttl_cache import TtlCache

DEFAULT_TOPOLOGY_CACHE_SECONDS = 5.0
MAX_KEPT_CONTEXTS = 512


class CachedTopology:
    """A TopologySource whose decision contexts (without ``also``) are kept ``ttl`` seconds."""

    def __init__(
        self,
        source: TopologySource,
        ttl: float = DEFAULT_TOPOLOGY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_KEPT_CONTEXTS,
    ) -> None:
        self._source = source
        self._kept: TtlCache[tuple[str, tuple[str, ...]], Topology] = TtlCache(ttl, max_entries, clock)
        self.reads = 0  # contexts read from the source (tests, metrics)

    def decision_context(
        self, vm_ref: str, destination: str | None = None, also: Sequence[str] = ()
    ) -> Topology | None:
        if also or self._kept.ttl <= 0:
            return self._read(vm_ref, destination, also)
        key = (vm_ref, tuple(destination_buckets(destination)))
        kept = self._kept.get(key)  # an instance serves one event at a time: no load to share
        if kept is None:
            kept = self._read(vm_ref, destination, ())
            if kept is not None:
                self._kept.put(key, kept)
        return kept

    def fresh_context(self, vm_ref: str, destination: str | None = None) -> Topology | None:
        """The context read again, everything kept of this VM dropped first."""
        self._kept.discard(lambda key: key[0] != vm_ref)
        return self.decision_context(vm_ref, destination)

    def list_system_vms(self) -> Topology:
        return self._source.list_system_vms()

    def bastion(self) -> Host:
        return self._source.bastion()

    def _read(self, vm_ref: str, destination: str | None, also: Sequence[str]) -> Topology | None:
        self.reads += 1
        return self._source.decision_context(vm_ref, destination, also)
