"""Holes found by an adversarial review of decide(): each case was allowed before its fix.

The table in test_decide.py also checks that a store slice decides like the whole zone; the cases
here that depend on networks the store's slice does not carry yet (other tenants' networks, the
lab's host link) are checked against the whole zone only.
"""

from __future__ import annotations

import pytest

from sysvmdiag.policy import ReasonCode, decide
from sysvmdiag.topology.layout import decision_slice
from tests.unit.policy.topologies import LAB, LAB_STATE, VARIANTS, caller

R = ReasonCode


@pytest.mark.parametrize(
    ("who", "vm", "test", "dest", "variant"),
    [
        # directed broadcasts and network addresses reached through a gateway or a route
        ("alice", "vpcvr", "ping", "10.50.0.255", "lab"),  # VPN remote LAN's broadcast, via the tunnel
        ("alice", "vpcvr", "traceroute", "10.50.0.0", "lab"),  # VPN remote LAN's network address
        ("alice", "vpcvr", "ping", "10.100.255.255", "lab"),  # private gateway static route's broadcast
        ("alice", "vpcvr", "ping", "10.2.255.255", "lab"),  # the VPC's super-CIDR broadcast, via public
        ("alice", "vpcvr", "ping", "10.2.1.0", "lab"),  # a connected tier's network address
        ("alice", "vr", "ping", "10.1.1.0", "lab"),
        ("alice", "vr", "arping", "10.1.1.0", "lab"),
        ("alice", "vr", "traceroute", "203.0.113.0", "lab"),
        ("bob", "sharedvr", "ping", "10.3.0.0", "exclusive"),
    ],
)
def test_broadcast_and_network_addresses_of_known_subnets_are_refused(
    who: str, vm: str, test: str, dest: str, variant: str
) -> None:
    topology = VARIANTS[variant]
    decision = decide(caller(who), vm, test, dest, None, topology)
    assert decision.code is R.DESTINATION_NOT_ALLOWED, decision.to_dict()
    assert dest in decision.message
    sliced = decide(caller(who), vm, test, dest, None, decision_slice(topology, vm, dest))
    assert sliced.to_dict() == decision.to_dict()


@pytest.mark.parametrize(
    ("who", "vm", "dest"),
    [
        ("alice", "vr", "10.2.1.255"),  # alice's VPC tier broadcast, from her isolated VR via public
        ("alice", "vpcvr", "10.1.1.255"),  # her isolated network's broadcast, from the VPC VR via public
        ("alice", "vpcvr", "10.100.0.255"),  # the datacenter LAN's broadcast behind the private gateway
        ("alice", "vr", "198.51.100.127"),  # the "internet" subnet's broadcast
        ("alice", "vr", "198.51.100.191"),  # the narrow link's broadcast
    ],
)
def test_broadcasts_of_networks_elsewhere_in_the_zone_are_refused(who: str, vm: str, dest: str) -> None:
    decision = decide(caller(who), vm, "ping", dest, None, LAB)
    assert decision.code is R.DESTINATION_NOT_ALLOWED, decision.to_dict()


def test_an_admin_may_still_probe_a_subnet_broadcast() -> None:
    assert decide(caller("admin"), "vpcvr", "ping", "10.50.0.255", None, LAB).allowed


@pytest.mark.parametrize("dest", ["100.64.254.1", "100.64.254.2", "100.64.254.3", "::ffff:100.64.254.1"])
@pytest.mark.parametrize("who", ["alice", "acme-admin"])
def test_the_hosts_link_to_the_lab_is_refused(who: str, dest: str) -> None:
    decision = decide(caller(who), "vr", "ping", dest, None, LAB)
    assert decision.code is R.VR_CONTROL_OR_MANAGEMENT_ADDRESS, decision.to_dict()


def test_the_bastions_ssh_address_is_refused_in_the_store_slice_too() -> None:
    for topology in (LAB_STATE, decision_slice(LAB_STATE, "vr", "100.64.254.2")):
        decision = decide(caller("alice"), "vr", "traceroute", "100.64.254.2", None, topology)
        assert decision.code is R.VR_CONTROL_OR_MANAGEMENT_ADDRESS, decision.to_dict()
        assert "bastion" in decision.detail and "bastion" not in decision.message


@pytest.mark.parametrize(
    ("who", "vm", "dest", "variant"),
    [
        ("alice", "vpcvr", "10.1.1.11", "lab"),  # alice's and dave's CIDR: ambiguous via public
        ("alice", "vpcvr", "2001:db8:9:1::11", "lab"),  # dave's guest
        ("alice", "vr", "10.4.0.1", "lab"),  # dave's VR on the shared network he owns
        ("bob", "sharedvr", "10.1.1.11", "exclusive"),  # alice's guest, from bob's VR via the shared net
        ("bob", "sharedvr", "10.2.1.11", "exclusive"),
        ("bob", "sharedvr", "10.250.1.1", "exclusive"),  # alice's private gateway network
        ("bob", "sharedvr", "10.2.200.1", "exclusive"),  # inside alice's VPC super-CIDR
        ("bob", "sharedvr", "10.100.0.10", "exclusive"),  # alice's private gateway route
        ("bob", "sharedvr", "10.50.0.10", "exclusive"),  # alice's VPN remote CIDR
        ("bob", "sharedvr", "2001:db8:1:1::11", "exclusive"),
        ("erin", "dedvr", "10.1.1.12", "lab"),
        ("dave", "davevr", "10.3.0.22", "lab"),  # the multi-tenant shared network: he is no holder
    ],
)
def test_other_accounts_spaces_are_refused_via_public_or_shared(
    who: str, vm: str, dest: str, variant: str
) -> None:
    topology = VARIANTS[variant]
    decision = decide(caller(who), vm, "ping", dest, None, topology)
    assert decision.code is R.DESTINATION_NOT_ALLOWED, decision.to_dict()
    assert "another tenant" in decision.message


@pytest.mark.parametrize(
    ("who", "vm", "dest", "egress"),
    [
        ("alice", "vr", "10.1.1.11", "eth0"),  # overlapping CIDRs: alice's own connected network wins
        ("dave", "davevr", "10.1.1.11", "eth0"),  # ... and dave's on his VR
        ("alice", "vpcvr", "10.2.1.11", "eth2"),
        ("alice", "vr", "10.2.1.11", "eth2"),  # her own VPC tier via public: hers, not another's
        ("alice", "vr", "198.51.100.80", "eth2"),
        ("dave", "davevr", "2001:db8:9:1::11", "eth0"),
        ("alice", "vpcvr", "198.51.100.70", "eth1"),
        ("erin", "dedvr", "10.5.0.1", "eth0"),
    ],
)
def test_own_networks_stay_allowed_next_to_another_tenant(who: str, vm: str, dest: str, egress: str) -> None:
    decision = decide(caller(who), vm, "ping", dest, None, LAB)
    assert decision.allowed, decision.to_dict()
    assert decision.egress_interface == egress


@pytest.mark.parametrize("params", [["-c", "5"], 5, b"-c 5", {"-c": 5}])
def test_params_that_are_not_a_string_are_an_invalid_option(params: object) -> None:
    decision = decide(caller("alice"), "vr", "ping", "10.1.1.11", params, LAB)  # type: ignore[arg-type]
    assert decision.code is R.INVALID_OPTION, decision.to_dict()


@pytest.mark.parametrize(
    ("who", "vm", "dest", "variant"),
    [
        ("bob", "sharedvr", "10.1.1.11", "exclusive"),
        ("alice", "vr", "10.4.0.22", "lab"),
        ("alice", "vr", "10.2.1.255", "lab"),
        ("alice", "vpcvr", "10.100.0.255", "lab"),
        ("alice", "vr", "100.64.254.1", "lab"),
    ],
)
def test_the_store_slice_applies_the_zone_wide_rules(who: str, vm: str, dest: str, variant: str) -> None:
    topology = VARIANTS[variant]
    sliced = decision_slice(topology, vm, dest)
    assert not decide(caller(who), vm, "ping", dest, None, sliced).allowed
