"""The compose lab is the topology's zone: names, MACs, addresses and routes as the file says, and no
path to the host but the bastion's one published port on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import requests

from simvms import engine
from simvms.compose import UPLINK_IFNAME
from sysvmdiag.topology.model import load_topology
from tests.compose.conftest import ip_json


def test_every_interface_has_the_topologys_name_mac_and_addresses(compose_lab, compose_status):
    topology = load_topology(compose_status["topology"])
    for host in topology.hosts:
        links = {link["ifname"]: link for link in ip_json(compose_lab, host.name, "addr", "show")}
        for iface in host.interfaces:
            link = links.get(iface.name)
            assert link is not None, f"{host.name} has no {iface.name}: {sorted(links)}"
            assert link["address"] == iface.mac, f"{host.name}/{iface.name}"
            have = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])}
            for want in (iface.ipv4, iface.ipv6):
                if want is not None:
                    assert want.with_prefixlen in have, f"{host.name}/{iface.name} lacks {want}"
        extra = set(links) - {i.name for i in host.interfaces} - {"lo"}
        assert extra == ({UPLINK_IFNAME} if host.kind == "bastion" else set()), f"{host.name}: {extra}"


def test_routes_are_the_topologys_and_nothing_leads_to_the_host(compose_lab, compose_status):
    """Every route is a connected lab subnet or a topology route; only the bastion has the uplink
    (and no default route); so no container can send a packet toward the host's networks."""
    topology = load_topology(compose_status["topology"])
    lab_subnets = {str(c) for net in topology.networks for c in net.cidrs}
    for host in topology.hosts:
        wanted = {("default" if r.destination.prefixlen == 0 else str(r.destination)) for r in host.routes}
        routes = ip_json(compose_lab, host.name, "-4", "route", "show") + ip_json(
            compose_lab, host.name, "-6", "route", "show"
        )
        for route in routes:
            dst = route["dst"]
            if dst in wanted or dst in lab_subnets or dst.startswith(("fe80::", "ff00::", "multicast")):
                continue
            assert host.kind == "bastion" and route.get("dev") == UPLINK_IFNAME and "gateway" not in route, (
                f"{host.name} has a route outside the topology: {route}"
            )
        assert {r["dst"] for r in routes} >= wanted, f"{host.name} misses a topology route"


def test_the_host_has_no_address_on_lab_bridges_and_the_port_is_loopback_only(compose_lab, compose_status):
    uplink = compose_lab.plan.networks[UPLINK_IFNAME]
    for network in compose_lab.plan.networks.values():
        shown = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", network.bridge], capture_output=True, text=True, check=True
        )
        (link,) = json.loads(shown.stdout)
        addresses = [a["local"] for a in link.get("addr_info", [])]
        assert addresses == ([str(uplink.gateway)] if network is uplink else []), (
            f"{network.bridge}: {addresses}"
        )
    for host in compose_lab.plan.hosts.values():
        bindings = json.loads(engine.docker("inspect", host.container).stdout)[0]["HostConfig"][
            "PortBindings"
        ]
        if host.name == compose_lab.plan.bastion:
            port = str(compose_status["bastion"]["port"])
            assert bindings == {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}]}
        else:
            assert not bindings, f"{host.name} publishes a port"


def test_isolated_guests_are_unreachable_from_the_host_side_of_the_lab(compose_lab):
    """A lab address routed nowhere but inside: the VR reaches its guest, the bastion (which does not
    forward and has no route to guests) does not."""
    assert (
        compose_lab.exec("vr", ["ping", "-c", "1", "-W", "2", "10.1.1.11"], capture_output=True).returncode
        == 0
    )
    assert (
        compose_lab.exec(
            "bastion", ["ping", "-c", "1", "-W", "1", "10.1.1.11"], capture_output=True
        ).returncode
        != 0
    )


def test_vm_side_program_logs_each_run_in_the_state_folder(compose_lab, compose_stack, compose_keys):
    log = compose_lab.run_log("cpvm")
    before = len(log.read_text().splitlines()) if log.exists() else 0
    cpvm = next(vm["id"] for vm in compose_stack["systemvms"] if vm["host"] == "cpvm")
    response = requests.post(
        f"{compose_stack['apiUrl']}/diagnostics",
        json={"targetId": cpvm, "type": "ping", "ipAddress": "203.0.113.1", "params": "-c 1"},
        timeout=60,
        headers={"Authorization": f"Bearer {compose_keys['admin']}"},
    )
    assert response.status_code == 200, response.text
    entries = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert any(e["accepted"] and e["host"] == "cpvm" and "203.0.113.1" in e["command"] for e in entries)


def test_placeholder_subnets_stay_out_of_the_lab_addresses(compose_lab, compose_status):
    topology = load_topology(compose_status["topology"])
    for network in compose_lab.plan.networks.values():
        for net in topology.networks:
            for cidr in net.cidrs:
                assert not (cidr.version == 4 and network.subnet.overlaps(ipaddress.IPv4Network(cidr)))


def test_up_on_a_healthy_lab_changes_nothing(compose_lab):
    def container_ids() -> list[str]:
        names = [h.container for h in compose_lab.plan.hosts.values()]
        return engine.docker("inspect", "--format", "{{.Id}}", *names).stdout.split()

    before = container_ids()
    status = compose_lab.up(progress=lambda _line: None)
    assert status["up"] and container_ids() == before


def test_openssh_reaches_a_vm_through_the_bastion_with_pinned_keys(compose_status):
    """The real OpenSSH client, with the lab's ssh_config (StrictHostKeyChecking yes): the VM runs an
    allowed tool through its forced command and refuses anything else."""
    config = compose_status["ssh_config"]
    ok = subprocess.run(
        ["ssh", "-F", config, "vr", "ping", "-c", "1", "203.0.113.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = subprocess.run(["ssh", "-F", config, "vr", "id"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "uid=" not in refused.stdout
