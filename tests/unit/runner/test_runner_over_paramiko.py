"""BastionRunner against paramiko servers in this process: a bastion that forwards direct-tcpip and a
"VM" served over that very channel. No sshd, no network: the bastion's socket is a socketpair.

The fakes check each layer's decisions; this checks that the layers drive real paramiko as its
authors intend (Transport over a socket, open_channel("direct-tcpip"), a Transport over the channel).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode
from sysvmdiag.runner.keys import parse_private_key
from sysvmdiag.runner.plumbing import Plumbing, wait_readable
from sysvmdiag.topology.model import SshEndpoint


def _key() -> paramiko.PKey:
    private = ed25519.Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    return parse_private_key(text)


CLIENT_KEY, BASTION_KEY, VM_KEY = _key(), _key(), _key()
VM_ADDRESS = ("169.254.1.10", 3922)


def _pin(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class _Accepting(paramiko.ServerInterface):
    """Public-key auth with CLIENT_KEY; counts logins."""

    def __init__(self, zone: Zone):
        self.zone = zone

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key != CLIENT_KEY:
            return paramiko.AUTH_FAILED
        self.zone.logins.append(type(self).__name__)
        return paramiko.AUTH_SUCCESSFUL


class _Bastion(_Accepting):
    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        if tuple(destination) == VM_ADDRESS:
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_CONNECT_FAILED


class _Vm(_Accepting):
    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.zone.commands.append(command.decode())
        threading.Thread(target=_answer, args=(self.zone, channel, command.decode()), daemon=True).start()
        return True


def _answer(zone: Zone, channel: paramiko.Channel, command: str) -> None:
    """The VM-side program: echoes the request and exits 3, once the client has the exec reply."""
    assert zone.exec_replied.acquire(timeout=10)
    channel.sendall(f"ran {command}\n".encode())
    channel.sendall_stderr(b"note\n")
    channel.send_exit_status(3)
    channel.close()


@dataclass
class Zone:
    transports: list[paramiko.Transport] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    # Released when the runner starts reading a session: its exec_command has returned by then, so
    # the VM's answer cannot overtake paramiko's reply to the exec request.
    exec_replied: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    _reading: list[paramiko.Channel] = field(default_factory=list)  # kept: an id is never reused

    def wait_readable(self, channel: paramiko.Channel, seconds: float) -> None:
        if not any(seen is channel for seen in self._reading):
            self._reading.append(channel)
            self.exec_replied.release()
        wait_readable(channel, seconds)

    def open_socket(self, address: tuple[str, int], timeout: float) -> socket.socket:
        """The bastion "connect": one end of a socketpair, a paramiko bastion server on the other."""
        ours, theirs = socket.socketpair()
        server = paramiko.Transport(theirs)
        server.add_server_key(BASTION_KEY)
        server.start_server(event=threading.Event(), server=_Bastion(self))
        self.transports.append(server)
        threading.Thread(target=self._serve_tunnels, args=(server,), daemon=True).start()
        return ours

    def _serve_tunnels(self, bastion: paramiko.Transport) -> None:
        """Each direct-tcpip channel the bastion accepts carries a VM server, as sshd's forward would."""
        while bastion.is_active():
            channel = bastion.accept(timeout=1)
            if channel is None:
                continue
            vm = paramiko.Transport(channel)
            vm.add_server_key(VM_KEY)
            vm.start_server(event=threading.Event(), server=_Vm(self))
            self.transports.append(vm)


@pytest.fixture
def zone() -> Iterator[Zone]:
    zone = Zone()
    yield zone
    for transport in zone.transports:
        transport.close()


def _runner(zone: Zone) -> BastionRunner:
    bastion = SshEndpoint(address="192.0.2.10", port=22, user="diag", host_key=_pin(BASTION_KEY))
    return BastionRunner(
        bastion, CLIENT_KEY, plumbing=Plumbing(open_socket=zone.open_socket, wait_readable=zone.wait_readable)
    )


VM = SshEndpoint(address=VM_ADDRESS[0], port=VM_ADDRESS[1], user="root", host_key=_pin(VM_KEY))


def test_runs_go_through_the_bastion_and_reuse_both_logins(zone: Zone) -> None:
    runner = _runner(zone)
    try:
        outputs = [runner.run(VM, "ping -c 1 10.0.0.1", timeout=20) for _ in range(3)]
        assert [(o.exit_code, o.stdout, o.stderr) for o in outputs] == [
            (3, "ran ping -c 1 10.0.0.1\n", "note\n")
        ] * 3
        assert zone.logins == ["_Bastion", "_Vm"], "one login each, reused by the warm runs"
        (vm_connection,) = runner.connections_to(VM)
        assert vm_connection.is_active() and runner.transport is not None
    finally:
        runner.close()
    assert not vm_connection.is_active()


def test_warming_logs_into_the_bastion_once_and_the_first_run_reuses_it(zone: Zone) -> None:
    runner = _runner(zone)
    try:
        runner.warm(10)
        assert zone.logins == ["_Bastion"] and not zone.commands
        warmed = runner.transport
        assert warmed is not None and warmed.is_active()
        runner.warm(10)  # a live connection is kept, not remade
        assert runner.run(VM, "ping -c 1 10.0.0.1", timeout=20).exit_code == 3
        assert zone.logins == ["_Bastion", "_Vm"] and runner.transport is warmed
    finally:
        runner.close()


def test_a_vm_showing_another_key_is_refused_before_login(zone: Zone) -> None:
    runner = _runner(zone)
    try:
        with pytest.raises(RunnerError) as caught:
            runner.run(VM.model_copy(update={"host_key": _pin(_key())}), "ping", timeout=20)
    finally:
        runner.close()
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert zone.logins == ["_Bastion"] and zone.commands == []


def test_a_vm_the_bastion_cannot_reach_is_vm_unreachable(zone: Zone) -> None:
    runner = _runner(zone)
    try:
        with pytest.raises(RunnerError) as caught:
            runner.run(VM.model_copy(update={"address": "169.254.1.99"}), "ping", timeout=20)
    finally:
        runner.close()
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert caught.value.message.startswith("The bastion could not reach the system VM at 169.254.1.99:3922")
