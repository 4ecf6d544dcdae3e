"""What the lab looks like in Linux terms: namespaces, bridges, veth pairs, addresses, routes, sysctls.

Pure functions of the topology, so `up`, the health check and the tests all agree on one plan.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sysvmdiag.topology.model import DEFAULT_MTU, ROUTER_VM_KINDS, Host, HostKind, Interface, Topology

IFNAMSIZ = 15  # Linux interface names are at most 15 characters
HOST_LINK_ROOT_IFNAME = "host"  # root-side veth is "<prefix>-host"
HOST_LINK_BASTION_IFNAME = "uplink"
FORWARDING_KINDS = frozenset({HostKind.ROUTER, *ROUTER_VM_KINDS})


def _short_name(preferred: str, key: str, taken: set[str]) -> str:
    """A readable interface name when it fits and is unique, else a hash of the key."""
    name = preferred[:IFNAMSIZ]
    if name in taken:
        name = "v" + hashlib.sha256(key.encode()).hexdigest()[: IFNAMSIZ - 1]
    taken.add(name)
    return name


@dataclass(frozen=True)
class PlannedInterface:
    """One host interface: the end in the host's namespace and its peer on a switch bridge."""

    host: str
    name: str
    network: str
    mac: str
    ipv4: ipaddress.IPv4Interface | None
    ipv6: ipaddress.IPv6Interface | None
    peer: str  # name of the veth end in the switch namespace
    bridge: str
    mtu: int | None  # its network's MTU; None: Linux's default

    @property
    def link_mtu(self) -> int:
        """The MTU both veth ends have."""
        return self.mtu if self.mtu is not None else DEFAULT_MTU


@dataclass(frozen=True)
class PlannedRoute:
    destination: ipaddress.IPv4Network | ipaddress.IPv6Network
    via: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    dev: str | None

    @property
    def ip_destination(self) -> str:
        """The destination as `ip route` prints it ("default" for the default routes)."""
        return "default" if self.destination.prefixlen == 0 else str(self.destination)


@dataclass(frozen=True)
class PlannedHost:
    name: str
    kind: HostKind
    namespace: str
    interfaces: tuple[PlannedInterface, ...]
    routes: tuple[PlannedRoute, ...]
    sysctls: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LabPlan:
    prefix: str
    switch_namespace: str
    bridges: dict[str, str]  # network id -> bridge name
    hosts: dict[str, PlannedHost]
    host_link_root_ifname: str
    host_link_root_address: ipaddress.IPv4Interface
    host_link_bastion_address: ipaddress.IPv4Interface
    bastion: str  # host name of the bastion
    lab_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())
    mtus: dict[str, int] = field(default_factory=dict)  # network id -> MTU, for networks that set one

    @property
    def namespaces(self) -> list[str]:
        return [self.switch_namespace, *(h.namespace for h in self.hosts.values())]

    def bridge_mtu(self, network_id: str) -> int:
        """The MTU of a network's bridge (and of every veth on it)."""
        return self.mtus.get(network_id, DEFAULT_MTU)


def _sysctls(host: Host) -> tuple[tuple[str, str], ...]:
    forwarding = "1" if host.kind in FORWARDING_KINDS else "0"
    return (
        ("net.ipv6.conf.all.accept_dad", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
        ("net.ipv6.conf.all.accept_ra", "0"),
        ("net.ipv6.conf.default.accept_ra", "0"),
        ("net.ipv4.ip_forward", forwarding),
        ("net.ipv6.conf.all.forwarding", forwarding),
        # Rate limits would turn traceroute hops and port-unreachables into "* * *".
        ("net.ipv4.icmp_ratelimit", "0"),
        ("net.ipv6.icmp.ratelimit", "0"),
    )


SWITCH_SYSCTLS = (
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
    ("net.ipv4.ip_forward", "0"),
)


def build_plan(topology: Topology) -> LabPlan:
    """Derive names and settings of every lab object from the topology."""
    if topology.lab is None:
        raise ValueError("the topology has no `lab:` section (prefix, host_link)")
    prefix = topology.lab.prefix
    bridge_names: set[str] = set()
    bridges = {
        net.id: _short_name("br-" + net.id.removeprefix("net-"), net.id, bridge_names)
        for net in topology.networks
    }
    peer_names: set[str] = set()
    hosts: dict[str, PlannedHost] = {}
    for host in topology.hosts:
        interfaces = tuple(
            PlannedInterface(
                host=host.name,
                name=iface.name,
                network=iface.network,
                mac=iface.mac or "",
                ipv4=iface.ipv4,
                ipv6=iface.ipv6,
                peer=_short_name(
                    f"{host.name[: IFNAMSIZ - len(iface.name) - 1]}-{iface.name}",
                    f"{host.name}/{iface.name}",
                    peer_names,
                ),
                bridge=bridges[iface.network],
                mtu=topology.network(iface.network).mtu,
            )
            for iface in host.interfaces
        )
        routes = tuple(PlannedRoute(r.destination, r.via, r.dev) for r in host.routes)
        hosts[host.name] = PlannedHost(
            name=host.name,
            kind=host.kind,
            namespace=f"{prefix}-{host.name}",
            interfaces=interfaces,
            routes=routes,
            sysctls=_sysctls(host),
        )
    lab_networks = tuple(c for net in topology.networks for c in net.cidrs)
    return LabPlan(
        prefix=prefix,
        switch_namespace=f"{prefix}-sw",
        bridges=bridges,
        hosts=hosts,
        host_link_root_ifname=f"{prefix}-{HOST_LINK_ROOT_IFNAME}",
        host_link_root_address=topology.lab.host_link.host,
        host_link_bastion_address=topology.lab.host_link.bastion,
        bastion=topology.bastion().name,
        lab_networks=lab_networks,
        mtus={net.id: net.mtu for net in topology.networks if net.mtu is not None},
    )


def interface_status(iface: Interface, link: dict | None) -> dict[str, str | None]:
    """One interface in `status --json`: as the topology says it, with the MAC the lab observed."""
    return {
        "name": iface.name,
        "network": iface.network,
        "ipv4": iface.ipv4.with_prefixlen if iface.ipv4 else None,
        "ipv6": iface.ipv6.with_prefixlen if iface.ipv6 else None,
        "mac": link.get("address") if link else None,
    }


def mtu_problems(plan: LabPlan, links: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Every bridge, switch port and host interface whose MTU differs from the plan's.

    ``links``: namespace -> interface name -> the link as `ip -j addr show` gives it. A missing
    namespace or link is not reported here (the health check reports it once, as missing)."""
    switch = links.get(plan.switch_namespace, {})
    found: list[tuple[str, dict[str, Any] | None, int]] = [
        (f"bridge {bridge}", switch.get(bridge), plan.bridge_mtu(network_id))
        for network_id, bridge in plan.bridges.items()
    ]
    for host in plan.hosts.values():
        own = links.get(host.namespace, {})
        for iface in host.interfaces:
            found.append((f"switch port {iface.peer}", switch.get(iface.peer), iface.link_mtu))
            found.append((f"{host.name}: {iface.name}", own.get(iface.name), iface.link_mtu))
    return [
        f"{what} has MTU {link.get('mtu')}, want {want}"
        for what, link, want in found
        if link is not None and link.get("mtu") != want
    ]


def _mtu_option(mtu: int | None) -> str:
    return f" mtu {mtu}" if mtu is not None else ""


def switch_batch(plan: LabPlan) -> list[str]:
    """`ip -n <switch> -batch` lines: bridges, then every veth pair with its host end sent home.

    A network with an MTU gets it on its bridge (set after creation, so the kernel keeps it whatever
    ports join) and on both ends of each veth pair: every link of the network has it."""
    lines = []
    for network_id, bridge in plan.bridges.items():
        # No STP and no multicast snooping: ports forward at once and IPv6 ND is never filtered.
        lines.append(f"link add {bridge} type bridge stp_state 0 forward_delay 0 mcast_snooping 0")
        lines.append(f"link set {bridge}{_mtu_option(plan.mtus.get(network_id))} up")
    for host in plan.hosts.values():
        for iface in host.interfaces:
            mtu = _mtu_option(iface.mtu)
            lines.append(
                f"link add {iface.peer}{mtu} type veth peer name {iface.name}{mtu} address {iface.mac}"
                f" netns {host.namespace}"
            )
            lines.append(f"link set {iface.peer} master {iface.bridge} up")
    lines.append("link set lo up")
    return lines


def host_batch(host: PlannedHost) -> list[str]:
    """`ip -n <host ns> -batch` lines: interfaces up with their addresses, then the static routes."""
    lines = ["link set lo up"]
    for iface in host.interfaces:
        if iface.ipv4 is not None:
            lines.append(f"addr add {iface.ipv4.with_prefixlen} dev {iface.name}")
        if iface.ipv6 is not None:
            lines.append(f"addr add {iface.ipv6.with_prefixlen} dev {iface.name} nodad")
        lines.append(f"link set {iface.name} up")
    for route in host.routes:
        line = f"route add {route.destination.with_prefixlen}"
        if route.via is not None:
            line += f" via {route.via}"
        if route.dev is not None:
            line += f" dev {route.dev}"
        lines.append(line)
    return lines
