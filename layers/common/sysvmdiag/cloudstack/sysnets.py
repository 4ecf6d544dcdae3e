"""The zone's own networks (control, public, management, storage): not in listNetworks, so they are
assembled from what the VMs' nics and addresses say.

Pure. One network per (kind, subnet): CloudStack gives every public nic of a zone the same networkid
even across public ranges with different subnets, and the model keeps one CIDR per network. The first
subnet seen under a networkid keeps that id; others get the id with their subnet appended. An address
without a networkid (a system VM's fields) joins a network of its kind that contains it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sysvmdiag.cloudstack.values import IPInterface
from sysvmdiag.topology.model import IPAddress, IPNetwork, Network, NetworkKind

_NAMES = {
    NetworkKind.CONTROL: "link-local-control",
    NetworkKind.PUBLIC: "public",
    NetworkKind.MANAGEMENT: "management",
    NetworkKind.STORAGE: "storage",
}


@dataclass
class _Entry:
    id: str
    kind: NetworkKind
    cidr4: ipaddress.IPv4Network | None = None
    cidr6: ipaddress.IPv6Network | None = None
    gateway4: ipaddress.IPv4Address | None = None
    gateway6: ipaddress.IPv6Address | None = None

    def contains(self, addr: IPAddress) -> bool:
        cidr = self.cidr4 if addr.version == 4 else self.cidr6
        return cidr is not None and addr in cidr

    def absorb(
        self, v4: IPInterface | None, v6: IPInterface | None, gateways: tuple[IPAddress | None, ...]
    ) -> None:
        """Fill what this entry lacks from another observation of the same network."""
        if self.cidr6 is None and isinstance(v6, ipaddress.IPv6Interface):
            self.cidr6 = v6.network
        if self.cidr4 is None and isinstance(v4, ipaddress.IPv4Interface):
            self.cidr4 = v4.network
        for gateway in gateways:
            if gateway is None or not self.contains(gateway):
                continue
            if isinstance(gateway, ipaddress.IPv4Address) and self.gateway4 is None:
                self.gateway4 = gateway
            if isinstance(gateway, ipaddress.IPv6Address) and self.gateway6 is None:
                self.gateway6 = gateway


class SystemNetworks:
    """Collects the zone's own networks as nics and system VM fields name them."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def attach(
        self,
        kind: NetworkKind,
        source_id: str | None,
        v4: IPInterface | None,
        v6: IPInterface | None = None,
        gateways: tuple[IPAddress | None, ...] = (),
    ) -> str | None:
        """The id of the network these addresses are on (created if new); None without an address."""
        subnet = v4.network if v4 is not None else (v6.network if v6 is not None else None)
        if subnet is None:
            return None
        entry = self._find(kind, source_id, v4, v6, subnet)
        if entry is None:
            entry = _Entry(self._new_id(kind, source_id, subnet), kind)
            self._entries.append(entry)
        entry.absorb(v4, v6, gateways)
        return entry.id

    def _find(
        self,
        kind: NetworkKind,
        source_id: str | None,
        v4: IPInterface | None,
        v6: IPInterface | None,
        subnet: IPNetwork,
    ) -> _Entry | None:
        same_kind = [entry for entry in self._entries if entry.kind is kind]
        for entry in same_kind:
            if subnet in (entry.cidr4, entry.cidr6):
                return entry
        if source_id is None:  # no networkid: any network of the kind that holds the address
            addr = (v4 or v6).ip if (v4 or v6) is not None else None
            return next((e for e in same_kind if addr is not None and e.contains(addr)), None)
        return None

    def _new_id(self, kind: NetworkKind, source_id: str | None, subnet: IPNetwork) -> str:
        taken = {entry.id for entry in self._entries}
        if source_id is not None and source_id not in taken:
            return source_id
        base = source_id or f"net-{kind.value}"
        return f"{base}-{subnet.network_address}-{subnet.prefixlen}"

    def networks(self) -> list[Network]:
        return [
            Network(
                id=entry.id,
                name=_NAMES.get(entry.kind, entry.kind.value),
                kind=entry.kind,
                cidr4=entry.cidr4,
                cidr6=entry.cidr6,
                gateway4=entry.gateway4,
                gateway6=entry.gateway6,
            )
            for entry in self._entries
        ]

    def contains(self, network_id: str, addr: IPAddress) -> bool:
        return any(entry.id == network_id and entry.contains(addr) for entry in self._entries)
