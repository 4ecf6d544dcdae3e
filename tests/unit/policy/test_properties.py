"""Properties: no non-admin decision ever reaches the zone's management or control plane."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from sysvmdiag.policy import decide
from sysvmdiag.topology.model import NetworkKind
from tests.unit.policy.topologies import VARIANTS, caller

USER_EGRESS_KINDS = ("public", "isolated", "vpc_tier", "private_gateway", "vpn_gateway", "shared")
NON_ADMINS = ["alice", "acme-admin", "globex-admin", "initech-admin", "bob", "carol", "dave", "erin"]
VMS = [
    "vr",
    "vpcvr",
    "sharedvr",
    "davevr",
    "dedvr",
    "stoppedvr",
    "ssvm",
    "cpvm",
    "r-4-VM",
    "4b1d5c2e-7a0f-4c1e-9d3b-000000000007",
]
PARAMS = [
    None,
    "",
    "-c 1",
    "-I eth0",
    "-I eth1",
    "-I eth2",
    "-i eth0",
    "-i eth1",
    "-4",
    "-6",
    "-n -w 2",
    "-c 3 -i 0.2",
    "-m 5 -q 1",
    "-I",
    "-T -p 22",
    "-w 60",
]

LAB = VARIANTS["lab"]
PROTECTED_NETS = [n.cidr4 for n in LAB.networks if n.kind in (NetworkKind.CONTROL, NetworkKind.MANAGEMENT)]
PROTECTED_NETS += list(LAB.zone.management_ranges)
VM_PLANE_ADDRESSES = [
    str(iface.ipv4.ip)
    for vm in LAB.system_vms()
    for iface in vm.interfaces
    if iface.ipv4 is not None
    and LAB.network(iface.network).kind in (NetworkKind.CONTROL, NetworkKind.MANAGEMENT)
]


@st.composite
def protected_ipv4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    if draw(st.booleans()):
        return ipaddress.IPv4Address(draw(st.sampled_from(VM_PLANE_ADDRESSES)))
    network = draw(st.sampled_from(PROTECTED_NETS))
    offset = draw(st.integers(0, network.num_addresses - 1))
    return network[offset]


def spellings(address: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """The address as IPv4, IPv4-mapped IPv6 (dotted, hex, upper case), 6to4, NAT64 and v4-compatible."""
    packed = int(address)
    high, low = packed >> 16, packed & 0xFFFF
    return st.sampled_from(
        [
            str(address),
            f"::ffff:{address}",
            f"::FFFF:{address}",
            f"::ffff:{high:x}:{low:x}",
            f"0:0:0:0:0:ffff:{high:04x}:{low:04x}",
            str(ipaddress.IPv6Address((0x2002 << 112) | (packed << 80) | 1)),
            str(ipaddress.IPv6Address((0x64FF9B << 96) | packed)),
            f"::{address}",
        ]
    )


@settings(max_examples=600, deadline=None)
@given(
    who=st.sampled_from(NON_ADMINS),
    vm=st.sampled_from(VMS),
    test=st.sampled_from(["ping", "traceroute", "arping"]),
    params=st.sampled_from(PARAMS),
    variant=st.sampled_from(sorted(VARIANTS)),
    destination=protected_ipv4().flatmap(spellings),
)
def test_non_admins_never_reach_management_or_control_addresses(
    who: str, vm: str, test: str, params: str | None, variant: str, destination: str
) -> None:
    decision = decide(caller(who), vm, test, destination, params, VARIANTS[variant])
    assert not decision.allowed, decision.to_dict()


@settings(max_examples=300, deadline=None)
@given(
    vm=st.sampled_from(["vr", "vpcvr", "ssvm", "cpvm"]),
    test=st.sampled_from(["ping", "traceroute"]),
    destination=protected_ipv4().flatmap(spellings),
)
def test_admins_are_not_held_to_those_rules(vm: str, test: str, destination: str) -> None:
    """The property above is about the role, not a policy that refuses everything."""
    decision = decide(caller("admin"), vm, test, destination, None, LAB)
    address = ipaddress.ip_address(destination)
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address
    if mapped is not None:
        assert decision.allowed, decision.message


@settings(max_examples=400, deadline=None)
@given(
    who=st.sampled_from(NON_ADMINS),
    vm=st.sampled_from(VMS),
    test=st.sampled_from(["ping", "traceroute", "arping"]),
    params=st.sampled_from(PARAMS),
    destination=st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(str),
    ),
)
def test_every_allowed_non_admin_run_leaves_through_an_allowed_interface(
    who: str, vm: str, test: str, params: str | None, destination: str
) -> None:
    decision = decide(caller(who), vm, test, destination, params, LAB)
    if not decision.allowed:
        return
    address = ipaddress.ip_address(decision.invocation.destination)
    assert not any(address in net for net in PROTECTED_NETS if net.version == address.version)
    assert decision.egress_kind in (
        "public",
        "isolated",
        "vpc_tier",
        "private_gateway",
        "vpn_gateway",
        "shared",
    )
    assert not (address.is_loopback or address.is_multicast or address.is_unspecified or address.is_reserved)
    if decision.invocation.interface is not None:
        assert decision.invocation.interface == decision.egress_interface


def _subnet_edges() -> list[str]:
    """Broadcast and network addresses of every IPv4 subnet, route and VPC the variants describe."""
    edges: set[ipaddress.IPv4Address] = set()
    for topology in VARIANTS.values():
        subnets = [c for n in topology.networks for c in (n.cidr4, *n.routes4, *n.remote_cidrs) if c]
        subnets += [v.cidr4 for v in topology.vpcs if v.cidr4]
        subnets += [i.ipv4.network for h in topology.system_vms() for i in h.interfaces if i.ipv4]
        for subnet in subnets:
            if isinstance(subnet, ipaddress.IPv4Network) and 0 < subnet.prefixlen < 31:
                edges |= {subnet.network_address, subnet.broadcast_address}
    return sorted(str(edge) for edge in edges)


@settings(max_examples=400, deadline=None)
@given(
    who=st.sampled_from(NON_ADMINS),
    vm=st.sampled_from(VMS),
    test=st.sampled_from(["ping", "traceroute", "arping"]),
    params=st.sampled_from(PARAMS),
    variant=st.sampled_from(sorted(VARIANTS)),
    destination=st.sampled_from(_subnet_edges()).flatmap(lambda edge: spellings(ipaddress.IPv4Address(edge))),
)
def test_non_admins_never_reach_a_subnet_broadcast_or_network_address(
    who: str, vm: str, test: str, params: str | None, variant: str, destination: str
) -> None:
    decision = decide(caller(who), vm, test, destination, params, VARIANTS[variant])
    assert not decision.allowed, decision.to_dict()
