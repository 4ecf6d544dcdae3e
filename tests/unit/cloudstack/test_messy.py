"""Messy answers: each shape maps without an exception, leaves out exactly what it spoils (with a reason
that says why), and maps the rest of the lab zone as before. Never a guessed owner."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from simvms.cloudstack_responses import responses_for
from sysvmdiag.cloudstack.mapping import MappingError, map_zone
from sysvmdiag.topology.model import NetworkKind, Role
from tests.unit.policy.topologies import LAB

Answers = dict[str, Any]
BASE = responses_for(LAB)
ALL_VMS = {vm.name for vm in LAB.system_vms()}


def item(answers: Answers, command: str, item_id: str) -> dict[str, Any]:
    return next(i for i in answers[command] if i.get("id") == item_id)


def vm(answers: Answers, lab_name: str) -> dict[str, Any]:
    command = "listRouters" if lab_name not in ("ssvm", "cpvm") else "listSystemVms"
    return item(answers, command, LAB.host(lab_name).uuid)


def nic(answers: Answers, lab_name: str, device: int) -> dict[str, Any]:
    return next(n for n in vm(answers, lab_name)["nic"] if n["deviceid"] == str(device))


def drop_nic(answers: Answers, lab_name: str, device: int) -> None:
    router = vm(answers, lab_name)
    router["nic"] = [n for n in router["nic"] if n["deviceid"] != str(device)]


def set_fields(command: str, item_id: str, **fields: Any) -> Callable[[Answers], None]:
    return lambda answers: item(answers, command, item_id).update(fields)


def without(command: str, item_id: str, *fields: str) -> Callable[[Answers], None]:
    def change(answers: Answers) -> None:
        for name in fields:
            item(answers, command, item_id).pop(name, None)

    return change


def no_ipv6(answers: Answers) -> None:
    for command in ("listNetworks", "listRouters"):
        for entry in answers[command]:
            for holder in (entry, *entry.get("nic", [])):
                for name in ("ip6cidr", "ip6gateway", "ip6address"):
                    holder.pop(name, None)


def cidr_as_netmask(answers: Answers) -> None:
    network = item(answers, "listNetworks", "net-guest-alice")
    network.pop("cidr")
    network |= {"gateway": "10.1.1.1", "netmask": "255.255.255.0"}


def duplicate_network(answers: Answers) -> None:
    answers["listNetworks"].append(
        {**item(answers, "listNetworks", "net-guest-alice"), "cidr": "10.9.9.0/24"}
    )


def foreign_account(answers: Answers) -> None:
    account = item(answers, "listAccounts", "acct-dave")
    account |= {"domainid": "no-such-domain"}
    account.pop("domainpath")


def unknown_permission(answers: Answers) -> None:
    answers["listNetworkPermissions"].append({"networkid": "net-guest-alice", "accountid": "acct-nobody"})


def granted_isolated(answers: Answers) -> None:
    answers["listNetworkPermissions"].append({"networkid": "net-guest-alice2", "accountid": "acct-bob"})


def other_zone(answers: Answers) -> None:
    answers["listZones"].append({"id": "zone-2", "name": "elsewhere"})
    answers["listNetworks"].append(
        {**item(answers, "listNetworks", "net-guest-alice"), "id": "n2", "zoneid": "zone-2"}
    )


def broken_domain(answers: Answers) -> None:
    root = item(
        answers, "listDomains", next(d["id"] for d in answers["listDomains"] if d["path"] == "ROOT/acme")
    )
    root.pop("path")
    root["parentdomainid"] = "missing-parent"
    for account in answers["listAccounts"]:
        account.pop("domainpath")


def paths_from_parents(answers: Answers) -> None:
    for domain in answers["listDomains"]:
        domain.pop("path")


class Messy(NamedTuple):
    name: str
    change: Callable[[Answers], None]
    unmapped: tuple[tuple[str, str], ...] = ()  # (kind, a piece of the reason)
    gone: frozenset[str] = frozenset()  # lab VMs left out
    check: Callable[[Any], bool] = lambda mapped: True


NO_VPC = frozenset({"vpcvr"})
IPV6_MTU_1000 = "mtu 1000 is outside 1280..9000, the range for a network with IPv6"
TABLE = [
    Messy("clean", lambda a: None),
    Messy(
        "no Control nic, no linklocalip",
        lambda a: (drop_nic(a, "vr", 1), vm(a, "vr").pop("linklocalip")),
        (("router", "no control (link-local) address"),),
        frozenset({"vr"}),
    ),
    Messy(
        "no Control nic, linklocalip only",
        lambda a: drop_nic(a, "vr", 1),
        check=lambda m: m.topology.system_vm("r-4-VM").ssh.address is not None,
    ),
    Messy(
        "stopped, without control address",
        lambda a: (drop_nic(a, "stoppedvr", 1), vm(a, "stoppedvr").pop("linklocalip")),
        check=lambda m: m.topology.system_vm("r-15-VM").ssh.address is None and m.report.notes,
    ),
    Messy(
        "netmask and gateway instead of cidr",
        cidr_as_netmask,
        check=lambda m: str(m.topology.network("net-guest-alice").cidr4) == "10.1.1.0/24",
    ),
    Messy("no IPv6 anywhere", no_ipv6, check=lambda m: all(n.cidr6 is None for n in m.topology.networks)),
    Messy(
        "count without a list",
        lambda a: a.update(listVPCs={"count": 1}),
        (("answer", "a count (1) but no 'vpc' list"), ("network", "its VPC vpc-alice-1 is not mapped")),
        NO_VPC,
    ),
    Messy(
        "an envelope left on",
        lambda a: a.update(listVPCs={"listvpcsresponse": {"count": 1, "vpc": a["listVPCs"]}}),
    ),
    Messy("an empty answer as {}", lambda a: a.update(listStaticRoutes={})),
    Messy(
        "a string where a list is expected",
        lambda a: a.update(listSystemVms="s-1-VM,v-2-VM"),
        (("answer", "listSystemVms answered a str"),),
        frozenset({"ssvm", "cpvm"}),
    ),
    Messy(
        "nic as a string",
        set_fields("listRouters", LAB.host("dedvr").uuid, nic="eth0"),
        (("router", "lists no nics"),),
        frozenset({"dedvr"}),
    ),
    Messy(
        "one nic as an object, not a list",
        lambda a: vm(a, "sharedvr").update(nic=nic(a, "sharedvr", 1)),
        check=lambda m: [i.name for i in m.topology.system_vm("r-9-VM").interfaces] == ["eth1"],
    ),
    Messy(
        "a non-object entry", lambda a: a["listNetworks"].append("net-x"), (("network", "is not an object"),)
    ),
    Messy(
        "unknown traffic type",
        lambda a: nic(a, "davevr", 3).update(traffictype="Vpn", networkid="somewhere"),
        (("router", "nic eth3 is on network somewhere (Vpn), which is not mapped"),),
        frozenset({"davevr"}),
    ),
    Messy(
        "nic without deviceid",
        lambda a: nic(a, "vr", 2).pop("deviceid"),
        (("router", "has no deviceid"),),
        frozenset({"vr"}),
    ),
    Messy(
        "nic address outside its network",
        lambda a: nic(a, "vr", 0).update(ipaddress="10.9.9.9"),
        (("router", "address 10.9.9.9 is outside network net-guest-alice"),),
        frozenset({"vr"}),
    ),
    Messy(
        "nic without netmask",
        lambda a: nic(a, "vr", 2).pop("netmask"),
        (("router", "has no readable netmask"),),
        frozenset({"vr"}),
    ),
    Messy("duplicate ids", duplicate_network, (("network", "duplicate network id"),)),
    Messy(
        "an account whose domain cannot be placed",
        foreign_account,
        (("account", "cannot be placed"), ("network", "not among the mapped accounts")),
        frozenset({"davevr"}),
        lambda m: all(a.name != "dave" for a in m.topology.accounts),
    ),
    Messy(
        "an owner that names no known account",
        set_fields("listNetworks", "net-guest-alice", account="mallory"),
        (("network", "names account 'mallory'"),),
        frozenset({"vr"}),
    ),
    Messy(
        "a project's network",
        lambda a: (
            item(a, "listNetworks", "net-guest-alice2").pop("account"),
            item(a, "listNetworks", "net-guest-alice2").update(projectid="p-1"),
        ),
        (("network", "owned by project p-1"),),
        frozenset({"stoppedvr"}),
    ),
    Messy(
        "an L2 network",
        lambda a: a["listNetworks"].append(
            {
                "id": "net-l2",
                "name": "l2",
                "type": "L2",
                **{
                    k: v
                    for k, v in item(a, "listNetworks", "net-guest-alice").items()
                    if k in ("account", "domainid")
                },
            }
        ),
        (("network", "L2 network without addresses"),),
    ),
    Messy(
        "a permission for an unknown account",
        unknown_permission,
        (("network", "a network permission names an account"),),
        frozenset({"vr"}),
    ),
    Messy(
        "an isolated network granted to another account",
        granted_isolated,
        check=lambda m: m.topology.network("net-guest-alice2").kind is NetworkKind.SHARED and m.report.notes,
    ),
    Messy(
        "a system network in listNetworks",
        lambda a: a["listNetworks"].append({"id": "pub", "traffictype": "Public", "cidr": "203.0.113.0/24"}),
        (("network", "a Public network"),),
    ),
    Messy(
        "a domain network of an unknown domain",
        set_fields("listNetworks", "net-shared", domainid="nowhere"),
        (("network", "shared with domain nowhere"),),
        frozenset({"sharedvr"}),
    ),
    Messy(
        "domain paths from parents",
        paths_from_parents,
        check=lambda m: m.topology.account("alice").domain == "ROOT/acme/engineering",
    ),
    Messy(
        "a domain whose parents do not reach ROOT",
        broken_domain,
        (("domain", "parent chain does not reach ROOT"), ("account", "cannot be placed")),
        check=lambda m: (
            {a.name for a in m.topology.accounts} == {a.name for a in LAB.accounts} - {"acme-admin"}
        ),
    ),
    Messy(
        "account types that disagree",
        set_fields("listAccounts", "acct-acme-admin", accounttype=1),
        check=lambda m: m.topology.account("acme-admin").role is Role.DOMAIN_ADMIN and m.report.notes,
    ),
    Messy(
        "an unknown role type",
        set_fields("listAccounts", "acct-acme-admin", accounttype=3, roletype="ResourceAdmin"),
        check=lambda m: m.topology.account("acme-admin").role is Role.USER,
    ),
    Messy(
        "an unknown system VM type",
        set_fields("listSystemVms", LAB.host("cpvm").uuid, systemvmtype="domainrouter"),
        (("system_vm", "is neither secondarystoragevm nor consoleproxy"),),
        frozenset({"cpvm"}),
    ),
    Messy(
        "a system VM without link-local address",
        without("listSystemVms", LAB.host("ssvm").uuid, "linklocalip"),
        (("system_vm", "cannot be reached"),),
        frozenset({"ssvm"}),
    ),
    Messy(
        "a static route through an unknown gateway",
        lambda a: a["listStaticRoutes"][0].update(gatewayid="gw-x"),
        (("static_route", "its private gateway gw-x is not mapped"),),
        check=lambda m: m.topology.network("net-privgw").routes4 == (),
    ),
    Messy(
        "a VPN connection no router claims",
        lambda a: a["listVpnConnections"][0].update(publicip="198.51.100.99"),
        (("vpn_connection", "no mapped VPC router has its VPN gateway address 198.51.100.99"),),
    ),
    Messy(
        "a pod range that cannot be read",
        lambda a: a["listPods"][0].update(ipranges=[{"startip": "172.31.200.9", "endip": "fe80::1"}]),
        (("pod", "IP range 172.31.200.9-fe80::1 is unreadable"),),
    ),
    Messy(
        "a pod with ranges only",
        lambda a: a["listPods"][0].update(
            gateway=None, netmask=None, startip="172.31.200.0", endip=["172.31.200.255"], ipranges=[]
        ),
        check=lambda m: [str(c) for c in m.topology.zone.management_ranges] == ["172.31.200.0/24"],
    ),
    Messy(
        "another zone's items", other_zone, check=lambda m: "n2" not in {n.id for n in m.topology.networks}
    ),
    Messy(
        "a project's VPC",
        lambda a: (a["listVPCs"][0].pop("account"), a["listVPCs"][0].update(projectid="p-2")),
        (("vpc", "owned by project p-2"), ("private_gateway", "its VPC vpc-alice-1 is not mapped")),
        NO_VPC,
    ),
    Messy(
        "a static route as CloudStack 4.21 lists it",
        lambda a: a["listStaticRoutes"][0].update(vpcgatewayid=a["listStaticRoutes"][0].pop("gatewayid")),
        check=lambda m: [str(c) for c in m.topology.network("net-privgw").routes4] == ["10.100.0.0/16"],
    ),
    Messy(
        "a static route by next hop",
        lambda a: a["listStaticRoutes"][0].update(gatewayid=None, nexthop="10.2.1.254", cidr="10.120.0.0/16"),
        check=lambda m: any(r.to == "10.120.0.0/16" for r in m.topology.system_vm("r-7-VM").routes),
    ),
    Messy(
        "a VPN connection without its own cidrlist and gateway",
        lambda a: (a["listVpnConnections"][0].pop("cidrlist"), a["listVpnConnections"][0].pop("gateway")),
        check=lambda m: [str(c) for c in m.topology.network("net-vpngw").remote_cidrs] == ["10.50.0.0/24"],
    ),
    Messy(
        "a public nic whose IPv6 prefix disagrees with the public network's",
        lambda a: nic(a, "dedvr", 2).update(ip6address="2001:db8:999::70", ip6cidr="2001:db8:999::/64"),
        (("router", "address 2001:db8:999::70 is outside network net-public"),),
        frozenset({"dedvr"}),
    ),
    Messy(
        "a router owned by an account that is not listed",
        lambda a: vm(a, "vr").update(account="ghost", domainid="nowhere"),
        check=lambda m: m.topology.system_vm("r-4-VM").owner is None and m.report.notes,
    ),
    Messy(
        "a guest network's MTU (privatemtu, since CloudStack 4.18)",
        set_fields("listNetworks", "net-guest-alice", privatemtu=1450),
        check=lambda m: m.topology.network("net-guest-alice").mtu == 1450 and not m.report.notes,
    ),
    Messy(
        "CloudStack's default privatemtu 1500: the topology's unset MTU",
        set_fields("listNetworks", "net-guest-alice", privatemtu=1500),
        check=lambda m: (
            m.topology.network("net-guest-alice") == LAB.network("net-guest-alice") and not m.report.notes
        ),
    ),
    Messy(
        "a privatemtu below IPv6's 1280 on a network with IPv6: noted, the network mapped without it",
        set_fields("listNetworks", "net-guest-alice", privatemtu=1000),
        check=lambda m: (
            m.topology.network("net-guest-alice").mtu is None
            and m.report.notes == [f"network net-guest-alice: privatemtu 1000 left out ({IPV6_MTU_1000})"]
        ),
    ),
    Messy(
        "a privatemtu that is no integer",
        set_fields("listNetworks", "net-guest-alice2", privatemtu="1400.5"),
        check=lambda m: (
            m.topology.network("net-guest-alice2").mtu is None
            and m.report.notes == ["network net-guest-alice2: privatemtu 1400.5 left out (not an integer)"]
        ),
    ),
]


@pytest.mark.parametrize("messy", TABLE, ids=[m.name for m in TABLE])
def test_messy_answers_map_what_they_can(messy: Messy) -> None:
    answers = copy.deepcopy(BASE)
    messy.change(answers)
    mapped = map_zone(answers, zone=LAB.zone.name)
    reasons = [(entry.kind, entry.reason) for entry in mapped.report.unmapped]
    for kind, piece in messy.unmapped:
        assert any(k == kind and piece in reason for k, reason in reasons), reasons
    if not messy.unmapped:
        assert reasons == []
    assert {LAB.system_vm(h.uuid).name for h in mapped.topology.system_vms()} == ALL_VMS - messy.gone, reasons
    assert messy.check(mapped)


def test_several_zones_need_a_choice_and_the_error_names_them() -> None:
    answers = copy.deepcopy(BASE)
    answers["listZones"].append({"id": "zone-2", "name": "elsewhere"})
    with pytest.raises(MappingError, match=r"several zones.*lab-zone-1.*elsewhere \(zone-2\)"):
        map_zone(answers)
    with pytest.raises(MappingError, match="no zone is named 'nowhere'"):
        map_zone(answers, zone="nowhere")
    assert map_zone(answers, zone="zone-2").topology.zone.name == "elsewhere"
    with pytest.raises(MappingError, match="listZones answered no zone"):
        map_zone({})


def test_nothing_is_ever_owned_by_a_guess() -> None:
    """Whatever shape breaks, every tenant network that is mapped names an owner or a domain it had."""
    for messy in TABLE:
        answers = copy.deepcopy(BASE)
        messy.change(answers)
        for net in map_zone(answers, zone=LAB.zone.name).topology.networks:
            if net.kind in (NetworkKind.ISOLATED, NetworkKind.VPC_TIER, NetworkKind.PRIVATE_GATEWAY):
                assert net.owner == LAB.network(net.id).owner, (messy.name, net.id)
