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
    return subprocess.run(
        [SSH, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def default_gateway(lab: Lab, vm: str) -> str:
    route = next(r for r in lab.topology.host(vm).routes if r.to == "default")
    return str(route.via)


def explicit_options(status: dict[str, Any], known_hosts: str | None = None) -> list[str]:
    """Everything ssh needs without the generated ssh_config."""
    return [
        "-F",
        "/dev/null",
        "-i",
        status["private_key"],
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts or status['known_hosts']}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
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
    jump = " ".join(
        [SSH, *options, "-p", str(bastion["port"]), "-W", "%h:%p", f"{bastion['user']}@{bastion['address']}"]
    )
    target = lab_status["hosts"][vm]["ssh"]
    gateway = default_gateway(lab, vm)
    proc = ssh(
        *options,
        "-o",
        f"ProxyCommand={jump}",
        "-p",
        str(target["port"]),
        f"{target['user']}@{target['address']}",
        "ping",
        "-c",
        "1",
        gateway,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 packets transmitted, 1 received" in proc.stdout


def test_dash_j_jump_with_the_generated_config(lab_status: dict[str, Any]) -> None:
    bastion = lab_status["bastion"]
    target = lab_status["hosts"]["ssvm"]["ssh"]
    proc = ssh(
        "-F",
        lab_status["ssh_config"],
        "-J",
        f"{bastion['user']}@{bastion['address']}",
        "-p",
        str(target["port"]),
        f"root@{target['address']}",
        "ping",
        "-c",
        "1",
        "172.31.201.10",
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 received" in proc.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["id"],
        ["ping -c 1 x; id"],
        ["ping", "-c", "1", "203.0.113.1", "&&", "id"],
        ["sh", "-c", "id"],
        ["cat", "/etc/shadow"],
    ],
)
def test_vm_refuses_anything_but_a_diagnostic(lab_status: dict[str, Any], command: list[str]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "vr", *command)
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert REFUSED_VM in proc.stderr
    assert "uid=" not in proc.stdout


def test_vm_refuses_an_interactive_shell(lab_status: dict[str, Any]) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "vr")
    assert proc.returncode == 126, (proc.stdout, proc.stderr)
    assert (
        "sysvmdiag-vm: refused: this key runs diagnostics only "
        "(ping, traceroute, arping, mtr, pmtu, ndisc); no shell" in proc.stderr
    )


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

    new = [json.loads(line) for line in log.read_text().splitlines()[len(before) :]]
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


@pytest.mark.parametrize(
    "forward",
    [
        "198.51.100.80:22",
        "169.254.1.10:22",
        "127.0.0.1:22",
        "127.0.0.1:3922",
        "100.64.254.1:22",
        "169.254.0.1:22",
    ],
)
def test_bastion_refuses_forwards_outside_its_permit_list(lab_status: dict[str, Any], forward: str) -> None:
    proc = ssh("-F", lab_status["ssh_config"], "-W", forward, "bastion")
    assert proc.returncode == 255, (proc.stdout, proc.stderr)
    assert "SSH-2.0" not in proc.stdout
    assert "forwarding failed" in proc.stderr or "administratively prohibited" in proc.stderr


def test_bastion_forwards_to_a_vm_control_address(lab_status: dict[str, Any]) -> None:
    target = lab_status["hosts"]["vr"]["ssh"]
    with subprocess.Popen(
        [SSH, "-F", lab_status["ssh_config"], "-W", f"{target['address']}:{target['port']}", "bastion"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
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
    proc = ssh(
        *explicit_options(lab_status, str(empty)),
        "-p",
        str(bastion["port"]),
        f"root@{bastion['address']}",
        "id",
    )
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr

    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{bastion['address']} {target['host_key']}\n")  # a real key, but not the bastion's
    proc = ssh(
        *explicit_options(lab_status, str(wrong)),
        "-p",
        str(bastion["port"]),
        f"root@{bastion['address']}",
        "id",
    )
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


# -- an attacker holding the lab key, speaking SSH directly (paramiko; lab addresses only) ---------


def _current_status(lab_status: dict[str, Any]) -> dict[str, Any]:
    """status.json as last written (other suites rekey and re-pin host keys mid-session)."""
    import json

    path = Path(lab_status["state_dir"]) / "status.json"
    return json.loads(path.read_text()) if path.exists() else lab_status


def _transport_to(sock: Any, ssh_info: dict[str, Any], key: Any) -> Any:
    """An authenticated paramiko Transport whose server key is checked against the lab's pin."""
    import paramiko

    transport = paramiko.Transport(sock)
    transport.start_client(timeout=10)
    server_key = transport.get_remote_server_key()
    assert f"{server_key.get_name()} {server_key.get_base64()}" == ssh_info["host_key"]
    transport.auth_publickey(ssh_info["user"], key)
    return transport


@pytest.fixture
def attacker(lab_status: dict[str, Any]) -> Any:
    """(bastion Transport, VR Transport) logged in with the lab key, closed after the test."""
    import socket

    from sysvmdiag.runner import parse_private_key

    status = _current_status(lab_status)
    key = parse_private_key(Path(status["private_key"]).read_text())
    bastion = status["bastion"]
    to_bastion = _transport_to(
        socket.create_connection((bastion["address"], bastion["port"]), timeout=10), bastion, key
    )
    vr = status["hosts"]["vr"]["ssh"]
    tunnel = to_bastion.open_channel(
        "direct-tcpip", (vr["address"], vr["port"]), ("127.0.0.1", 0), timeout=10
    )
    to_vr = _transport_to(tunnel, vr, key)
    yield to_bastion, to_vr
    to_vr.close()
    to_bastion.close()


@pytest.mark.parametrize("side", ["bastion", "vr"])
def test_remote_forwarding_is_refused(attacker: Any, side: str) -> None:
    import paramiko

    transport = attacker[0] if side == "bastion" else attacker[1]
    for address in ("127.0.0.1", "", "0.0.0.0"):
        with pytest.raises(paramiko.SSHException, match="forwarding request denied"):
            transport.request_port_forward(address, 0)


@pytest.mark.parametrize(
    "destination",
    [
        ("169.254.001.010", 3922),
        ("0251.254.1.10", 3922),
        ("169.254.1.10 ", 3922),
        ("localhost", 3922),
        ("169.254.1.10", 3923),
        ("169.254.1.10", 0),
    ],
)
def test_bastion_permitopen_matches_only_the_exact_vm_address_and_port(
    attacker: Any, destination: tuple[str, int]
) -> None:
    import paramiko

    with pytest.raises(paramiko.ChannelException, match="prohibited"):
        attacker[0].open_channel("direct-tcpip", destination, ("127.0.0.1", 0), timeout=10)


def test_vm_key_opens_no_forward(attacker: Any) -> None:
    import paramiko

    for destination in (("127.0.0.1", 3922), ("203.0.113.1", 80), ("169.254.1.20", 3922)):
        with pytest.raises(paramiko.ChannelException, match="prohibited"):
            attacker[1].open_channel("direct-tcpip", destination, ("127.0.0.1", 0), timeout=10)


@pytest.mark.parametrize("side", ["bastion", "vr"])
@pytest.mark.parametrize("request_name", ["pty", "x11", "subsystem sftp"])
def test_sessions_get_no_terminal_x11_or_subsystem(attacker: Any, side: str, request_name: str) -> None:
    """Agent forwarding is asked without a reply in SSH, so it is covered by the sshd -T test below."""
    import paramiko

    transport = attacker[0] if side == "bastion" else attacker[1]
    session = transport.open_session(timeout=10)
    requests = {
        "pty": session.get_pty,
        "x11": lambda: session.request_x11(single_connection=True),
        "subsystem sftp": lambda: session.invoke_subsystem("sftp"),
    }
    try:
        with pytest.raises(paramiko.SSHException):
            requests[request_name]()
    finally:
        session.close()


def test_hostile_command_lines_are_refused_and_logged_bounded(
    lab_status: dict[str, Any], attacker: Any
) -> None:
    """Newlines, NUL-free control characters and a very long request through the real sshd."""
    import json
    import uuid

    marker = uuid.uuid4().hex
    hostile = [
        f"ping -c 1 203.0.113.1\nid {marker}",
        f"ping -c 1 203.0.113.1\r\x1b[2J{marker}",
        f"ping -c 1 {marker} " + "A" * 100_000,
    ]
    for command in hostile:
        session = attacker[1].open_session(timeout=10)
        session.exec_command(command)
        assert session.recv_exit_status() == 126
        assert REFUSED_VM in session.makefile_stderr("r").read().decode()
        session.close()
    log = Path(lab_status["state_dir"]) / "runs" / "vr.jsonl"
    mine = [line for line in log.read_text().splitlines() if marker in line]
    assert len(mine) == len(hostile)
    assert all(len(line) < 4096 for line in mine)
    assert all(json.loads(line)["accepted"] is False for line in mine)


@pytest.mark.parametrize("host", ["bastion", *SYSTEM_VMS])
def test_generated_sshd_config_accepts_no_client_environment_and_no_extra_channels(
    lab_status: dict[str, Any], host: str
) -> None:
    """sshd's effective settings (sshd -T) for each generated config, and the key's restrictions."""
    state = Path(lab_status["state_dir"])
    effective = subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", str(state / "sshd" / f"{host}.conf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    settings = dict(line.split(" ", 1) for line in effective if " " in line)
    assert "acceptenv" not in settings  # no SendEnv/SetEnv variable (LD_PRELOAD, LC_*) is accepted
    for name, value in {
        "permituserenvironment": "no",
        "allowagentforwarding": "no",
        "x11forwarding": "no",
        "permittty": "no",
        "permittunnel": "no",
        "allowstreamlocalforwarding": "no",
        "passwordauthentication": "no",
        "gatewayports": "no",
    }.items():
        assert settings[name] == value, name
    if host == "bastion":
        assert settings["allowtcpforwarding"] == "local" and settings["permitlisten"] == "none"
    else:
        assert settings["allowtcpforwarding"] == "no"
    (entry,) = (state / "sshd" / f"{host}.authorized_keys").read_text().splitlines()
    assert entry.startswith("restrict,")
    assert " -I -m sysvmdiag.vmside " in entry
