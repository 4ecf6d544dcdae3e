"""The pieces of the mapping on their own: roles, domain paths, pod ranges, zone networks, keep_from."""

from __future__ import annotations

import copy
import ipaddress

import pytest

from sysvmdiag.cloudstack.mapping import map_zone
from sysvmdiag.cloudstack.owners import normalise_path, read_role
from sysvmdiag.cloudstack.pods import management_ranges
from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.sysnets import SystemNetworks
from sysvmdiag.topology.model import NetworkKind, Role
from tests.unit.cloudstack.test_messy import BASE
from tests.unit.policy.topologies import LAB


@pytest.mark.parametrize(
    ("fields", "role", "noted"),
    [
        ({"accounttype": 1, "roletype": "Admin"}, Role.ADMIN, False),
        ({"accounttype": "2"}, Role.DOMAIN_ADMIN, False),
        ({"roletype": "DomainAdmin"}, Role.DOMAIN_ADMIN, False),
        ({"accounttype": 0, "roletype": "User"}, Role.USER, False),
        ({"accounttype": 1, "roletype": "User"}, Role.USER, True),  # they disagree: the lesser
        ({"accounttype": 2, "roletype": "Admin"}, Role.DOMAIN_ADMIN, True),
        ({"accounttype": 3, "roletype": "ResourceAdmin"}, Role.USER, True),  # no counterpart: least
        ({"accounttype": 5}, Role.USER, True),  # a project's account
        ({}, Role.USER, True),
    ],
)
def test_roles_are_read_with_least_privilege(fields: dict, role: Role, noted: bool) -> None:
    got, note = read_role(fields)
    assert got is role
    assert (note is not None) is noted


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("ROOT", "ROOT"),
        ("ROOT/acme/eng", "ROOT/acme/eng"),
        ("/acme/eng/", "ROOT/acme/eng"),
        ("/", "ROOT"),
        ("", None),
    ],
)
def test_domain_paths(path: str, normal: str | None) -> None:
    assert normalise_path(path or None) == normal


def test_pods_give_their_subnet_and_any_range_outside_it() -> None:
    report = MappingReport()
    pods = [
        {
            "id": "p1",
            "gateway": "172.31.200.1",
            "netmask": "255.255.255.0",
            "startip": ["172.31.200.40"],
            "endip": ["172.31.200.60"],
        },
        {"id": "p2", "ipranges": [{"startip": "172.31.202.0", "endip": "172.31.202.5"}]},
    ]
    assert [str(c) for c in management_ranges(pods, report)] == [
        "172.31.200.0/24",
        "172.31.202.0/30",
        "172.31.202.4/31",
    ]
    assert report.unmapped == []


def test_one_public_networkid_over_two_subnets_is_two_networks() -> None:
    nets = SystemNetworks()
    first = nets.attach(NetworkKind.PUBLIC, "pub", ipaddress.ip_interface("203.0.113.10/24"))
    second = nets.attach(NetworkKind.PUBLIC, "pub", ipaddress.ip_interface("198.51.100.10/25"))
    again = nets.attach(NetworkKind.PUBLIC, None, ipaddress.ip_interface("203.0.113.77/24"))
    assert (first, second, again) == ("pub", "pub-198.51.100.0-25", "pub")
    assert [str(n.cidr4) for n in nets.networks()] == ["203.0.113.0/24", "198.51.100.0/25"]


def test_keep_from_moves_the_bastion_onto_the_mapped_control_network() -> None:
    answers = copy.deepcopy(BASE)
    for router in answers["listRouters"]:
        for nic in router["nic"]:
            if nic["traffictype"] == "Control":
                nic["networkid"] = "cs-control-uuid"
    mapped = map_zone(answers, keep_from=LAB)
    assert mapped.topology.bastion().interfaces[0].network == "cs-control-uuid"
    assert mapped.topology.bastion().ssh == LAB.bastion().ssh
    assert mapped.report.unmapped == []


def test_the_report_counts_what_was_mapped() -> None:
    report = map_zone(BASE).report
    assert report.mapped["router"] == 6 and report.mapped["system_vm"] == 2
    assert report.mapped["account"] == len(LAB.accounts)
    assert report.to_dict()["unmapped_counts"] == {}
