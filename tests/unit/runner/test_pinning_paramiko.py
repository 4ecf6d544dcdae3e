"""Pinned connect against a real paramiko server over a socketpair: no sshd, no network.

The fakes stand in for paramiko elsewhere; here paramiko itself checks that the runner asks it
for the pinned key type and reads the server key as its authors intend.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.keys import parse_private_key
from sysvmdiag.runner.pinning import Login, PinnedKey, authenticate, connect_pinned, handshake

WHO = "the system VM at 169.254.1.10:3922"


def _key(private) -> paramiko.PKey:
    text = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    return parse_private_key(text)


HOST_KEY = _key(ed25519.Ed25519PrivateKey.generate())
CLIENT_KEY = _key(ed25519.Ed25519PrivateKey.generate())
OTHER_KEY = _key(ed25519.Ed25519PrivateKey.generate())
ECDSA_KEY = _key(ec.generate_private_key(ec.SECP256R1()))


class _Server(paramiko.ServerInterface):
    """Accepts CLIENT_KEY for root, nothing else."""

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == "root" and key == CLIENT_KEY:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED


@dataclass
class Pair:
    client: paramiko.Transport
    server: paramiko.Transport


@pytest.fixture
def pair() -> Iterator[Pair]:
    ours, theirs = socket.socketpair()
    server = paramiko.Transport(theirs)
    server.add_server_key(HOST_KEY)
    server.start_server(event=threading.Event(), server=_Server())  # negotiates in paramiko's thread
    client = paramiko.Transport(ours)
    yield Pair(client, server)
    client.close()
    server.close()


def _login(pin: paramiko.PKey, user: str = "root", key: paramiko.PKey = CLIENT_KEY) -> Login:
    pinned = PinnedKey(pin.get_name(), pin.get_base64())
    return Login(pinned, user, key, WHO, RunnerErrorCode.VM_UNREACHABLE)


def test_the_pinned_server_is_logged_into(pair: Pair) -> None:
    connect_pinned(pair.client, _login(HOST_KEY), Deadline(10), cap=5.0)
    assert pair.client.is_authenticated()
    assert pair.client.get_remote_server_key() == HOST_KEY


def test_a_server_showing_another_key_is_refused_before_auth(pair: Pair) -> None:
    with pytest.raises(RunnerError) as caught:
        connect_pinned(pair.client, _login(OTHER_KEY), Deadline(10), cap=5.0)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "is not the pinned key" in caught.value.message
    assert not pair.client.is_active()


def test_a_server_without_the_pinned_key_type_is_a_mismatch(pair: Pair) -> None:
    with pytest.raises(RunnerError) as caught:
        connect_pinned(pair.client, _login(ECDSA_KEY), Deadline(10), cap=5.0)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "does not offer the pinned ecdsa-sha2-nistp256 host key" in caught.value.message


def test_a_key_the_server_does_not_accept_is_auth_failed(pair: Pair) -> None:
    with pytest.raises(RunnerError) as caught:
        connect_pinned(pair.client, _login(HOST_KEY, key=OTHER_KEY), Deadline(10), cap=5.0)
    assert caught.value.code is RunnerErrorCode.AUTH_FAILED
    assert caught.value.message == "The system VM at 169.254.1.10:3922 rejected the key for user root."
    assert not pair.client.is_active()


class _HeldServer(_Server):
    """Answers an auth request only once the test lets it (a busy sshd)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.release.wait(10)
        return super().check_auth_publickey(username, key)


def test_a_server_that_holds_its_auth_answer_is_unreachable_not_a_rejected_key() -> None:
    """paramiko's own auth timeout, against a server holding its answer until the client gave up."""
    ours, theirs = socket.socketpair()
    held = _HeldServer()
    server = paramiko.Transport(theirs)
    server.add_server_key(HOST_KEY)
    server.start_server(event=threading.Event(), server=held)
    client = paramiko.Transport(ours)
    try:
        login = _login(HOST_KEY)
        handshake(client, login.pinned, WHO, 10.0, login.unreachable)  # untimed: the server answers it
        with pytest.raises(RunnerError) as caught:
            authenticate(client, "root", CLIENT_KEY, WHO, 0.5, login.unreachable)
    finally:
        held.release.set()
        client.close()
        server.close()
    assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
    assert caught.value.message == f"{WHO[0].upper()}{WHO[1:]} did not answer authentication within 0.5 s."
