"""Site-to-site VPN connections (listVpnConnections, listVpnCustomerGateways) as tunnels of VPC routers.

Pure. A connection names no VPC: it belongs to the VPC whose router has its ``publicip`` (the VPC's VPN
gateway address) on a public nic, so tunnels are keyed by that address and claimed by the routers. A
claimed tunnel is a VPN_GATEWAY network of the VPC: its remote CIDRs what the VPC's owner may probe
through it, its far end (the customer gateway) its gateway and its only known address (a host prefix,
so that other tenants are refused it). CloudStack's tunnels are IPsec policies, not interfaces: the
router gets an interface without address on that network, and routes to the remote CIDRs over it.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.values import Item, address, network, strings, text
from sysvmdiag.topology.model import Interface, IPAddress, IPNetwork, Network, NetworkKind, Route, Vpc


@dataclass(frozen=True)
class Tunnel:
    id: str
    name: str
    far_end: IPAddress | None
    remote: tuple[IPNetwork, ...]

    def network(self, vpc: Vpc) -> Network:
        v4 = self.far_end if isinstance(self.far_end, ipaddress.IPv4Address) else None
        v6 = self.far_end if isinstance(self.far_end, ipaddress.IPv6Address) else None
        return Network(
            id=self.id,
            name=self.name,
            kind=NetworkKind.VPN_GATEWAY,
            owner=vpc.owner,
            vpc=vpc.id,
            cidr4=ipaddress.IPv4Network(v4) if v4 else None,
            cidr6=ipaddress.IPv6Network(v6) if v6 else None,
            gateway4=v4,
            gateway6=v6,
            remote_cidrs=self.remote,
        )

    def attach(self, index: int) -> tuple[Interface, list[Route]]:
        """The router's side: interface vpn<index> and a route to each remote CIDR over it."""
        name = f"vpn{index}"
        return Interface(name=name, network=self.id), [Route(to=str(cidr), dev=name) for cidr in self.remote]


class Tunnels:
    """The zone's VPN connections by the local (VPN gateway) address, and which ones routers claimed."""

    def __init__(self, by_local: dict[IPAddress, list[Tunnel]]) -> None:
        self._by_local = by_local
        self._claimed: set[str] = set()

    def claim(self, public_addresses: list[IPAddress]) -> list[Tunnel]:
        found = [tunnel for addr in public_addresses for tunnel in self._by_local.get(addr, [])]
        self._claimed.update(tunnel.id for tunnel in found)
        return sorted(found, key=lambda tunnel: tunnel.id)

    def report_unclaimed(self, report: MappingReport) -> None:
        for local, tunnels in self._by_local.items():
            for tunnel in tunnels:
                if tunnel.id not in self._claimed:
                    why = f"no mapped VPC router has its VPN gateway address {local} on a public nic"
                    report.skip("vpn_connection", tunnel.id, tunnel.name, why)
        report.count("vpn_connection", len(self._claimed))


def read_tunnels(connections: list[Item], customer_gateways: list[Item], report: MappingReport) -> Tunnels:
    customers = {item_id: item for item in customer_gateways if (item_id := text(item, "id"))}
    by_local: dict[IPAddress, list[Tunnel]] = defaultdict(list)
    for item in connections:
        item_id, local = text(item, "id"), address(text(item, "publicip"))
        customer = customers.get(text(item, "s2scustomergatewayid") or "", {})
        name = text(customer, "name") or item_id
        if item_id is None or local is None:
            report.skip("vpn_connection", item_id, name, "no id, or no publicip to tell its VPC by")
            continue
        remote = _cidrs(item.get("cidrlist")) or _cidrs(customer.get("cidrlist"))
        far_end = address(text(item, "gateway") or text(customer, "gateway"))
        if not remote:
            report.note(f"VPN connection {item_id}: no readable remote CIDR; only its far end is mapped")
        by_local[local].append(Tunnel(id=item_id, name=name or item_id, far_end=far_end, remote=remote))
    return Tunnels(dict(by_local))


def _cidrs(value: object) -> tuple[IPNetwork, ...]:
    """A cidrlist: "10.0.0.0/24,10.1.0.0/24" or a list; unreadable entries left out."""
    parsed = (network(entry) for entry in strings(value))
    return tuple(cidr for cidr in parsed if cidr is not None)
