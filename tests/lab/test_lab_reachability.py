"""The lab's networks carry real traffic: system VMs reach what the topology says they reach."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from simvms.lab import Lab

pytestmark = pytest.mark.lab


def run_in(lab: Lab, host: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return lab.exec(host, list(argv), capture_output=True, text=True, timeout=timeout)


def assert_ping_ok(proc: subprocess.CompletedProcess[str], count: int) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{count} packets transmitted, {count} received, 0% packet loss" in proc.stdout, proc.stdout


def test_vr_pings_web_server_without_loss(lab: Lab) -> None:
    assert_ping_ok(run_in(lab, "vr", "ping", "-n", "-c", "3", "-i", "0.2", "198.51.100.80"), 3)


def test_vr_traceroute_goes_through_both_routers(lab: Lab) -> None:
    proc = run_in(lab, "vr", "traceroute", "-n", "-w", "2", "198.51.100.80")
    assert proc.returncode == 0, proc.stderr
    hops = {}
    for line in proc.stdout.splitlines()[1:]:
        match = re.match(r"\s*(\d+)\s+(\S+)", line)
        if match:
            hops[int(match.group(1))] = match.group(2)
    assert hops == {1: "203.0.113.1", 2: "198.51.100.2", 3: "198.51.100.80"}, proc.stdout
    assert "*" not in proc.stdout


def test_vr_arping_public_gateway_returns_r1_mac(lab: Lab, lab_status: dict[str, Any]) -> None:
    r1_eth0 = next(i for i in lab_status["hosts"]["r1"]["interfaces"] if i["name"] == "eth0")
    # Debian's arping (Thomas Habets) names the interface with -i.
    proc = run_in(lab, "vr", "arping", "-c", "2", "-i", "eth2", "203.0.113.1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    macs = set(re.findall(r"from ([0-9a-f:]{17}) \(203\.0\.113\.1\)", proc.stdout))
    assert macs == {r1_eth0["mac"]}, proc.stdout
    assert r1_eth0["mac"] == lab.topology.host("r1").interface("eth0").mac


def test_vr_pings_web_server_over_ipv6(lab: Lab) -> None:
    assert_ping_ok(run_in(lab, "vr", "ping", "-n", "-c", "2", "-i", "0.2", "2001:db8:52::80"), 2)


@pytest.mark.parametrize(
    ("destination", "fits", "too_big"),
    [
        ("198.51.100.130", "1372", "1373"),  # 1400 - 20 (IPv4) - 8 (ICMP)
        ("2001:db8:53::130", "1352", "1353"),  # 1400 - 40 (IPv6) - 8 (ICMPv6)
    ],
)
def test_the_narrow_link_drops_the_path_mtu_to_1400(
    lab: Lab, destination: str, fits: str, too_big: str
) -> None:
    """The VR's links are 1500 bytes, r2's link to `narrow` 1400: a 1400-byte packet that may not be
    fragmented passes, one byte more does not. The first such packet is refused by r2 (ICMP
    "Frag needed" / "Packet too big"); once the VR has learnt the path MTU, by its own kernel."""
    assert_ping_ok(
        run_in(lab, "vr", "ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", fits, destination), 1
    )
    proc = run_in(lab, "vr", "ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", too_big, destination)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert re.search(r"mtu ?[=:] ?1400\b", output), output
    # the rest of the way is 1500 bytes: the web server takes a full-size packet
    assert_ping_ok(
        run_in(lab, "vr", "ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "198.51.100.80"), 1
    )


@pytest.mark.parametrize(
    ("host", "destination", "egress"),
    [
        ("vpcvr", "10.100.0.10", "eth4"),  # datacenter host behind the private gateway
        ("vpcvr", "10.50.0.10", "vpn0"),  # VPN peer LAN through the site-to-site link
        ("ssvm", "172.31.201.10", "eth3"),  # NFS server on the storage network
        ("sharedvr", "198.51.100.80", "eth0"),  # internet through the shared network's gateway
    ],
)
def test_system_vm_reaches_destination_through_expected_interface(
    lab: Lab, host: str, destination: str, egress: str
) -> None:
    route = run_in(lab, host, "ip", "-j", "route", "get", destination)
    assert route.returncode == 0, route.stderr
    assert f'"dev":"{egress}"' in route.stdout, route.stdout
    assert_ping_ok(run_in(lab, host, "ping", "-n", "-c", "2", "-i", "0.2", destination), 2)


def test_guest_reaches_its_vr_but_not_another_tenants_network(lab: Lab) -> None:
    assert_ping_ok(run_in(lab, "guest1a", "ping", "-n", "-c", "1", "10.1.1.1"), 1)
    proc = run_in(lab, "guest1a", "ping", "-n", "-c", "1", "-W", "1", "10.2.1.11")
    assert proc.returncode != 0
