"""The pure half of pinning host keys: which system VMs to scan, and the zone with confirmed keys set.

``sysvmdiag topology pin-host-keys`` reads the stored zone, scans the chosen VMs through the bastion,
asks the operator, and loads the zone again with :func:`with_pins` applied: only the re-pinned VMs'
items (and the index shard listing them) change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sysvmdiag.topology.model import Host, Topology


def is_pinned(vm: Host) -> bool:
    """Whether the VM has a host key the runner can check (type and blob)."""
    return vm.ssh is not None and len((vm.ssh.host_key or "").split()) >= 2


def choose_vms(topology: Topology, refs: Sequence[str], every: bool) -> tuple[list[Host], list[Host]]:
    """The VMs to scan and those left out: ``refs`` (uuid, CloudStack name or lab name) as named, or
    ``every`` system VM, or by default those without a pin that CloudStack reports Running (a stopped
    VM has no sshd to scan: it is left out until it runs, or named). Unknown refs raise KeyError."""
    if refs:
        unknown = [ref for ref in refs if not _has(topology, ref)]
        if unknown:
            raise KeyError(", ".join(unknown))
        chosen = [topology.system_vm(ref) for ref in refs]
        return list({vm.uuid: vm for vm in chosen}.values()), []
    vms = [vm for vm in topology.system_vms() if vm.ssh is not None]
    if every:
        return vms, []
    unpinned = [vm for vm in vms if not is_pinned(vm)]
    return [vm for vm in unpinned if vm.state == "Running"], [vm for vm in unpinned if vm.state != "Running"]


def _has(topology: Topology, ref: str) -> bool:
    try:
        topology.system_vm(ref)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class Pin:
    """A confirmed key for the VM ``uuid`` as scanned at ``address``:``port``."""

    uuid: str
    address: str
    port: int
    host_key: str


def with_pins(topology: Topology, pins: Iterable[Pin]) -> tuple[Topology, list[Pin]]:
    """The topology with each pin set on its VM, and the pins not applied: their VM is gone, or its
    SSH endpoint is no longer the one scanned (moved meanwhile: the key scanned is not its key)."""
    wanted = {pin.uuid: pin for pin in pins}
    data = topology.model_dump(mode="json")
    applied: set[str] = set()
    for host in data["hosts"]:
        pin = wanted.get(host.get("uuid") or "")
        ssh = host.get("ssh")
        if pin is None or not ssh or not Host.model_validate(host).is_system_vm:
            continue
        if (str(ssh.get("address")), int(ssh.get("port", 0))) != (pin.address, pin.port):
            continue
        ssh["host_key"] = pin.host_key
        applied.add(pin.uuid)
    return Topology.model_validate(data), [pin for uuid, pin in wanted.items() if uuid not in applied]
