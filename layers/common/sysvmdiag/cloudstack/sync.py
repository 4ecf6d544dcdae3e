"""A topology sync: read the zone from CloudStack, map it, carry the pinned host keys over, load it.

The one place the pieces meet, used by ``sysvmdiag topology sync`` and the scheduled sync function:
``fetch_zone`` (signed, paged list calls), ``map_zone`` (keeping what CloudStack cannot show from the
stored zone: the bastion, lab settings, storage networks), ``pin_keys`` (a file's keys, or the stored
ones), then the loader (writes only what changed; removed VMs and networks leave the tables).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sysvmdiag.cloudstack.client import CloudStackClient, fetch_zone
from sysvmdiag.cloudstack.hostkeys import KeyReport, pin_keys
from sysvmdiag.cloudstack.mapping import MappingReport, map_zone
from sysvmdiag.topology.loader import LoadReport, load_topology_into_tables
from sysvmdiag.topology.store import TopologyStore


@dataclass
class SyncReport:
    """What the sync read, could not map, pinned, and changed in the tables."""

    zone: str
    dry_run: bool
    load: LoadReport
    mapping: MappingReport
    keys: KeyReport
    client_warnings: list[str]

    def to_dict(self, *, ids_shown: int | None = 20) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "dryRun": self.dry_run,
            "load": self.load.to_dict(ids_shown=ids_shown),
            "mapping": self.mapping.to_dict(),
            "hostKeys": asdict(self.keys),
            "clientWarnings": self.client_warnings,
        }


def sync_zone(
    client: CloudStackClient,
    store: TopologyStore,
    *,
    zone: str | None = None,
    host_keys: dict[str, Any] | None = None,
    dry_run: bool = False,
    replace: bool = False,
) -> SyncReport:
    """Read the zone, map it and load it (or, with ``dry_run``, say what loading would change)."""
    responses = fetch_zone(client, zone)
    stored = store.read_topology()
    mapped = map_zone(responses, zone=zone, keep_from=stored)
    topology, keys = pin_keys(mapped.topology, stored, host_keys)
    load = load_topology_into_tables(topology, store, replace=replace, dry_run=dry_run)
    return SyncReport(
        zone=topology.zone.name,
        dry_run=dry_run,
        load=load,
        mapping=mapped.report,
        keys=keys,
        client_warnings=list(client.warnings),
    )
