"""No lab namespace can reach anything outside the lab. Checked on routes and addresses only:
these tests never send a packet toward the host's real network.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

import pytest

from simvms.lab import Lab

pytestmark = pytest.mark.lab

IPv4Or6Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LINK_LOCAL_V6 = ipaddress.IPv6Network("fe80::/64")
HOST_REAL_NETWORKS = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("fd00::/64")]


def ip_json(*args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout) if proc.stdout.strip() else []


def inside(address: str, networks: list[IPv4Or6Network]) -> bool:
    net = ipaddress.ip_network(address, strict=False)
    return any(net.version == n.version and net.subnet_of(n) for n in networks)  # type: ignore[arg-type]


def lab_namespaces(lab: Lab) -> list[str]:
    return lab.plan.namespaces


def routed_lab_ranges(lab: Lab) -> list[IPv4Or6Network]:
    """Network CIDRs plus the ranges the topology declares as reached through them (private gateway
    static routes, VPN remote CIDRs): every one ends at a lab router with no way further out."""
    declared = [r for net in lab.topology.networks for r in (*net.routes4, *net.remote_cidrs)]
    return list(lab.plan.lab_networks) + declared


def test_every_route_stays_inside_the_lab(lab: Lab, lab_status: dict[str, Any]) -> None:
    lab_networks = list(lab.plan.lab_networks)
    host_link = ipaddress.ip_interface(lab_status["host_link"]["address"]).network
    bastion_ns = lab_status["bastion"]["namespace"]
    for ns in lab_namespaces(lab):
        allowed = routed_lab_ranges(lab) + [LINK_LOCAL_V6] + ([host_link] if ns == bastion_ns else [])
        for family in ("-4", "-6"):
            for route in ip_json("-n", ns, family, "route", "show", "table", "all"):
                if route.get("type") in ("local", "broadcast", "multicast", "anycast"):
                    continue  # the namespace's own addresses, never forwarded anywhere
                dst = route["dst"]
                gateway = route.get("gateway")
                if dst == "default":
                    assert ns != bastion_ns, f"bastion has a default route {route}"
                    assert gateway is not None, f"{ns}: default route without gateway {route}"
                else:
                    assert inside(dst, allowed), f"{ns}: route to {dst} leaves the lab"
                if gateway is not None:
                    assert inside(gateway, lab_networks), f"{ns}: gateway {gateway} outside the lab"


def test_only_the_bastion_touches_the_host_link(lab: Lab, lab_status: dict[str, Any]) -> None:
    host_link = ipaddress.ip_interface(lab_status["host_link"]["address"]).network
    lab_networks = list(lab.plan.lab_networks)
    bastion_ns = lab_status["bastion"]["namespace"]
    for ns in lab_namespaces(lab):
        for link in ip_json("-n", ns, "addr", "show"):
            for addr in link.get("addr_info", []):
                local = ipaddress.ip_address(addr["local"])
                assert not any(local in n for n in HOST_REAL_NETWORKS if n.version == local.version)
                if local.is_loopback or (local.version == 6 and local in LINK_LOCAL_V6):
                    continue
                if ns == bastion_ns and link["ifname"] == "uplink":
                    assert local in host_link
                    continue
                assert local not in host_link, f"{ns}/{link['ifname']} is on the host link"
                assert inside(addr["local"], lab_networks), f"{ns}/{link['ifname']} has {local}"
    switch_links = ip_json("-n", lab.plan.switch_namespace, "addr", "show")
    switch_addresses = [
        a
        for link in switch_links
        for a in link.get("addr_info", [])
        if not ipaddress.ip_address(a["local"]).is_loopback
    ]
    assert switch_addresses == [], "the switch namespace must not have addresses"


def test_bastion_does_not_forward(lab_status: dict[str, Any]) -> None:
    ns = lab_status["bastion"]["namespace"]
    for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
        value = subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert value == "0", f"{key}={value} on the bastion"


def test_routers_forward_and_do_not_rate_limit_icmp(lab: Lab) -> None:
    for host in ("r1", "r2", "vr", "vpcvr"):
        ns = lab.namespace(host)
        values = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-n",
                "net.ipv4.ip_forward",
                "net.ipv6.conf.all.forwarding",
                "net.ipv4.icmp_ratelimit",
                "net.ipv6.icmp.ratelimit",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert values == ["1", "1", "0", "0"], f"{host}: {values}"


def test_root_namespace_has_no_route_into_the_lab(lab: Lab, lab_status: dict[str, Any]) -> None:
    """The host sees the lab only through the host link's /30: nothing routes into lab networks."""
    lab_networks = list(lab.plan.lab_networks)
    for family in ("-4", "-6"):
        for route in ip_json(family, "route", "show"):
            if route["dst"] == "default":
                continue
            net = ipaddress.ip_network(route["dst"], strict=False)
            assert not any(net.version == n.version and net.overlaps(n) for n in lab_networks), route
    link = ip_json("addr", "show", "dev", lab_status["host_link"]["interface"])[0]
    assert [a["local"] for a in link["addr_info"]] == [lab_status["host_link"]["address"].split("/")[0]]
