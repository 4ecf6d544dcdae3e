"""Destination rules for non-admins (rule 3): infrastructure, special addresses, subnet edges, tenants.

Pure: no I/O. The first three hold whatever the path; the tenant check applies to destinations that do
not stay on the caller's own networks or VPC gateways (see ``decision``), because guest CIDRs overlap
between tenants and only the path tells whose an address is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from sysvmdiag.policy.paths import gateway_cidrs
from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.policy.refusals import ANOTHER_TENANT, INFRASTRUCTURE, ONLY_ADMINS, Denied
from sysvmdiag.policy.tenancy import INFRASTRUCTURE_KINDS, TENANT_KINDS, Reach, is_multi_tenant
from sysvmdiag.topology.model import Host, IPAddress, IPNetwork, Network, Topology

_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 literal carries (IPv4-compatible, NAT64 64:ff9b::/96, 6to4, Teredo).

    Such a literal may end up at that IPv4 address, so non-admins are held to the IPv4 rules too.
    (IPv4-mapped ::ffff:a.b.c.d is already turned into IPv4 by ``canonical_destination``.)
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_PREFIX or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_destination(vm: Host, destination: IPAddress, topology: Topology) -> None:
    """The path-independent rules; an IPv6 literal embedding IPv4 is held to that address's rules too."""
    embedded = embedded_ipv4(destination)
    if embedded is not None:
        try:
            check_destination(vm, embedded, topology)
        except Denied as denied:
            raise Denied(
                denied.code,
                f"{destination} embeds {embedded}: {denied.message}",
                f"{destination} embeds {embedded}: {denied.detail}",
            ) from None
    _check_infrastructure(destination, topology)
    _check_special(destination)
    _check_subnet_edges(vm, destination, topology)


def _infrastructure(destination: IPAddress, detail: str, code: ReasonCode) -> Denied:
    return Denied(code, f"{destination} is {INFRASTRUCTURE}; {ONLY_ADMINS}.", f"{destination} is {detail}.")


def _check_infrastructure(destination: IPAddress, topology: Topology) -> None:
    for cidr in topology.zone.management_ranges:
        if cidr.version == destination.version and destination in cidr:
            raise _infrastructure(
                destination,
                f"in the zone's management range {cidr}",
                ReasonCode.DESTINATION_IN_MANAGEMENT_RANGE,
            )
    for net in topology.networks:
        if net.kind in INFRASTRUCTURE_KINDS and net.contains(destination):
            raise _infrastructure(
                destination,
                f"inside the zone's {net.kind.value} network {net.name}",
                ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS,
            )
    plane = _service_plane(destination, topology)
    if plane is not None:
        raise _infrastructure(destination, plane, ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS)


def _service_plane(destination: IPAddress, topology: Topology) -> str | None:
    """The bastion (the SSH jump host) or the link between the lab and the machine hosting it."""
    try:
        bastion: Host | None = topology.bastion()
    except KeyError:
        bastion = None
    if bastion is not None:
        own = {address for iface in bastion.interfaces for address in iface.addresses}
        if bastion.ssh is not None and bastion.ssh.address is not None:
            own.add(bastion.ssh.address)
        if destination in own:
            return "an address of the bastion"
    if topology.lab is not None:
        for side in (topology.lab.host_link.host, topology.lab.host_link.bastion):
            if side.version == destination.version and destination in side.network:
                return f"on the lab's host link {side.network}"
    return None


def special_kind(address: IPAddress) -> str | None:
    """What makes an address no tenant's destination: loopback, link-local, reserved, 0.0.0.0/8."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_multicast:
        return "multicast"
    if address.is_link_local:
        return "link-local"
    if address in _THIS_NETWORK:
        return "this-network (0.0.0.0/8)"
    if address.is_reserved:
        return "reserved"
    return None


def _check_special(destination: IPAddress) -> None:
    special = special_kind(destination)
    if special is not None:
        raise Denied(
            ReasonCode.DESTINATION_NOT_ALLOWED, f"{destination} is a {special} address; {ONLY_ADMINS}."
        )


def _check_subnet_edges(vm: Host, destination: IPAddress, topology: Topology) -> None:
    """A directed broadcast reaches many hosts, and a network address is answered as one by some stacks
    (IPv6's is the subnet-router anycast): refused for every subnet the zone describes, whoever's."""
    for subnet, where in described_subnets(vm, topology):
        if subnet.version != destination.version or subnet.prefixlen >= subnet.max_prefixlen - 1:
            continue  # other family, or a point-to-point /31 (/127) or a host route
        if subnet.prefixlen == 0:
            continue  # a default route describes no subnet
        edges = [("network", subnet.network_address)]
        if subnet.version == 4:
            edges.append(("broadcast", subnet.broadcast_address))
        for kind, edge in edges:
            if destination == edge:
                raise Denied(
                    ReasonCode.DESTINATION_NOT_ALLOWED,
                    f"{destination} is the {kind} address of a subnet; {ONLY_ADMINS}.",
                    f"{destination} is the {kind} address of {where} ({subnet}).",
                )


def described_subnets(vm: Host, topology: Topology) -> Iterator[tuple[IPNetwork, str]]:
    """Every subnet the topology describes: the VM's interfaces and routes, networks, gateways, VPCs."""
    for iface in vm.interfaces:
        for prefix in (iface.ipv4, iface.ipv6):
            if prefix is not None:
                yield prefix.network, f"the subnet of {vm.name}'s {iface.name}"
    for route in vm.routes:
        yield route.destination, f"a route of {vm.name}"
    for net in topology.networks:
        for cidr in (*net.cidrs, *gateway_cidrs(net)):
            yield cidr, f"{net.kind.value} network {net.name}"
    for vpc in topology.vpcs:
        if vpc.cidr4 is not None:
            yield vpc.cidr4, f"VPC {vpc.name}"
    for cidr in topology.zone.management_ranges:
        yield cidr, "the management range"


def another_tenant(reach: Reach, network: Network, destination: IPAddress, detail: str) -> Denied:
    """The refusal for an address on a network that is not the caller's: a holder of a multi-tenant
    shared network is told so (it knows the network); anyone else learns only "another tenant"."""
    if is_multi_tenant(network, reach.topology) and reach.is_holder(network):
        return Denied(
            ReasonCode.SHARED_NETWORK_NOT_EXCLUSIVE,
            f"{destination} is on a shared network that other accounts use too; {ONLY_ADMINS}.",
            detail,
        )
    return Denied(
        ReasonCode.DESTINATION_NOT_ALLOWED, f"{destination} is {ANOTHER_TENANT}; {ONLY_ADMINS}.", detail
    )


def check_tenant_spaces(reach: Reach, destination: IPAddress) -> None:
    """A destination leaving the caller's own networks: inside no space of a tenant the caller does not
    cover (networks, VPN remote CIDRs, private gateway routes, VPC CIDRs, multi-tenant shared networks)."""
    topology = reach.topology
    for net in topology.networks:
        if net.kind not in TENANT_KINDS or reach.has_network(net):
            continue
        for cidr in (*net.cidrs, *gateway_cidrs(net)):
            if cidr.version == destination.version and destination in cidr:
                raise another_tenant(
                    reach,
                    net,
                    destination,
                    f"{destination} is inside {cidr} of {net.kind.value} network "
                    f"{net.name} ({net.id}), which is not the caller's.",
                )
    for vpc in topology.vpcs:
        if vpc.cidr4 is None or destination.version != 4 or destination not in vpc.cidr4:
            continue
        if not reach.has_vpc(vpc.id):
            raise Denied(
                ReasonCode.DESTINATION_NOT_ALLOWED,
                f"{destination} is {ANOTHER_TENANT}; {ONLY_ADMINS}.",
                f"{destination} is inside {vpc.cidr4} of VPC {vpc.name} ({vpc.id}), not the caller's.",
            )
