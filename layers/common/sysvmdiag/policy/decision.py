"""The access policy: may this caller run this test on this system VM toward this destination?

Pure: no I/O. It reasons over a :class:`~sysvmdiag.topology.model.Topology` that is either the
whole zone or the slice the store returns for one VM (the VM, its networks, the accounts owning
or sharing them, the zone with its management ranges, and every shared network of the zone).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.toolargs import (
    OPTION_OUT_OF_BOUNDS,
    TOOLS,
    OptionError,
    ToolInvocation,
    canonical_destination,
    parse_params,
)
from sysvmdiag.topology.model import (
    ROUTER_VM_KINDS,
    HostKind,
    IPAddress,
    IPNetwork,
    Network,
    NetworkKind,
    Role,
    Topology,
    domain_contains,
)
from sysvmdiag.topology.model import Host as Vm
from sysvmdiag.topology.model import Interface as VmInterface

# Networks that carry the cloud's own traffic: never a non-admin's destination or egress.
INFRASTRUCTURE_KINDS = frozenset({NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE})
# Egress kinds a user or domain admin may use, each further checked for ownership.
USER_EGRESS_KINDS = frozenset(
    {
        NetworkKind.PUBLIC,
        NetworkKind.ISOLATED,
        NetworkKind.VPC_TIER,
        NetworkKind.PRIVATE_GATEWAY,
        NetworkKind.VPN_GATEWAY,
        NetworkKind.SHARED,
    }
)
_OWNED_KINDS = frozenset(
    {NetworkKind.ISOLATED, NetworkKind.VPC_TIER, NetworkKind.PRIVATE_GATEWAY, NetworkKind.VPN_GATEWAY}
)
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_KIND_NAMES = {HostKind.SSVM: "secondary storage VM", HostKind.CPVM: "console proxy VM"}
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


@dataclass(frozen=True)
class Caller:
    """Who asks: the account, its role and its domain path (ROOT/acme/...)."""

    account_id: str
    role: Role
    domain: str


@dataclass(frozen=True)
class Decision:
    """The verdict, and when allowed, exactly what runs where and for how long at most."""

    allowed: bool
    code: ReasonCode | None
    message: str
    vm_uuid: str | None = None
    egress_interface: str | None = None
    egress_kind: str | None = None
    invocation: ToolInvocation | None = None
    worst_case_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": self.code.value if self.code else None,
            "message": self.message,
            "vm_uuid": self.vm_uuid,
            "egress_interface": self.egress_interface,
            "egress_kind": self.egress_kind,
            "argv": self.invocation.argv() if self.invocation else None,
            "command_line": self.invocation.command_line() if self.invocation else None,
            "worst_case_seconds": self.worst_case_seconds,
        }


@dataclass(frozen=True)
class _Egress:
    interface: VmInterface
    network: Network
    via: str  # "connected", "vpn", "private_gateway" or "route"


class _Denied(Exception):
    """Internal control flow: a denial raised deep in a check, turned into a Decision by decide()."""

    def __init__(self, code: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- who may target which VM ------------------------------------------------------------------


def _in_scope(caller: Caller, account_id: str | None, topology: Topology) -> bool:
    """Is ``account_id`` the caller's account or, for a domain admin, an account in their subtree?"""
    if account_id is None:
        return False
    if account_id == caller.account_id:
        return True
    if caller.role is not Role.DOMAIN_ADMIN:
        return False
    try:
        account = topology.account(account_id)
    except KeyError:
        return False
    return domain_contains(caller.domain, account.domain)


def _shared_network_users(network: Network) -> frozenset[str]:
    """The accounts a shared network serves: those it is shared with, else its owner."""
    if network.shared_with:
        return frozenset(network.shared_with)
    return frozenset({network.owner}) if network.owner else frozenset()


def _shared_exclusive(caller: Caller, network: Network, topology: Topology) -> bool:
    """A shared network counts as the caller's own only if it serves nobody outside the caller's scope.

    For a user that means shared with their account alone; for a domain admin, with accounts of
    their domain subtree only.
    """
    users = _shared_network_users(network)
    return bool(users) and all(_in_scope(caller, account, topology) for account in users)


def _network_in_reach(caller: Caller, network: Network, topology: Topology) -> bool:
    """Does this network make its VR the caller's (owned, or shared with an account in scope)?"""
    if network.kind in _OWNED_KINDS:
        return _in_scope(caller, network.owner, topology)
    if network.kind is NetworkKind.SHARED:
        return any(_in_scope(caller, account, topology) for account in _shared_network_users(network))
    return False


def _vm_networks(vm: Vm, topology: Topology) -> list[tuple[VmInterface, Network]]:
    pairs = []
    for iface in vm.interfaces:
        try:
            pairs.append((iface, topology.network(iface.network)))
        except KeyError:
            continue  # a slice may omit a network; the VM simply has nothing known there
    return pairs


def may_target(caller: Caller, vm: Vm, topology: Topology) -> bool:
    """Admins: any system VM. Others: a VR / VPC VR serving a network owned by or shared with them."""
    if not vm.is_system_vm:
        return False
    if caller.role is Role.ADMIN:
        return True
    if vm.kind not in ROUTER_VM_KINDS:
        return False
    if vm.vpc is not None:
        vpc = next((v for v in topology.vpcs if v.id == vm.vpc), None)
        if vpc is not None and _in_scope(caller, vpc.owner, topology):
            return True
    return any(_network_in_reach(caller, net, topology) for _, net in _vm_networks(vm, topology))


def _egress_allowed(caller: Caller, network: Network, topology: Topology) -> bool:
    if caller.role is Role.ADMIN:
        return True
    if network.kind not in USER_EGRESS_KINDS:
        return False
    if network.kind is NetworkKind.PUBLIC:
        return True
    if network.kind is NetworkKind.SHARED:
        return _shared_exclusive(caller, network, topology)
    return _in_scope(caller, network.owner, topology)


def allowed_egress_kinds(caller: Caller, vm: Vm, topology: Topology) -> list[str]:
    """The network kinds this caller may send probes out of on this VM (for ``GET /systemvms``)."""
    if not may_target(caller, vm, topology):
        return []
    kinds = {
        net.kind.value for _, net in _vm_networks(vm, topology) if _egress_allowed(caller, net, topology)
    }
    return sorted(kinds)


# -- where a packet leaves ---------------------------------------------------------------------


def _interface_prefix(
    iface: VmInterface, version: int
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    return iface.ipv4 if version == 4 else iface.ipv6


def choose_egress(vm: Vm, destination: IPAddress, topology: Topology) -> _Egress | None:
    """Connected subnet first (longest prefix), then VPN remote CIDRs and private gateway routes,
    then the VM's own routes (longest prefix), as the VM's kernel and CloudStack's config would."""
    pairs = _vm_networks(vm, topology)
    connected = []
    for iface, net in pairs:
        prefix = _interface_prefix(iface, destination.version)
        if prefix is not None and destination in prefix.network:
            connected.append((prefix.network.prefixlen, iface, net))
    if connected:
        _, iface, net = max(connected, key=lambda item: item[0])
        return _Egress(iface, net, "connected")

    gateway_routes: list[tuple[int, VmInterface, Network, str]] = []
    for iface, net in pairs:
        if net.kind is NetworkKind.VPN_GATEWAY:
            cidrs: tuple[IPNetwork, ...] = net.remote_cidrs
            via = "vpn"
        elif net.kind is NetworkKind.PRIVATE_GATEWAY:
            cidrs = net.routes4
            via = "private_gateway"
        else:
            continue
        for cidr in cidrs:
            if cidr.version == destination.version and destination in cidr:
                gateway_routes.append((cidr.prefixlen, iface, net, via))
    if gateway_routes:
        _, iface, net, via = max(gateway_routes, key=lambda item: item[0])
        return _Egress(iface, net, via)

    best: tuple[int, VmInterface, Network] | None = None
    for route in vm.routes:
        cidr = route.destination
        if cidr.version != destination.version or destination not in cidr:
            continue
        match = _route_interface(route.dev, route.via, pairs)
        if match is not None and (best is None or cidr.prefixlen > best[0]):
            best = (cidr.prefixlen, *match)
    if best is None:
        return None
    return _Egress(best[1], best[2], "route")


def _route_interface(
    dev: str | None, via: IPAddress | None, pairs: list[tuple[VmInterface, Network]]
) -> tuple[VmInterface, Network] | None:
    for iface, net in pairs:
        if dev is not None and iface.name == dev:
            return iface, net
        if via is not None:
            prefix = _interface_prefix(iface, via.version)
            if prefix is not None and via in prefix.network:
                return iface, net
    return None


# -- the decision ------------------------------------------------------------------------------


def _vm_label(vm: Vm) -> str:
    return f"{vm.vm_name} ({vm.kind.value})" if vm.vm_name else vm.name


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


def _check_destination_for_non_admin(
    vm: Vm, destination: IPAddress, caller: Caller, topology: Topology
) -> None:
    """The destination rules that hold whatever the route: no zone infrastructure, no specials."""
    embedded = embedded_ipv4(destination)
    if embedded is not None:
        try:
            _check_destination_for_non_admin(vm, embedded, caller, topology)
        except _Denied as denied:
            raise _Denied(denied.code, f"{destination} embeds {embedded}: {denied.message}") from None
    label = _vm_label(vm)
    for cidr in topology.zone.management_ranges:
        if cidr.version == destination.version and destination in cidr:
            raise _Denied(
                ReasonCode.DESTINATION_IN_MANAGEMENT_RANGE,
                f"{destination} is in the zone's management range {cidr}; only admins may probe it.",
            )
    for iface, net in _vm_networks(vm, topology):
        if net.kind in INFRASTRUCTURE_KINDS and destination in iface.addresses:
            raise _Denied(
                ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS,
                f"{destination} is the address of {label}'s {net.kind.value} interface {iface.name}; "
                "only admins may probe it.",
            )
    for net in topology.networks:
        if net.kind in INFRASTRUCTURE_KINDS and net.contains(destination):
            raise _Denied(
                ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS,
                f"{destination} is inside the zone's {net.kind.value} network {net.name}; "
                "only admins may probe it.",
            )
    lab_plane = _lab_plane_kind(destination, topology)
    if lab_plane is not None:
        raise _Denied(
            ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS,
            f"{destination} is {lab_plane}; only admins may probe it.",
        )
    special = _special_kind(destination)
    if special is not None:
        raise _Denied(
            ReasonCode.DESTINATION_NOT_ALLOWED,
            f"{destination} is a {special} address; only admins may probe it from {label}.",
        )
    for net in topology.networks:
        if (
            net.kind is NetworkKind.SHARED
            and net.contains(destination)
            and not _shared_exclusive(caller, net, topology)
        ):
            raise _Denied(
                ReasonCode.SHARED_NETWORK_NOT_EXCLUSIVE,
                f"{destination} is on the shared network {net.name}, which is also shared with other "
                "accounts; only admins may probe it.",
            )
    if isinstance(destination, ipaddress.IPv4Address):
        for subnet, where in _known_ipv4_subnets(vm, topology):
            if subnet.prefixlen in (0, 31, 32):
                continue  # the default route (0.0.0.0 and 255.255.255.255 are refused above) and p2p links
            for kind, edge in (("broadcast", subnet.broadcast_address), ("network", subnet.network_address)):
                if destination == edge:
                    raise _Denied(
                        ReasonCode.DESTINATION_NOT_ALLOWED,
                        f"{destination} is the {kind} address of {where} ({subnet}); "
                        "only admins may probe it.",
                    )


def _known_ipv4_subnets(vm: Vm, topology: Topology) -> Iterator[tuple[ipaddress.IPv4Network, str]]:
    """Every IPv4 subnet the topology describes: a directed broadcast to any of them reaches many hosts,
    and a network address is answered as one by BSD-style stacks, whichever way the packet is routed."""
    for iface in vm.interfaces:
        if iface.ipv4 is not None:
            yield iface.ipv4.network, f"the subnet of {_vm_label(vm)}'s {iface.name}"
    for route in vm.routes:
        destination = route.destination
        if isinstance(destination, ipaddress.IPv4Network):
            yield destination, f"a route of {_vm_label(vm)}"
    for net in topology.networks:
        for cidr in (net.cidr4, *net.routes4, *net.remote_cidrs):
            if isinstance(cidr, ipaddress.IPv4Network):
                yield cidr, f"{net.kind.value} network {net.name}"
    for vpc in topology.vpcs:
        if vpc.cidr4 is not None:
            yield vpc.cidr4, f"VPC {vpc.name}"


def _lab_plane_kind(destination: IPAddress, topology: Topology) -> str | None:
    """What ``destination`` is when it belongs to the bastion (the SSH jump host) or the link between
    the lab and the machine hosting it: the service's own plane, never a tenant's destination."""
    try:
        bastion = topology.bastion()
    except KeyError:
        bastion = None
    if bastion is not None:
        own = set(_all_addresses(bastion.interfaces))
        if bastion.ssh is not None and bastion.ssh.address is not None:
            own.add(bastion.ssh.address)
        if destination in own:
            return "an address of the bastion"
    if topology.lab is not None:
        link = topology.lab.host_link
        for side in (link.host, link.bastion):
            if side.version == destination.version and destination in side.network:
                return f"on the lab's host link {side.network}"
    return None


def _all_addresses(interfaces: tuple[VmInterface, ...]) -> Iterator[IPAddress]:
    for iface in interfaces:
        yield from iface.addresses


def _special_kind(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_multicast:
        return "multicast"
    if address == _LIMITED_BROADCAST:
        return "broadcast"
    if address.is_link_local:
        return "link-local"
    if address in _THIS_NETWORK:
        return "this-network (0.0.0.0/8)"
    if address.is_reserved:
        return "reserved"
    return None


def _check_egress_for_non_admin(
    vm: Vm, destination: IPAddress, egress: _Egress, caller: Caller, topology: Topology
) -> None:
    label = _vm_label(vm)
    net = egress.network
    where = (
        f"{destination} would leave {label} through {egress.interface.name} "
        f"on {net.kind.value} network {net.name}"
    )
    if net.kind is NetworkKind.SHARED and not _shared_exclusive(caller, net, topology):
        raise _Denied(
            ReasonCode.SHARED_NETWORK_NOT_EXCLUSIVE,
            f"{where}, which is also shared with other accounts; only admins may probe through it.",
        )
    if not _egress_allowed(caller, net, topology):
        raise _Denied(ReasonCode.EGRESS_NOT_ALLOWED, f"{where}, which your account may not probe from.")
    if net.kind is NetworkKind.VPN_GATEWAY and not any(
        c.version == destination.version and destination in c for c in net.remote_cidrs
    ):
        remote = ", ".join(str(c) for c in net.remote_cidrs) or "none"
        raise _Denied(
            ReasonCode.EGRESS_NOT_ALLOWED,
            f"{where}; through a VPN gateway only its remote CIDRs ({remote}) may be probed.",
        )
    if net.kind is NetworkKind.PRIVATE_GATEWAY and not (
        net.contains(destination)
        or any(c.version == destination.version and destination in c for c in net.routes4)
    ):
        raise _Denied(
            ReasonCode.EGRESS_NOT_ALLOWED,
            f"{where}; through a private gateway only its subnet and static routes may be probed.",
        )
    if net.kind in (NetworkKind.PUBLIC, NetworkKind.SHARED):
        foreign = _foreign_tenant_cidr(caller, destination, topology)
        if foreign is not None:
            cidr, owner_of = foreign
            raise _Denied(
                ReasonCode.DESTINATION_NOT_ALLOWED,
                f"{where}, toward {cidr}, {owner_of} of another account; only admins may probe it.",
            )
    prefix = _interface_prefix(egress.interface, destination.version)
    if (
        egress.via == "connected"
        and isinstance(prefix, ipaddress.IPv4Interface)
        and prefix.network.prefixlen < 31
        and destination == prefix.network.broadcast_address
    ):
        raise _Denied(
            ReasonCode.DESTINATION_NOT_ALLOWED,
            f"{destination} is the broadcast address of {net.name} ({prefix.network}); "
            "only admins may probe it.",
        )


def _foreign_tenant_cidr(
    caller: Caller, destination: IPAddress, topology: Topology
) -> tuple[IPNetwork, str] | None:
    """A tenant network or VPC holding ``destination`` whose owner is outside the caller's scope.

    Checked when the probe leaves over public or shared, i.e. not through the caller's own network:
    where tenants' CIDRs overlap, the address may be the other tenant's, so it is refused too.
    VPN remote CIDRs and private gateway routes are left out on purpose: a tenant writes them
    freely, and they name places beyond its gateways, not address space the zone gave it, so
    claiming 0.0.0.0/0 there must not take destinations away from everyone else.
    """
    for net in topology.networks:
        if net.kind not in _OWNED_KINDS or _in_scope(caller, net.owner, topology):
            continue
        for cidr in net.cidrs:
            if cidr.version == destination.version and destination in cidr:
                return cidr, f"in {net.kind.value} network {net.name}"
    for vpc in topology.vpcs:
        if (
            vpc.cidr4 is not None
            and destination.version == 4
            and destination in vpc.cidr4
            and not _in_scope(caller, vpc.owner, topology)
        ):
            return vpc.cidr4, f"the CIDR of VPC {vpc.name}"
    return None


def _decide(
    caller: Caller, vm_ref: str, test: str, destination: str, params: str | None, topology: Topology
) -> Decision:
    if test not in TOOLS:
        raise _Denied(ReasonCode.INVALID_TEST, f"{test!r} is not a test; choose ping, traceroute or arping.")
    try:
        address = canonical_destination(destination)
    except OptionError as err:
        raise _Denied(ReasonCode.INVALID_DESTINATION, err.message) from None
    if test == "arping" and address.version != 4:
        raise _Denied(ReasonCode.ARPING_IPV4_ONLY, f"arping works on IPv4 only; {address} is IPv6.")
    try:
        invocation = parse_params(test, params, str(address))
    except OptionError as err:
        code = ReasonCode.OPTION_OUT_OF_BOUNDS if err.code == OPTION_OUT_OF_BOUNDS else ReasonCode(err.code)
        raise _Denied(code, err.message) from None

    try:
        vm = topology.system_vm(vm_ref)
    except KeyError:
        raise _Denied(ReasonCode.TARGET_NOT_FOUND, f"There is no system VM {vm_ref!r} in the zone.") from None
    label = _vm_label(vm)
    is_admin = caller.role is Role.ADMIN
    if not is_admin and vm.kind in (HostKind.SSVM, HostKind.CPVM):
        raise _Denied(
            ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY,
            f"{label} is a {_KIND_NAMES[vm.kind]}; only root admins may run diagnostics on it.",
        )
    if not may_target(caller, vm, topology):
        raise _Denied(
            ReasonCode.TARGET_NOT_OWNED,
            f"{label} serves no network owned by or shared with your account, so you may not use it.",
        )
    if vm.state != "Running":
        raise _Denied(
            ReasonCode.VM_NOT_RUNNING, f"{label} is {vm.state}, not Running; start it before probing from it."
        )

    if not is_admin:
        _check_destination_for_non_admin(vm, address, caller, topology)
    egress = choose_egress(vm, address, topology)
    if egress is None:
        raise _Denied(ReasonCode.NO_ROUTE, f"{label} has no route toward {address}.")
    if not is_admin:
        _check_egress_for_non_admin(vm, address, egress, caller, topology)

    if invocation.interface is not None and invocation.interface != egress.interface.name:
        # Admins may pin ping/traceroute to any interface the VM has; arping only works on-link,
        # so it always goes out of the interface whose subnet holds the destination.
        known = {iface.name for iface in vm.interfaces}
        if not is_admin or test == "arping" or invocation.interface not in known:
            raise _Denied(
                ReasonCode.INTERFACE_NOT_ALLOWED,
                f"{test} toward {address} on {label} must use interface {egress.interface.name}, "
                f"not {invocation.interface}.",
            )
    if test == "arping":
        if egress.via != "connected":
            raise _Denied(
                ReasonCode.ARPING_NOT_ON_LINK,
                f"{address} is not on a subnet connected to {label}; arping only reaches neighbours on the "
                f"same link (it would be routed out of {egress.interface.name}).",
            )
        invocation = invocation.with_interface(egress.interface.name)

    out_of = egress.network
    if invocation.interface is not None and invocation.interface != egress.interface.name:
        out_of = topology.network(vm.interface(invocation.interface).network)  # an admin's choice
    chosen = invocation.interface or egress.interface.name
    return Decision(
        allowed=True,
        code=None,
        message=(
            f"{test} from {label} toward {address} is allowed, out of {chosen} "
            f"({out_of.kind.value} network {out_of.name})."
        ),
        vm_uuid=vm.uuid,
        egress_interface=egress.interface.name,
        egress_kind=egress.network.kind.value,
        invocation=invocation,
        worst_case_seconds=invocation.worst_case_seconds,
    )


def decide(
    caller: Caller, vm_ref: str, test: str, destination: str, params: str | None, topology: Topology
) -> Decision:
    """Allow or deny one diagnostic run; a denial carries a reason code and a sentence naming why."""
    try:
        return _decide(caller, vm_ref, test, destination, params, topology)
    except _Denied as denied:
        vm_uuid = None
        with contextlib.suppress(KeyError):
            vm_uuid = topology.system_vm(vm_ref).uuid
        return Decision(allowed=False, code=denied.code, message=denied.message, vm_uuid=vm_uuid)
