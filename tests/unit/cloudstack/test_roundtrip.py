"""The lab zone, listed as CloudStack would list it and mapped back, decides like the lab itself.

Every case of the policy tables (tests/unit/policy: the lab and its variants, and the zones of ./zones)
is decided on the original topology and on ``map_zone(responses_for(topology))``; the decisions must
agree in allowed, code, detail_code, egress interface and argv. Where CloudStack's answers cannot carry
what the lab has, the difference is listed below with the reason, and the lists are exact for the lab.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from simvms.cloudstack_responses import responses_for
from sysvmdiag.cloudstack.mapping import map_zone
from sysvmdiag.policy import Caller, Decision, ReasonCode, decide
from sysvmdiag.toolargs import ROUTED_TOOLS
from sysvmdiag.topology.model import NetworkKind, Role, Topology
from tests.unit.policy.test_decide import EXPANDED as LAB_CASES
from tests.unit.policy.test_zones import EXPANDED as ZONE_CASES
from tests.unit.policy.test_zones import ZONES, zone_caller
from tests.unit.policy.topologies import LAB, VARIANTS, caller

PT = ROUTED_TOOLS  # every test "*" expands to in the policy tables
VPN_TUNNEL = "the lab's VPN tunnel is a veth with inside addresses; CloudStack's is IPsec: none"
SSVM_STORAGE = "SystemVmResponse has no storage address: the SSVM has no storage interface"
SYSTEM_VM_IPV6 = "SystemVmResponse has no IPv6 address"
STORAGE_NETWORK = "storage networks are not among the list commands: keep_from keeps them"
CONTROL_ROUTE = "a VR route out of its control interface is no CloudStack route"


def _known(variant: str, who: str, vm: str, tests: tuple[str, ...], dest: str, why: str) -> dict[tuple, str]:
    return {(variant, who, vm, test, dest, None): why for test in tests}


KNOWN_WITH_KEEP: dict[tuple, str] = {
    **_known("lab", "admin", "vpcvr", (*PT, "arping"), "10.255.0.2", VPN_TUNNEL),
    **_known("lab", "alice", "vpcvr", (*PT, "arping"), "10.255.0.2", VPN_TUNNEL),
    **_known("lab", "acme-admin", "vpcvr", PT, "10.255.0.2", VPN_TUNNEL),
    **_known("lab", "admin", "ssvm", (*PT, "arping"), "172.31.201.10", SSVM_STORAGE),
    **_known("lab", "admin", "ssvm", PT, "2001:db8:52::80", SYSTEM_VM_IPV6),
    **_known("lab", "admin", "v-2-VM", PT, "2001:db8:113::1", SYSTEM_VM_IPV6),
    **_known("lab", "admin", "ssvm", ("ndisc",), "2001:db8:113::1", SYSTEM_VM_IPV6),
    **_known("ctlroute", "alice", "vr", PT, "10.200.0.5", CONTROL_ROUTE),
}
KNOWN_WITHOUT_KEEP = KNOWN_WITH_KEEP | _known("lab", "alice", "vr", PT, "172.31.201.10", STORAGE_NETWORK)


def _mapped(topology: Topology, keep: bool) -> Topology:
    mapped = map_zone(responses_for(topology), keep_from=topology if keep else None)
    assert mapped.report.unmapped == [], mapped.report.to_dict()
    return mapped.topology


MAPPED = {(key, keep): _mapped(t, keep) for key, t in VARIANTS.items() for keep in (False, True)}
MAPPED_ZONES = {key: _mapped(t, True) for key, t in ZONES.items()}


def outcome(decision: Decision) -> tuple[Any, ...]:
    argv = decision.invocation.argv() if decision.invocation else None
    return decision.allowed, decision.code, decision.detail_code, decision.egress_interface, argv


def vm_ref(topology: Topology, vm: str) -> str:
    """The VM as the mapped zone knows it (by uuid: the lab's host names are no CloudStack names)."""
    try:
        return topology.system_vm(vm).uuid or vm
    except KeyError:
        return vm


def _pair(
    who: Caller, vm: str, test: str, dest: str, params: str | None, original: Topology, mapped: Topology
):
    before = decide(who, vm, test, dest, params, original)
    after = decide(who, vm_ref(original, vm), test, dest, params, mapped)
    return before, after


def _lab_differences(keep: bool) -> dict[tuple, tuple[Decision, Decision]]:
    found = {}
    for case in LAB_CASES:
        topology = VARIANTS[case.variant]
        pair = _pair(
            caller(case.who), case.vm, case.test, case.dest, case.params, topology, MAPPED[case.variant, keep]
        )
        if outcome(pair[0]) != outcome(pair[1]):
            found[(case.variant, case.who, case.vm, case.test, case.dest, case.params)] = pair
    return found


@pytest.mark.parametrize("keep", [False, True], ids=["mapped", "mapped+keep_from"])
def test_the_lab_decides_alike_but_for_what_cloudstack_cannot_show(keep: bool) -> None:
    known = KNOWN_WITH_KEEP if keep else KNOWN_WITHOUT_KEEP
    differences = _lab_differences(keep)
    unexplained = {k: (outcome(a), outcome(b)) for k, (a, b) in differences.items() if k not in known}
    assert unexplained == {}
    assert set(known) - set(differences) == set(), "a listed difference is gone: update the list"


def test_with_keep_from_no_non_admin_gets_more_than_in_the_lab() -> None:
    for key, (before, after) in _lab_differences(keep=True).items():
        variant, who = key[0], key[1]
        if variant == "ctlroute":  # the lab's route does not exist in CloudStack: another zone
            continue
        if caller(who).role is not Role.ADMIN and after.allowed:
            assert before.allowed, key


def test_the_policy_tables_are_all_checked() -> None:
    assert len(LAB_CASES) >= 300 and {c.variant for c in LAB_CASES} == set(VARIANTS)
    assert len(ZONE_CASES) >= 500 and {c.zone for c in ZONE_CASES} == set(ZONES)


# --- the zones of tests/unit/policy/zones ------------------------------------------------------------


def _inside(dest: str, topology: Topology, kinds: set[NetworkKind], version: int | None = None) -> bool:
    addr = ipaddress.ip_address(dest)
    return any(
        net.kind in kinds and net.contains(addr) and (version is None or addr.version == version)
        for net in topology.networks
    )


def _zone_reason(zone: str, who: str, vm: str, dest: str) -> str | None:
    """Why a zone's case may decide otherwise once mapped (None: it may not)."""
    topology = ZONES[zone]
    if _inside(dest, topology, {NetworkKind.VPN_GATEWAY}):
        return VPN_TUNNEL
    if _inside(dest, topology, {NetworkKind.PRIVATE_GATEWAY}, version=6):
        return "PrivateGatewayResponse has no IPv6: a private gateway is IPv4 only"
    if zone == "c" and vm == "zzc-ssvm" and who == "root":
        return "SystemVmResponse has no IPv6, storage address nor routes but the default"
    if zone == "f" and vm == "zzf-ola-vr2":
        return "a VR with a public nic leaves by its public gateway; this one defaults over a shared network"
    return None


def test_the_zones_decide_alike_but_for_what_cloudstack_cannot_show() -> None:
    unexplained = []
    for case in ZONE_CASES:
        original = ZONES[case.zone]
        who = zone_caller(case.zone, case.who)
        before, after = _pair(
            who, case.vm, case.test, case.dest, case.params, original, MAPPED_ZONES[case.zone]
        )
        if (
            outcome(before) != outcome(after)
            and _zone_reason(case.zone, case.who, case.vm, case.dest) is None
        ):
            unexplained.append((case, outcome(before), outcome(after)))
    assert unexplained == []


@pytest.mark.parametrize("zone", ["a", "d", "e", "h"])
def test_zones_without_lab_only_parts_map_back_exactly(zone: str) -> None:
    for case in (c for c in ZONE_CASES if c.zone == zone):
        who = zone_caller(zone, case.who)
        before, after = _pair(
            who, case.vm, case.test, case.dest, case.params, ZONES[zone], MAPPED_ZONES[zone]
        )
        assert outcome(before) == outcome(after), case


def test_the_shared_networks_keep_their_holders() -> None:
    """The lab's shared networks, as served: domain-wide, dedicated, and owned-and-shared."""
    networks = {net.id: net for net in MAPPED["lab", False].networks}
    assert (networks["net-shared"].shared_domain, networks["net-shared"].owner) == ("ROOT/globex", None)
    assert (networks["net-shared-erin"].owner, networks["net-shared-erin"].shared_with) == ("acct-erin", ())
    assert (networks["net-shared-dave"].owner, networks["net-shared-dave"].shared_with) == (
        "acct-dave",
        ("acct-carol",),
    )
    domain_wide = MAPPED_ZONES["h"].network("net-zzh-globex-subshared")
    assert (domain_wide.shared_domain, domain_wide.subdomain_access) == ("ROOT/globex", True)


def test_keep_from_keeps_the_lab_the_bastion_and_the_storage_network() -> None:
    kept = MAPPED["lab", True]
    assert kept.lab == LAB.lab
    assert kept.bastion().interfaces[0].ipv4 == LAB.bastion().interfaces[0].ipv4
    assert kept.network("net-storage") == LAB.network("net-storage")
    assert MAPPED["lab", False].lab is None
    with pytest.raises(KeyError):
        MAPPED["lab", False].bastion()


SERVICE_PLANE = [
    ("lab", "alice", "vr", "100.64.254.1"),  # the lab's host link
    ("lab", "alice", "vr", "100.64.254.2"),
    ("lab", "acme-admin", "vr", "::ffff:100.64.254.1"),
    ("c", "ivy", "zzc-ivy-vr", "203.0.113.5"),  # zone (c)'s bastion, with a public address
    ("c", "ivy", "zzc-ivy-vr", "2001:db8:113::5"),
    ("c", "ivy", "zzc-ivy-vr", "100.64.77.1"),  # and its host link
]


@pytest.mark.parametrize(("zone", "who", "vm", "dest"), SERVICE_PLANE)
def test_the_bastion_and_the_host_link_need_keep_from(zone: str, who: str, vm: str, dest: str) -> None:
    """CloudStack knows neither: mapped alone, a non-admin may probe them; kept, they stay refused."""
    original = LAB if zone == "lab" else ZONES[zone]
    who_ = caller(who) if zone == "lab" else zone_caller(zone, who)
    alone = map_zone(responses_for(original)).topology
    kept = map_zone(responses_for(original), keep_from=original).topology
    before, after_alone = _pair(who_, vm, "ping", dest, None, original, alone)
    _, after_kept = _pair(who_, vm, "ping", dest, None, original, kept)
    assert before.code is ReasonCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS
    assert after_alone.allowed
    assert outcome(after_kept) == outcome(before)


def test_a_guest_network_keeps_its_mtu_and_a_network_beyond_the_zone_is_not_served() -> None:
    """A guest network's MTU is served as privatemtu and read back; the lab's narrow link is outside the
    zone (kind external), which CloudStack does not list."""
    data = LAB.model_dump(mode="json")
    for net in data["networks"]:
        if net["id"] == "net-tier-db":
            net["mtu"] = 1450
    topology = Topology.model_validate(data)
    served = {item["id"]: item for item in responses_for(topology)["listNetworks"]}
    assert served["net-tier-db"]["privatemtu"] == 1450
    assert [key for key, item in served.items() if "privatemtu" in item] == ["net-tier-db"]
    assert "net-narrow" not in served
    mapped = map_zone(responses_for(topology)).topology
    assert {net.id: net.mtu for net in mapped.networks if net.mtu is not None} == {"net-tier-db": 1450}
