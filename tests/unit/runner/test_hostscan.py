"""First-use host key scans against real paramiko servers over a socketpair: no sshd, no network.

The bastion is a paramiko server that authenticates the runner's key and opens direct-tcpip channels;
behind each channel a paramiko server plays the system VM, showing its host key and recording any
authentication attempt (a scan must make none).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.hostscan import (
    SCAN_KEY_TYPES,
    HostKeyScanner,
    ScannedKey,
    fingerprint_sha256,
    pinned_fingerprint,
)
from sysvmdiag.runner.keys import parse_private_key
from sysvmdiag.runner.pinning import PinnedKey
from sysvmdiag.runner.plumbing import Plumbing
from sysvmdiag.runner.tunnel import TunnelSocket
from sysvmdiag.topology.model import SshEndpoint


def _key(private: Any) -> paramiko.PKey:
    text = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    return parse_private_key(text)


BASTION_KEY = _key(ed25519.Ed25519PrivateKey.generate())
CLIENT_KEY = _key(ed25519.Ed25519PrivateKey.generate())
VM_ED25519 = _key(ed25519.Ed25519PrivateKey.generate())
VM_ECDSA = _key(ec.generate_private_key(ec.SECP384R1()))
VM_RSA = _key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
VM_ADDRESS = ("169.254.1.10", 3922)


def _pin(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


BASTION = SshEndpoint(address="192.0.2.10", port=22, user="diag", host_key=_pin(BASTION_KEY))
VM = SshEndpoint(address=VM_ADDRESS[0], port=VM_ADDRESS[1], user="root", host_key=None)


class _Vm(paramiko.ServerInterface):
    """A system VM's sshd: it shows its key; any authentication attempt is recorded and refused."""

    def __init__(self, attempts: list[str]):
        self.attempts = attempts

    def get_allowed_auths(self, username: str) -> str:
        self.attempts.append(f"query {username}")
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        self.attempts.append(f"none {username}")
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.attempts.append(f"publickey {username}")
        return paramiko.AUTH_FAILED


@dataclass
class Zone:
    """The bastion and VM servers, and what they saw."""

    vm_keys: list[paramiko.PKey]
    opens: list[tuple[str, int]] = field(default_factory=list)
    vm_attempts: list[str] = field(default_factory=list)
    bastion_logins: list[str] = field(default_factory=list)
    transports: list[paramiko.Transport] = field(default_factory=list)
    connects: int = 0

    def plumbing(self) -> Plumbing:
        return Plumbing(open_socket=self._open)

    def _open(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.connects += 1
        ours, theirs = socket.socketpair()
        server = paramiko.Transport(theirs)
        server.add_server_key(BASTION_KEY)
        server.start_server(event=threading.Event(), server=_Bastion(self))
        self.transports.append(server)
        threading.Thread(target=self._serve_channels, args=(server,), daemon=True).start()
        return ours

    def _serve_channels(self, bastion: paramiko.Transport) -> None:
        while bastion.is_active():
            channel = bastion.accept(timeout=0.2)
            if channel is None:
                continue
            # Wrapped as the runner wraps its tunnels: the VM's thread may close the channel after
            # the bastion's Transport is gone, which paramiko reports as an EOFError in that thread.
            vm = paramiko.Transport(TunnelSocket(channel))
            for key in self.vm_keys:
                vm.add_server_key(key)
            vm.start_server(event=threading.Event(), server=_Vm(self.vm_attempts))
            self.transports.append(vm)

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


class _Bastion(paramiko.ServerInterface):
    """Logs the runner's key in and opens tunnels to VM_ADDRESS only."""

    def __init__(self, zone: Zone):
        self.zone = zone

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == "diag" and key == CLIENT_KEY:
            self.zone.bastion_logins.append(username)
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        self.zone.opens.append(tuple(destination))
        if tuple(destination) == VM_ADDRESS:
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_CONNECT_FAILED


@pytest.fixture
def zone() -> Iterator[Any]:
    made: list[Zone] = []

    def make(*vm_keys: paramiko.PKey) -> Zone:
        made.append(Zone(list(vm_keys)))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _scan(zone: Zone, vm: SshEndpoint = VM, bastion: SshEndpoint = BASTION) -> ScannedKey:
    with HostKeyScanner(bastion, CLIENT_KEY, plumbing=zone.plumbing()) as scanner:
        return scanner.scan(vm, timeout=10, vm_label="r-4-VM")


def test_a_scan_returns_the_vms_key_and_never_authenticates_to_it(zone) -> None:
    servers = zone(VM_ED25519)
    scanned = _scan(servers)
    assert scanned == ScannedKey("ssh-ed25519", VM_ED25519.get_base64(), VM_ED25519.fingerprint)
    assert scanned.host_key == _pin(VM_ED25519)
    assert servers.bastion_logins == ["diag"] and servers.opens == [VM_ADDRESS]
    assert servers.vm_attempts == []


def test_the_vms_ed25519_key_is_preferred_to_its_others(zone) -> None:
    assert _scan(zone(VM_RSA, VM_ECDSA, VM_ED25519)).key_type == "ssh-ed25519"


@pytest.mark.parametrize(("key", "key_type"), [(VM_ECDSA, "ecdsa-sha2-nistp384"), (VM_RSA, "ssh-rsa")])
def test_ecdsa_and_rsa_keys_are_scanned_as_the_runner_pins_them(zone, key, key_type) -> None:
    scanned = _scan(zone(key))
    assert (scanned.key_type, scanned.base64) == (key_type, key.get_base64())
    pinned = PinnedKey.of(VM.model_copy(update={"host_key": scanned.host_key}), "the VM")
    assert pinned.matches(key)


def test_the_bastion_must_show_its_pinned_key(zone) -> None:
    servers = zone(VM_ED25519)
    other = BASTION.model_copy(update={"host_key": _pin(VM_ED25519)})
    with pytest.raises(RunnerError) as caught:
        _scan(servers, bastion=other)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "is not the pinned key" in caught.value.message
    assert servers.bastion_logins == [] and servers.opens == []


def test_an_unpinned_bastion_is_refused_before_connecting(zone) -> None:
    servers = zone(VM_ED25519)
    with pytest.raises(RunnerError) as caught:
        _scan(servers, bastion=BASTION.model_copy(update={"host_key": None}))
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert servers.connects == 0


def test_a_vm_the_bastion_cannot_reach_is_vm_unreachable(zone) -> None:
    servers = zone(VM_ED25519)
    elsewhere = VM.model_copy(update={"address": "169.254.1.99"})
    with pytest.raises(RunnerError) as caught:
        _scan(servers, vm=elsewhere)
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert "r-4-VM at 169.254.1.99:3922" in caught.value.message


def test_one_bastion_connection_serves_several_scans(zone) -> None:
    servers = zone(VM_ED25519)
    with HostKeyScanner(BASTION, CLIENT_KEY, plumbing=servers.plumbing()) as scanner:
        scanner.connect_bastion(timeout=10)
        first = scanner.scan(VM, timeout=10)
        second = scanner.scan(VM, timeout=10)
    assert first == second and servers.connects == 1 and servers.opens == [VM_ADDRESS] * 2


def test_fingerprints_are_openssh_sha256() -> None:
    assert fingerprint_sha256(VM_RSA.get_base64()) == VM_RSA.fingerprint
    assert pinned_fingerprint(_pin(VM_ED25519)) == f"ssh-ed25519 {VM_ED25519.fingerprint}"
    assert pinned_fingerprint(None) is None and pinned_fingerprint("ssh-ed25519") is None
    assert fingerprint_sha256("not base64!") == "SHA256:(not a key)"


def test_a_scanned_key_is_pinned_as_exactly_its_type_and_blob() -> None:
    scanned = ScannedKey.of(VM_ED25519)
    assert scanned.is_pinned_as(_pin(VM_ED25519) + " comment")
    assert not scanned.is_pinned_as(_pin(VM_ECDSA)) and not scanned.is_pinned_as(None)
    assert "ssh-rsa" not in SCAN_KEY_TYPES  # SHA-1 signatures are never offered
