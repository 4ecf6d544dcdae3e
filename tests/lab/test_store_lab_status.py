"""Loading with the running lab's status: pinned keys and the bastion endpoint as the lab has them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Topology, load_topology
from sysvmdiag.topology.store import TopologyStore


@pytest.mark.lab
def test_load_pins_the_running_labs_host_keys(store: TopologyStore, lab_status: dict[str, Any]) -> None:
    topology: Topology = load_topology(lab_status["topology"])
    load_topology_into_tables(topology, store, lab_status)
    for vm in topology.system_vms():
        context = store.decision_context(vm.uuid or "", "198.51.100.80")
        assert context is not None
        stored = context.system_vm(vm.uuid or "").ssh
        lab_ssh = lab_status["hosts"][vm.name]["ssh"]
        assert stored is not None
        assert stored.host_key == lab_ssh["host_key"] and stored.host_key.startswith("ssh-")
        assert stored.address == ipaddress.ip_address(lab_ssh["address"])
        assert (stored.port, stored.user) == (lab_ssh["port"], lab_ssh["user"])
    bastion = store.bastion().ssh
    lab_bastion = lab_status["bastion"]
    assert bastion is not None
    assert bastion.address == ipaddress.ip_address(lab_bastion["address"])
    assert (bastion.port, bastion.user, bastion.host_key) == (
        lab_bastion["port"],
        lab_bastion["user"],
        lab_bastion["host_key"],
    )
