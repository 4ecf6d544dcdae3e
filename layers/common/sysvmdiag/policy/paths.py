"""Where a packet toward a destination leaves a system VM, worked out as the VM's kernel would.

Pure: no I/O. A connected subnet first (longest prefix), then the VM's own VPN remote CIDRs and private
gateway routes, then its static routes (longest prefix). Guest CIDRs overlap between tenants, so the
policy judges a destination by this path, never by the address alone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from sysvmdiag.policy.tenancy import vm_networks
from sysvmdiag.topology.model import Host, Interface, IPAddress, IPNetwork, Network, NetworkKind, Topology


class Via(StrEnum):
    CONNECTED = "connected"
    VPN = "vpn"
    PRIVATE_GATEWAY = "private_gateway"
    ROUTE = "route"


@dataclass(frozen=True)
class Egress:
    """The interface a probe leaves by, the network it is on, and how the VM got there."""

    interface: Interface
    network: Network
    via: Via


def interface_prefix(
    iface: Interface, version: int
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    return iface.ipv4 if version == 4 else iface.ipv6


def gateway_cidrs(network: Network) -> tuple[IPNetwork, ...]:
    """What a VPC gateway leads to: a VPN's remote CIDRs, a private gateway's static routes."""
    if network.kind is NetworkKind.VPN_GATEWAY:
        return network.remote_cidrs
    if network.kind is NetworkKind.PRIVATE_GATEWAY:
        return network.routes4
    return ()


def _pairs(vm: Host, topology: Topology) -> list[tuple[Interface, Network]]:
    networks = vm_networks(vm, topology)
    return [(iface, networks[iface.name]) for iface in vm.interfaces if iface.name in networks]


def choose_egress(vm: Host, destination: IPAddress, topology: Topology) -> Egress | None:
    """The path toward ``destination``: connected, then gateway routes, then static routes; None if none."""
    pairs = _pairs(vm, topology)
    return (
        _connected(pairs, destination)
        or _through_gateway(pairs, destination)
        or _routed(vm, pairs, destination)
    )


_Candidate = tuple[int, Interface, Network]  # prefix length, interface, network


def _longest(candidates: list[_Candidate]) -> _Candidate | None:
    """The most specific match, as a kernel picks it (the first of equals, in interface order)."""
    return max(candidates, key=lambda candidate: candidate[0], default=None)


def _connected(pairs: list[tuple[Interface, Network]], destination: IPAddress) -> Egress | None:
    candidates = []
    for iface, net in pairs:
        prefix = interface_prefix(iface, destination.version)
        if prefix is not None and destination in prefix.network:
            candidates.append((prefix.network.prefixlen, iface, net))
    best = _longest(candidates)
    return Egress(best[1], best[2], Via.CONNECTED) if best else None


def _through_gateway(pairs: list[tuple[Interface, Network]], destination: IPAddress) -> Egress | None:
    best = _longest(
        [
            (cidr.prefixlen, iface, net)
            for iface, net in pairs
            for cidr in gateway_cidrs(net)
            if cidr.version == destination.version and destination in cidr
        ]
    )
    if best is None:
        return None
    via = Via.VPN if best[2].kind is NetworkKind.VPN_GATEWAY else Via.PRIVATE_GATEWAY
    return Egress(best[1], best[2], via)


def _routed(vm: Host, pairs: list[tuple[Interface, Network]], destination: IPAddress) -> Egress | None:
    candidates = []
    for route in vm.routes:
        cidr = route.destination
        if cidr.version != destination.version or destination not in cidr:
            continue
        match = _route_interface(route.dev, route.via, pairs)
        if match is not None:
            candidates.append((cidr.prefixlen, *match))
    best = _longest(candidates)
    return Egress(best[1], best[2], Via.ROUTE) if best else None


def _route_interface(
    dev: str | None, via: IPAddress | None, pairs: list[tuple[Interface, Network]]
) -> tuple[Interface, Network] | None:
    for iface, net in pairs:
        if dev is not None and iface.name == dev:
            return iface, net
        if via is not None:
            prefix = interface_prefix(iface, via.version)
            if prefix is not None and via in prefix.network:
                return iface, net
    return None
