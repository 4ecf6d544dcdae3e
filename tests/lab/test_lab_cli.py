"""`simvms status --json` and `simvms exec` on the shared lab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simvms.lab import Lab
from sysvmdiag.topology.model import stable_mac

pytestmark = pytest.mark.lab


def simvms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simvms.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_status_json_describes_every_host(lab: Lab, lab_status: dict[str, Any]) -> None:
    proc = simvms("status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["up"] is True
    assert status["prefix"] == "svd"
    assert status["topology"] == str(Path(lab.topology_path).resolve())
    assert set(status["hosts"]) == {h.name for h in lab.topology.hosts}
    for host in lab.topology.hosts:
        entry = status["hosts"][host.name]
        assert entry["kind"] == host.kind
        assert entry["namespace"] == f"svd-{host.name}"
        assert [i["name"] for i in entry["interfaces"]] == [i.name for i in host.interfaces]
        for iface, seen in zip(host.interfaces, entry["interfaces"], strict=True):
            assert seen["mac"] == stable_mac(host.name, iface.name)  # read back from the kernel
            assert seen["ipv4"] == (iface.ipv4.with_prefixlen if iface.ipv4 else None)
            assert seen["ipv6"] == (iface.ipv6.with_prefixlen if iface.ipv6 else None)
        if host.is_system_vm:
            ssh = entry["ssh"]
            assert ssh["running"] is True and isinstance(ssh["pid"], int)
            assert ssh["address"] == str(host.ssh.address) and ssh["port"] == 3922
            assert ssh["host_key"].startswith("ssh-ed25519 AAAA")
            assert entry["uuid"] == host.uuid and entry["vm_name"] == host.vm_name
        else:
            assert "ssh" not in entry
    bastion = status["bastion"]
    assert (bastion["namespace"], bastion["address"], bastion["port"]) == ("svd-bastion", "100.64.254.2", 22)
    assert status["host_link"] == {"interface": "svd-host", "address": "100.64.254.1/30"}
    for key in ("private_key", "public_key", "known_hosts", "ssh_config"):
        assert Path(status[key]).is_file()
    written = json.loads((Path(status["state_dir"]) / "status.json").read_text())
    assert written["hosts"].keys() == status["hosts"].keys()


def test_status_table_and_exit_code() -> None:
    proc = simvms("status")
    assert proc.returncode == 0
    assert proc.stdout.startswith("lab svd: up")
    assert "vr" in proc.stdout and "169.254.1.10:3922" in proc.stdout


def test_exec_passes_stdout_stderr_and_exit_code(lab_status: dict[str, Any]) -> None:
    proc = simvms(
        "exec",
        "r1",
        "--",
        sys.executable,
        "-c",
        "import sys; print('out'); print('err', file=sys.stderr); sys.exit(42)",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (42, "out\n", "err\n")
    proc = simvms("exec", "vr", "--", "ping", "-c", "1", "-W", "1", "10.1.1.11")
    assert proc.returncode == 0 and "1 received" in proc.stdout
    proc = simvms("exec", "vr", "--", "ping", "-c", "1", "-W", "1", "10.1.1.99")  # nobody there
    assert proc.returncode == 1
