"""What the VM mappers share: the tenant side already mapped, and the zone networks being assembled."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from sysvmdiag.cloudstack.gateways import PrivateGateways
from sysvmdiag.cloudstack.owners import Directory
from sysvmdiag.cloudstack.report import MappingReport, Skip
from sysvmdiag.cloudstack.sysnets import SystemNetworks
from sysvmdiag.cloudstack.tunnels import Tunnels
from sysvmdiag.cloudstack.values import IPInterface, Item, text
from sysvmdiag.topology.model import Host, Network, Route, SshEndpoint, Vpc

CONTROL_PORT = 3922  # CloudStack's system VMs listen for SSH on their link-local address, port 3922


@dataclass
class Context:
    directory: Directory
    vpcs: dict[str, Vpc]
    guests: dict[str, Network]
    gateways: PrivateGateways
    tunnels: Tunnels
    report: MappingReport
    system: SystemNetworks = field(default_factory=SystemNetworks)
    vpn_networks: dict[str, Network] = field(default_factory=dict)


def read_each(
    items: list[Item], kind: str, read: Callable[[Item, Context], Host], ctx: Context
) -> list[Host]:
    """Each item read into a Host; one that cannot be is reported under ``kind`` with the reason."""
    hosts = []
    for item in items:
        try:
            hosts.append(read(item, ctx))
        except Skip as skip:
            ctx.report.skip(kind, text(item, "id"), text(item, "name"), str(skip))
    ctx.report.count(kind, len(hosts))
    return hosts


def ssh_endpoint(interface: str | None, prefix: IPInterface | None) -> SshEndpoint:
    """Root on port 3922 at the control address; the host key is pinned from elsewhere."""
    return SshEndpoint(
        interface=interface, address=prefix.ip if prefix else None, port=CONTROL_PORT, user="root"
    )


def default_route(gateway: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Route:
    return Route(to="default" if gateway.version == 4 else "default6", via=gateway)


def on_link(gateway: object, prefix: IPInterface | None) -> bool:
    """A usable next hop: on the interface's subnet, and not the interface's own address."""
    return (
        isinstance(gateway, ipaddress.IPv4Address | ipaddress.IPv6Address)
        and prefix is not None
        and gateway.version == prefix.version
        and gateway in prefix.network
        and gateway != prefix.ip
    )


def unique_hosts(hosts: list[Host], report: MappingReport) -> list[Host]:
    """Hosts with distinct names and uuids (a router and a system VM could collide): first one wins."""
    names: set[str] = set()
    uuids: set[str] = set()
    kept = []
    for host in hosts:
        if host.name in names or (host.uuid or "") in uuids:
            report.skip(
                host.kind.value, host.uuid, host.name, "its name or id is already taken by another VM"
            )
            continue
        names.add(host.name)
        uuids.add(host.uuid or "")
        kept.append(host)
    return kept
