"""Carrying pinned host keys over a sync: from a key file, or kept at the same endpoint; never guessed."""

from __future__ import annotations

import copy

from sysvmdiag.cloudstack.hostkeys import pin_keys
from sysvmdiag.topology.model import Topology
from tests.unit.policy.topologies import LAB

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp0aW5uZWQta2V5LWZvci10aGUtdGVzdHMtb25seQ"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyLWtleS1mb3ItdGhlLXRlc3RzLW9ubHktYQ"


def _with_keys(topology: Topology, key: str | None) -> Topology:
    data = copy.deepcopy(topology.model_dump(mode="json"))
    for host in data["hosts"]:
        if host.get("ssh") and host["kind"] in {"vr", "vpcvr", "ssvm", "cpvm"}:
            host["ssh"]["host_key"] = key
    return Topology.model_validate(data)


def _moved(topology: Topology, name: str, address: str) -> Topology:
    data = copy.deepcopy(topology.model_dump(mode="json"))
    for host in data["hosts"]:
        if host["name"] == name:
            host["ssh"]["address"] = address
    return Topology.model_validate(data)


def test_the_stored_key_is_kept_at_the_same_endpoint() -> None:
    stored = _with_keys(LAB, KEY)
    pinned, report = pin_keys(_with_keys(LAB, None), stored, None)
    assert all(vm.ssh and vm.ssh.host_key == KEY for vm in pinned.system_vms())
    assert len(report.kept) == len(LAB.system_vms()) and report.unpinned == []


def test_a_vm_at_another_address_is_left_unpinned() -> None:
    stored = _with_keys(LAB, KEY)
    moved = _moved(_with_keys(LAB, None), "vr", "169.254.9.9")
    pinned, report = pin_keys(moved, stored, None)
    assert pinned.system_vm("vr").ssh.host_key is None
    assert report.unpinned == ["r-4-VM"]


def test_a_key_file_pins_by_uuid_name_or_lab_name_at_the_same_endpoint() -> None:
    unpinned = _with_keys(LAB, None)
    vr, cpvm, ssvm = (LAB.system_vm(n) for n in ("vr", "cpvm", "ssvm"))
    keys = {
        "hosts": {
            "vr": {"ssh": {"address": str(vr.ssh.address), "port": 3922, "host_key": KEY}},
            "x": {
                "uuid": cpvm.uuid,
                "ssh": {"address": str(cpvm.ssh.address), "port": 3922, "host_key": KEY},
            },
            "y": {"vm_name": "s-1-VM", "ssh": {"address": "169.254.99.1", "port": 3922, "host_key": OTHER}},
        },
        "bastion": {"address": "100.64.254.2", "port": 22, "host_key": OTHER},
    }
    pinned, report = pin_keys(unpinned, None, keys)
    assert pinned.system_vm("vr").ssh.host_key == KEY and pinned.system_vm("cpvm").ssh.host_key == KEY
    assert sorted(report.from_file) == ["r-4-VM", "v-2-VM"]
    # the file names another address for the SSVM: a conflict, not a pin
    assert pinned.system_vm("ssvm").ssh.host_key is None and "s-1-VM" in report.unpinned
    assert report.conflicts and report.conflicts[0].startswith("s-1-VM")
    assert ssvm.uuid and pinned.bastion().ssh.host_key == OTHER
