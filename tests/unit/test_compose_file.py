"""The committed docker-compose file is what the generator makes from the topology file, and the
generator's plan holds for any topology (two networks with the same CIDR included). No Docker here."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import yaml

from simvms.compose import (
    DEFAULT_OUTPUT,
    MTU_OPTION,
    PLACEHOLDER_POOL,
    UPLINK_IFNAME,
    build_compose_plan,
    compose_document,
    render_compose,
)
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology

OVERLAP_TOPOLOGY = Path(__file__).resolve().parents[1] / "compose" / "overlap.yaml"


def test_committed_compose_file_is_in_step_with_the_generator() -> None:
    assert DEFAULT_OUTPUT.read_text() == render_compose(), (
        "simvms/docker-compose.yml is stale: run `simvms compose` and commit the result"
    )


def _check_document(topology: Topology, document: dict) -> None:
    """The compose file mirrors the topology, with lab addresses only in the entrypoint's settings."""
    plan = build_compose_plan(topology)
    assert set(document["services"]) == {h.name for h in topology.hosts}
    subnets = [ipaddress.ip_network(n["ipam"]["config"][0]["subnet"]) for n in document["networks"].values()]
    assert len(subnets) == len(set(subnets)) and all(s.subnet_of(PLACEHOLDER_POOL) for s in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    lab_cidrs = [c for net in topology.networks for c in net.cidrs if c.version == 4]
    assert not any(s.overlaps(c) for s in subnets for c in lab_cidrs)
    for key, network in document["networks"].items():
        options = network["driver_opts"]
        assert options["com.docker.network.bridge.enable_ip_masquerade"] == "false"
        if key != UPLINK_IFNAME:  # the host gets an address only on the bastion's uplink
            assert options["com.docker.network.bridge.inhibit_ipv4"] == "true"
        mtu = topology.network(key).mtu if key != UPLINK_IFNAME else None
        assert options.get(MTU_OPTION) == (str(mtu) if mtu is not None else None), key
    for host in topology.hosts:
        service = document["services"][host.name]
        config = json.loads(service["environment"]["SIMVM_CONFIG"])
        assert service["cap_add"] == ["NET_ADMIN", "NET_RAW"] and service["init"] is True
        expected_networks = {i.network for i in host.interfaces}
        if host.kind == "bastion":
            expected_networks.add(UPLINK_IFNAME)
            assert service["ports"][0].startswith("127.0.0.1:")
        else:
            assert "ports" not in service
        assert set(service["networks"]) == expected_networks
        by_name = {i["name"]: i for i in config["interfaces"]}
        for iface in host.interfaces:
            entry = by_name[iface.name]
            assert entry["mac"] == iface.mac
            assert entry["ipv4"] == (iface.ipv4.with_prefixlen if iface.ipv4 else None)
            assert entry["ipv6"] == (iface.ipv6.with_prefixlen if iface.ipv6 else None)
            assert service["networks"][iface.network]["ipv4_address"] == entry["placeholder"]
        assert [r.get("via") for r in config["routes"]] == [
            str(r.via) if r.via else None for r in host.routes
        ]
        if host.is_system_vm:
            assert config["sshd"]["port"] == 3922 and config["sshd"]["address"] == str(host.ssh.address)
        forwarding = service["sysctls"]["net.ipv4.ip_forward"]
        assert forwarding == ("1" if host.kind in ("router", "vr", "vpcvr") else "0")
        assert plan.hosts[host.name].container == service["container_name"]
    placeholders = [
        (key, value["ipv4_address"])
        for service in document["services"].values()
        for key, value in service["networks"].items()
    ]
    assert len(placeholders) == len(set(placeholders))


def test_compose_mirrors_the_topology() -> None:
    topology = load_topology(DEFAULT_TOPOLOGY_FILE)
    document = yaml.safe_load(DEFAULT_OUTPUT.read_text())
    assert document == compose_document(topology)
    _check_document(topology, document)


def test_a_network_with_an_mtu_gives_it_to_docker() -> None:
    """The narrow link: Docker's bridge driver puts the MTU on the bridge and on both veth ends."""
    document = yaml.safe_load(DEFAULT_OUTPUT.read_text())
    with_mtu = {
        key: n["driver_opts"][MTU_OPTION]
        for key, n in document["networks"].items()
        if MTU_OPTION in n["driver_opts"]
    }
    assert with_mtu == {"net-narrow": "1400"}
    assert build_compose_plan(load_topology(DEFAULT_TOPOLOGY_FILE)).networks["net-narrow"].mtu == 1400
    assert set(document["services"]["narrow"]["networks"]) == {"net-narrow"}
    assert "net-narrow" in document["services"]["r2"]["networks"]


def test_two_networks_with_the_same_cidr_get_their_own_bridges() -> None:
    topology = load_topology(OVERLAP_TOPOLOGY)
    guests = [n for n in topology.networks if str(n.cidr4) == "10.1.1.0/24"]
    assert len(guests) == 2
    document = compose_document(topology)
    _check_document(topology, document)
    plan = build_compose_plan(topology)
    bridges = {plan.networks[n.id].bridge for n in guests}
    assert len(bridges) == 2


def test_bastion_permits_forwarding_only_to_the_vms_ssh_ports() -> None:
    topology = load_topology(DEFAULT_TOPOLOGY_FILE)
    sshd = build_compose_plan(topology).hosts[topology.bastion().name].sshd
    assert sshd is not None and sshd["role"] == "bastion"
    assert sshd["permit_open"] == [
        f"{vm.ssh.address}:{vm.ssh.port}" for vm in topology.system_vms() if vm.ssh
    ]


def test_local_up_lab_compose_takes_its_own_port_and_state_folder() -> None:
    """`sysvmdiag local up --lab compose` must not collide with the namespace lab's stack (port 3000)."""
    from sysvmdiag.cli import build_parser
    from sysvmdiag.cli.local import _stack
    from sysvmdiag.local.stack import COMPOSE_PORT, COMPOSE_STATE_DIR, DEFAULT_PORT, DEFAULT_STATE_DIR

    compose = _stack(build_parser("local").parse_args(["local", "up", "--lab", "compose"]))
    namespace = _stack(build_parser("local").parse_args(["local", "up"]))
    assert (compose.lab_kind, compose.port, compose.state_dir) == ("compose", COMPOSE_PORT, COMPOSE_STATE_DIR)
    assert (namespace.lab_kind, namespace.port, namespace.state_dir) == (
        "namespace",
        DEFAULT_PORT,
        DEFAULT_STATE_DIR,
    )
    assert COMPOSE_PORT != DEFAULT_PORT and COMPOSE_STATE_DIR != DEFAULT_STATE_DIR
