"""Which VMs pin-host-keys scans, and the zone with confirmed keys set (pure, on the lab's zone)."""

from __future__ import annotations

import pytest

from sysvmdiag.topology.hostkeys import Pin, choose_vms, is_pinned, with_pins
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPINNEDPINNEDPINNEDPINNEDPINNEDPINNEDPINNED"
NEW = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNE"


def _zone(unpinned: tuple[str, ...] = ()) -> Topology:
    """The lab zone with every system VM pinned to KEY except ``unpinned`` (lab names)."""
    data = load_topology(DEFAULT_TOPOLOGY_FILE).model_dump(mode="json")
    for host in data["hosts"]:
        if host.get("ssh") and host["kind"] in ("vr", "vpcvr", "ssvm", "cpvm"):
            host["ssh"]["host_key"] = None if host["name"] in unpinned else KEY
    return Topology.model_validate(data)


def _names(vms) -> list[str]:
    return [vm.name for vm in vms]


def test_by_default_the_running_unpinned_vms_are_scanned_and_stopped_ones_left_out() -> None:
    targets, left_out = choose_vms(_zone(("vr", "cpvm", "stoppedvr")), [], every=False)
    assert _names(targets) == ["vr", "cpvm"]
    assert _names(left_out) == ["stoppedvr"]


def test_a_fully_pinned_zone_has_nothing_to_scan() -> None:
    assert choose_vms(_zone(), [], every=False) == ([], [])


def test_named_vms_by_uuid_cloudstack_name_or_lab_name_once_each() -> None:
    zone = _zone()
    vr = zone.system_vm("vr")
    targets, left_out = choose_vms(zone, [vr.uuid or "", "s-1-VM", "vr", "stoppedvr"], every=False)
    assert _names(targets) == ["vr", "ssvm", "stoppedvr"] and left_out == []


def test_unknown_names_are_refused_together() -> None:
    with pytest.raises(KeyError) as caught:
        choose_vms(_zone(), ["r-4-VM", "nope", "bastion"], every=False)
    assert caught.value.args[0] == "nope, bastion"


def test_all_is_every_system_vm() -> None:
    zone = _zone(("vr",))
    targets, _ = choose_vms(zone, [], every=True)
    assert _names(targets) == _names(zone.system_vms())


def test_with_pins_sets_only_the_pinned_vms_key() -> None:
    zone = _zone(("vr",))
    vr = zone.system_vm("vr")
    assert vr.ssh is not None and not is_pinned(vr)
    pinned, left = with_pins(zone, [Pin(vr.uuid or "", str(vr.ssh.address), vr.ssh.port, NEW)])
    assert left == []
    assert pinned.system_vm("vr").ssh.host_key == NEW  # type: ignore[union-attr]
    others = [vm for vm in pinned.system_vms() if vm.name != "vr"]
    assert others == [vm for vm in zone.system_vms() if vm.name != "vr"]


def test_a_pin_for_a_moved_or_vanished_vm_is_not_applied() -> None:
    zone = _zone(("vr",))
    vr = zone.system_vm("vr")
    assert vr.ssh is not None
    moved = Pin(vr.uuid or "", "169.254.9.9", vr.ssh.port, NEW)
    gone = Pin("no-such-uuid", "169.254.1.10", 3922, NEW)
    pinned, left = with_pins(zone, [moved, gone])
    assert left == [moved, gone]
    assert pinned == zone
