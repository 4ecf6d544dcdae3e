"""Pinned SSH host keys for a synced zone: CloudStack does not know them, so they come from a file the
operator gives, or stay as pinned before; a VM whose key cannot be carried over is left unpinned (the
runner refuses to connect to it) until ``sysvmdiag topology pin-host-keys`` pins one an operator
confirmed. A key is never taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sysvmdiag.topology.model import Host, HostKind, Topology


@dataclass
class KeyReport:
    """Which VMs got their key from the file, which kept the stored one, which are left unpinned."""

    from_file: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _file_entries(host_keys: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The file's SSH endpoints by every name a VM may be known by (lab name, CloudStack name, uuid)."""
    entries: dict[str, dict[str, Any]] = {}
    for name, host in (host_keys or {}).get("hosts", {}).items():
        ssh = host.get("ssh") if isinstance(host, dict) else None
        if not isinstance(ssh, dict) or not ssh.get("host_key"):
            continue
        for ref in (name, host.get("vm_name"), host.get("uuid")):
            if ref:
                entries[str(ref)] = ssh
    return entries


def _same_endpoint(vm: Host, ssh: dict[str, Any]) -> bool:
    assert vm.ssh is not None
    address = ssh.get("address")
    return (address is None or str(vm.ssh.address) == str(address)) and int(ssh.get("port", vm.ssh.port)) == (
        vm.ssh.port
    )


def pin_keys(
    topology: Topology, stored: Topology | None, host_keys: dict[str, Any] | None
) -> tuple[Topology, KeyReport]:
    """The topology with each system VM's key from ``host_keys`` (matched by uuid, CloudStack name or lab
    name, at the same address and port), else the key stored for the same uuid at the same endpoint."""
    report = KeyReport()
    entries = _file_entries(host_keys)
    stored_vms = {vm.uuid: vm for vm in stored.system_vms()} if stored else {}
    data = topology.model_dump(mode="json")
    for host in data["hosts"]:
        vm = Host.model_validate(host)
        if not vm.is_system_vm or vm.ssh is None:
            continue
        label = vm.vm_name or vm.name
        key = _key_for(vm, entries, stored_vms.get(vm.uuid), report, label)
        if key is None:
            report.unpinned.append(label)
        host["ssh"]["host_key"] = key
    _pin_bastion(data, host_keys)
    return Topology.model_validate(data), report


def _key_for(
    vm: Host, entries: dict[str, dict[str, Any]], before: Host | None, report: KeyReport, label: str
) -> str | None:
    for ref in (vm.uuid, vm.vm_name, vm.name):
        ssh = entries.get(str(ref)) if ref else None
        if ssh is None:
            continue
        if _same_endpoint(vm, ssh):
            report.from_file.append(label)
            return str(ssh["host_key"])
        report.conflicts.append(
            f"{label}: the key file names {ssh.get('address')}:{ssh.get('port')}, CloudStack "
            f"{vm.ssh.address}:{vm.ssh.port}"
            if vm.ssh
            else label
        )
        return None
    if before is None or before.ssh is None or vm.ssh is None or not before.ssh.host_key:
        return None
    if (before.ssh.address, before.ssh.port) != (vm.ssh.address, vm.ssh.port):
        return None  # the VM moved (rebuilt?): its key must be pinned again
    report.kept.append(label)
    return before.ssh.host_key


def _pin_bastion(data: dict[str, Any], host_keys: dict[str, Any] | None) -> None:
    """The bastion's endpoint from the file's ``bastion`` entry (the lab's address and key), if any."""
    bastion = (host_keys or {}).get("bastion")
    if not isinstance(bastion, dict) or not bastion.get("host_key"):
        return
    for host in data["hosts"]:
        if host["kind"] == HostKind.BASTION.value:
            fields = {k: bastion[k] for k in ("address", "port", "user", "host_key") if bastion.get(k)}
            host["ssh"] = {**(host.get("ssh") or {}), **fields}
