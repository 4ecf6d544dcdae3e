"""The committed docker-compose file is what the generator makes from the topology file."""

from __future__ import annotations

import ipaddress

import yaml

from simvms.compose import DEFAULT_OUTPUT, compose_document, render_compose
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology


def test_committed_compose_file_is_in_step_with_the_generator() -> None:
    assert DEFAULT_OUTPUT.read_text() == render_compose(), (
        "simvms/docker-compose.yml is stale: run `simvms compose` and commit the result"
    )


def test_compose_mirrors_the_topology() -> None:
    topology = load_topology(DEFAULT_TOPOLOGY_FILE)
    document = yaml.safe_load(DEFAULT_OUTPUT.read_text())
    assert document == compose_document(topology)
    assert set(document["services"]) == {h.name for h in topology.hosts}
    for host in topology.hosts:
        service = document["services"][host.name]
        assert service["cap_add"] == ["NET_ADMIN", "NET_RAW"]
        assert set(service["networks"]) == {i.network for i in host.interfaces}
        for iface in host.interfaces:
            attachment = service["networks"][iface.network]
            assert attachment["mac_address"] == iface.mac and attachment["interface_name"] == iface.name
            if iface.ipv4:
                assert attachment["ipv4_address"] == str(iface.ipv4.ip)
        script = service["command"][-1]
        for route in host.routes:
            assert f"via {route.via}" in script
        if host.is_system_vm:
            assert "simvm-sshd" in script and service["environment"]["SIMVM_SSH_PORT"] == "3922"
        forwarding = service["sysctls"]["net.ipv4.ip_forward"]
        assert forwarding == ("1" if host.kind in ("router", "vr", "vpcvr") else "0")
    for net_id, network in document["networks"].items():
        model = topology.network(net_id)
        assert network["internal"] is True
        subnets = [c["subnet"] for c in network["ipam"]["config"]]
        assert subnets == [str(c) for c in model.cidrs]
        for config in network["ipam"]["config"]:
            if "gateway" in config:
                gateway = ipaddress.ip_address(config["gateway"])
                assert gateway in ipaddress.ip_network(config["subnet"])
                used = {
                    i.ipv4.ip for h in topology.hosts for i in h.interfaces if i.network == net_id and i.ipv4
                }
                assert gateway not in used
