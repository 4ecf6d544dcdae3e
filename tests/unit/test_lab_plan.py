"""The namespace lab's plan (pure, no root): MTUs of the narrow link on every link of its network, in the
`ip -batch` lines that build the lab, and in the health check that compares what `ip -j` shows."""

from __future__ import annotations

from typing import Any

import pytest

from simvms.lab import Lab
from simvms.plan import LabPlan, build_plan, mtu_problems, switch_batch
from sysvmdiag.topology.model import DEFAULT_MTU, DEFAULT_TOPOLOGY_FILE, Topology, load_topology

LAB = load_topology(DEFAULT_TOPOLOGY_FILE)
PLAN = build_plan(LAB)
NARROW = 1400


def _interface(plan: LabPlan, host: str, name: str):
    (iface,) = [i for i in plan.hosts[host].interfaces if i.name == name]
    return iface


def test_the_narrow_network_has_its_mtu_and_the_others_none() -> None:
    assert LAB.network("net-narrow").mtu == NARROW
    assert PLAN.mtus == {"net-narrow": NARROW}
    assert PLAN.bridge_mtu("net-narrow") == NARROW
    assert PLAN.bridge_mtu("net-internet") == DEFAULT_MTU
    for host in PLAN.hosts.values():
        for iface in host.interfaces:
            on_narrow = iface.network == "net-narrow"
            assert iface.mtu == (NARROW if on_narrow else None), (host.name, iface.name)
            assert iface.link_mtu == (NARROW if on_narrow else DEFAULT_MTU)
    assert {(i.host, i.name) for h in PLAN.hosts.values() for i in h.interfaces if i.mtu} == {
        ("r2", "eth2"),
        ("narrow", "eth0"),
    }


def test_the_narrow_host_sits_behind_r2() -> None:
    narrow = PLAN.hosts["narrow"]
    assert narrow.namespace == "svd-narrow"
    (eth0,) = narrow.interfaces
    assert (str(eth0.ipv4), str(eth0.ipv6)) == ("198.51.100.130/26", "2001:db8:53::130/64")
    assert [(r.ip_destination, str(r.via)) for r in narrow.routes] == [
        ("default", "198.51.100.129"),
        ("default", "2001:db8:53::1"),
    ]
    eth2 = _interface(PLAN, "r2", "eth2")
    assert (str(eth2.ipv4), str(eth2.ipv6), eth2.bridge) == (
        "198.51.100.129/26",
        "2001:db8:53::1/64",
        "br-narrow",
    )
    assert "svd-narrow" in PLAN.namespaces


def test_the_switch_batch_gives_the_mtu_to_the_bridge_and_both_veth_ends() -> None:
    lines = switch_batch(PLAN)
    assert "link set br-narrow mtu 1400 up" in lines
    assert (
        lines.index("link set br-narrow mtu 1400 up")
        == lines.index("link add br-narrow type bridge stp_state 0 forward_delay 0 mcast_snooping 0") + 1
    )
    eth2 = _interface(PLAN, "r2", "eth2")
    assert (
        f"link add {eth2.peer} mtu 1400 type veth peer name eth2 mtu 1400 address {eth2.mac} netns svd-r2"
        in lines
    )
    eth0 = _interface(PLAN, "narrow", "eth0")
    assert (
        f"link add {eth0.peer} mtu 1400 type veth peer name eth0 mtu 1400 address {eth0.mac} netns svd-narrow"
        in lines
    )
    # every other link keeps Linux's default: its lines name no MTU
    assert "link set br-internet up" in lines
    web = _interface(PLAN, "web", "eth0")
    assert f"link add {web.peer} type veth peer name eth0 address {web.mac} netns svd-web" in lines
    assert [line for line in lines if " mtu " in line] == [
        "link set br-narrow mtu 1400 up",
        *(line for line in lines if line.startswith((f"link add {eth2.peer} ", f"link add {eth0.peer} "))),
    ]


def _link(name: str, mac: str | None, mtu: int, **extra: Any) -> dict[str, Any]:
    return {"ifname": name, "address": mac, "mtu": mtu, "operstate": "UP", "flags": ["UP"], **extra}


def healthy(plan: LabPlan) -> dict[str, dict[str, Any]]:
    """What `ip -j` shows of a lab built as planned (the namespaces' addr, route4 and route6)."""
    switch = [_link(bridge, None, plan.bridge_mtu(net)) for net, bridge in plan.bridges.items()]
    observed: dict[str, dict[str, Any]] = {}
    for host in plan.hosts.values():
        links = [_link("lo", None, 65536)]
        for iface in host.interfaces:
            addresses = [
                {"local": str(a.ip), "prefixlen": a.network.prefixlen} for a in (iface.ipv4, iface.ipv6) if a
            ]
            links.append(_link(iface.name, iface.mac, iface.link_mtu, addr_info=addresses))
            switch.append(_link(iface.peer, None, iface.link_mtu, master=iface.bridge))
        if host.name == plan.bastion:
            address = plan.host_link_bastion_address
            uplink = {"local": str(address.ip), "prefixlen": address.network.prefixlen}
            links.append(_link("uplink", None, DEFAULT_MTU, addr_info=[uplink]))
        routes = [
            {"dst": r.ip_destination, **({"gateway": str(r.via)} if r.via else {})} for r in host.routes
        ]
        observed[host.namespace] = {"addr": links, "route4": routes, "route6": []}
    observed[plan.switch_namespace] = {"addr": switch}
    return observed


def _links(observed: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {ns: {link["ifname"]: link for link in seen["addr"]} for ns, seen in observed.items()}


def _set_mtu(observed: dict[str, dict[str, Any]], namespace: str, ifname: str, mtu: int) -> None:
    (link,) = [link for link in observed[namespace]["addr"] if link["ifname"] == ifname]
    link["mtu"] = mtu


def test_a_lab_built_as_planned_has_no_mtu_problem() -> None:
    assert mtu_problems(PLAN, _links(healthy(PLAN))) == []


@pytest.mark.parametrize(
    ("namespace", "ifname", "mtu", "problem"),
    [
        ("svd-narrow", "eth0", 1500, "narrow: eth0 has MTU 1500, want 1400"),
        ("svd-r2", "eth2", 9000, "r2: eth2 has MTU 9000, want 1400"),
        ("svd-r2", "eth1", 1400, "r2: eth1 has MTU 1400, want 1500"),  # a default network too
        ("svd-sw", "r2-eth2", 1500, "switch port r2-eth2 has MTU 1500, want 1400"),
        ("svd-sw", "br-narrow", 1500, "bridge br-narrow has MTU 1500, want 1400"),
        ("svd-sw", "br-internet", 1400, "bridge br-internet has MTU 1400, want 1500"),
    ],
)
def test_a_link_with_another_mtu_is_a_problem(namespace: str, ifname: str, mtu: int, problem: str) -> None:
    observed = healthy(PLAN)
    _set_mtu(observed, namespace, ifname, mtu)
    assert mtu_problems(PLAN, _links(observed)) == [problem]


def test_missing_links_are_left_to_the_other_checks() -> None:
    observed = healthy(PLAN)
    del observed["svd-narrow"]
    observed["svd-sw"]["addr"] = [
        link for link in observed["svd-sw"]["addr"] if link["ifname"] != "br-narrow"
    ]
    assert mtu_problems(PLAN, _links(observed)) == []


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The lab's health check on made-up observations: nothing is read from the machine."""
    lab = Lab(DEFAULT_TOPOLOGY_FILE, state_dir="/nonexistent/simvms-unit")
    address = lab.plan.host_link_root_address
    root = {"addr_info": [{"local": str(address.ip), "prefixlen": address.network.prefixlen}]}
    monkeypatch.setattr(Lab, "_root_link", lambda self: root)
    return lab


def test_the_health_check_reports_an_interface_whose_mtu_differs(lab: Lab) -> None:
    observed = healthy(lab.plan)
    assert lab.problems(observed) == []
    _set_mtu(observed, "svd-narrow", "eth0", 1500)
    _set_mtu(observed, "svd-sw", "narrow-eth0", 1500)
    assert lab.problems(observed) == [
        "switch port narrow-eth0 has MTU 1500, want 1400",
        "narrow: eth0 has MTU 1500, want 1400",
    ]


def test_a_topology_without_mtus_plans_none() -> None:
    data = LAB.model_dump(mode="json")
    for net in data["networks"]:
        net.pop("mtu", None)
    plan = build_plan(Topology.model_validate(data))
    assert plan.mtus == {}
    assert not [line for line in switch_batch(plan) if " mtu " in line]
    assert mtu_problems(plan, _links(healthy(plan))) == []
