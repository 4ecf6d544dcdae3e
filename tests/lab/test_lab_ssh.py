"""SSH into system VMs through the bastion with OpenSSH's own client and the lab key.

The lab key may only run diagnostics on VMs and only open forwards to VMs' port 3922 on the bastion;
host keys are pinned by the generated known_hosts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from simvms.lab import Lab

pytestmark = pytest.mark.lab

SSH = "/usr/bin/ssh"
REFUSED_VM = "sysvmdiag-vm: refused:"
REFUSED_BASTION = "sysvmdiag-bastion: this key only opens forwarded connections to system VMs; no shell"
SYSTEM_VMS = ["vr", "vpcvr", "sharedvr", "ssvm", "cpvm"]


def ssh(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SSH, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def default_gateway(lab: Lab, vm: str) -> str:
    route = next(r for r in lab.topology.host(vm).routes if r.to == "default")
    return str(route.via)


def explicit_options(status: dict[str, Any], known_hosts: str | None = None) -> list[str]:
    """Everything ssh needs without the generated ssh_config."""
    return [
        "-F", "/dev/null",
        "-i", status["private_key"],
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={known_hosts or status['known_hosts']}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
    ]


@pytest.mark.parametrize("vm", SYSTEM_VMS)
def test_ssh_config_jump_runs_ping_on_every_system_vm(lab: Lab, lab_status: dict[str, Any], vm: str) -> None:
    gateway = default_gateway(lab, vm)
    proc = ssh("-F", lab_status["ssh_config"], vm, "ping", "-c", "1", gateway)
    assert proc.returncode == 0, proc.stderr
    assert "1 packets transmitted, 1 received" in proc.stdout
    assert f"from {gateway}" in proc.stdout


@pytest.mark.parametrize("vm", SYSTEM_VMS)
def test_explicit_proxycommand_runs_ping_on_every_system_vm(
    lab: Lab, lab_status: dict[str, Any], vm: str
) -> None:
    options = explicit_options(lab_status)
    bastion = lab_status["bastion"]
    jump = " ".join([SSH, *options, "-p", str(bastion["port"]), "-W", "%h:%p",
                     f"{bastion['user']}@{bastion['address']}"])
    target = lab_status["hosts"][vm]["ssh"]
    gateway = default_gateway(lab, vm)
    proc = ssh(*options, "-o", f"ProxyCommand={jump}", "-p", str(target["port"]),
               f"{target['user']}@{target['address']}", "ping", "-c", "1", gateway)
    assert proc.returncode == 0, proc.stderr
    assert "1 packets transmitted, 1 received" in proc.stdout


def test_dash_j_jump_with_the_generated_config(lab_status: dict[str, Any]) -> None:
    bastion = lab_status["bastion"]
    target = lab_status["hosts"]["ssvm"]["ssh"]
    proc = ssh("-F", lab_status["ssh_config"], "-J", f"{bastion['user']}@{bastion['address']}",
               "-p", str(target["port"]), f"root@{target['address']}", "ping", "-c", "1", "172.31.201.10")
    assert proc.returncode == 0, proc.stderr
    assert "1 received" in proc.stdout


@pytest.mark.parametrize("command", [
    ["id"], ["ping -c 1 x; id"], ["ping", "-c", "1", "203.0.113.1", "&&", "id"], ["sh", "-c", "id"],
    ["cat", "/etc/shadow"],
])
def test_vm_refuses_anything_but_a_diagnostic(lab_status: dict[str, Any], command: list[str]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "vr", *command)
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert REFUSED_VM in proc.stderr
    assert "uid=" not in proc.stdout


def test_vm_refuses_an_interactive_shell(lab_status: dict[str, Any]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "vr")
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert "sysvmdiag-vm: refused: this key runs diagnostics only (ping, traceroute, arping); no shell" \
        in proc.stderr


def test_vm_refuses_a_terminal(lab_status: dict[str, Any]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "-tt", "vr")
    assert proc.returncode != 0
    assert "PTY allocation request failed" in proc.stderr
    assert proc.stdout == ""


def test_vm_run_log_records_accepted_and_refused_runs(lab_status: dict[str, Any], lab: Lab) -> None:
    log = Path(lab_status["state_dir"]) / "runs" / "cpvm.jsonl"
    before = log.read_text().splitlines() if log.exists() else []
    assert ssh("-F", lab_status["ssh_config"], "cpvm", "ping", "-c", "1", "203.0.113.1").returncode == 0
    assert ssh("-F", lab_status["ssh_config"], "cpvm", "uname").returncode == 126
    import json

    new = [json.loads(line) for line in log.read_text().splitlines()[len(before):]]
    mine = [r for r in new if r["command"] in ("ping -c 1 203.0.113.1", "uname")]
    assert [(r["command"], r["accepted"], r["exit_status"]) for r in mine] == [
        ("ping -c 1 203.0.113.1", True, 0),
        ("uname", False, 126),
    ]
    assert mine[0]["host"] == "cpvm" and mine[0]["argv"][0] == "ping"


@pytest.mark.parametrize("command", [[], ["id"]])
def test_bastion_refuses_a_shell(lab_status: dict[str, Any], command: list[str]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "bastion", *command)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert REFUSED_BASTION in proc.stderr


@pytest.mark.parametrize("forward", ["198.51.100.80:22", "169.254.1.10:22", "127.0.0.1:22",
                                     "127.0.0.1:3922", "100.64.254.1:22", "169.254.0.1:22"])
def test_bastion_refuses_forwards_outside_its_permit_list(lab_status: dict[str, Any], forward: str) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "-W", forward, "bastion")
    assert proc.returncode == 255, (proc.stdout, proc.stderr)
    assert "SSH-2.0" not in proc.stdout
    assert "forwarding failed" in proc.stderr or "administratively prohibited" in proc.stderr


def test_bastion_forwards_to_a_vm_control_address(lab_status: dict[str, Any]) -> None:
    target = lab_status["hosts"]["vr"]["ssh"]
    with subprocess.Popen([SSH, "-F", lab_status["ssh_config"], "-W", f"{target['address']}:{target['port']}",
                           "bastion"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            banner = proc.stdout.readline() if proc.stdout else ""
        finally:
            proc.kill()
            proc.communicate(timeout=10)
    assert banner.startswith("SSH-2.0-OpenSSH"), banner


def test_host_keys_are_pinned(lab_status: dict[str, Any], tmp_path: Path) -> None:
    target = lab_status["hosts"]["vr"]["ssh"]
    bastion = lab_status["bastion"]
    known = Path(lab_status["known_hosts"]).read_text()
    assert f"[{target['address']}]:{target['port']} {target['host_key']}" in known
    assert f"{bastion['address']} {bastion['host_key']}" in known

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    proc = ssh(*explicit_options(lab_status, str(empty)), "-p", str(bastion["port"]),
               f"root@{bastion['address']}", "id")
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr

    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{bastion['address']} {target['host_key']}\n")  # a real key, but not the bastion's
    proc = ssh(*explicit_options(lab_status, str(wrong)), "-p", str(bastion["port"]),
               f"root@{bastion['address']}", "id")
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr or "verification failed" in proc.stderr

    proc = ssh(*explicit_options(lab_status), "-p", str(bastion["port"]), f"root@{bastion['address']}", "id")
    assert proc.returncode == 1 and REFUSED_BASTION in proc.stderr  # pinned key accepted, shell refused


def test_other_keys_are_not_authorized(lab_status: dict[str, Any], tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    bastion = lab_status["bastion"]
    options = explicit_options(lab_status)
    options[options.index(lab_status["private_key"])] = str(stranger)
    proc = ssh(*options, "-p", str(bastion["port"]), f"root@{bastion['address']}", "id")
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr
