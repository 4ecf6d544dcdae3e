"""Pinned connect: key exchange that accepts only the server key pinned in the topology, then auth.

Nothing is sent to a server before its key matched the pin exactly (type and blob), so a
replaced or spoofed host never sees our key's signature, let alone a command.
"""

from __future__ import annotations

from dataclasses import dataclass

import paramiko

from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.names import capitalized
from sysvmdiag.topology.model import SshEndpoint

# Which host-key algorithms to offer for a pinned key type, so the server shows the pinned key.
# An RSA key is pinned as "ssh-rsa" but signs with SHA-2 only: paramiko no longer accepts SHA-1
# "ssh-rsa" signatures, and offering that name makes the whole offer invalid.
HOST_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}

_NETWORK_ERRORS = (paramiko.SSHException, EOFError, OSError)


@dataclass(frozen=True)
class PinnedKey:
    """A pinned host key split into the two parts we compare exactly."""

    key_type: str
    blob: str

    @classmethod
    def of(cls, endpoint: SshEndpoint, who: str) -> PinnedKey:
        """The endpoint's pin; no pin is a refusal, never a trust-on-first-use."""
        parts = (endpoint.host_key or "").split()
        if len(parts) < 2:
            raise RunnerError(
                RunnerErrorCode.HOST_KEY_MISMATCH,
                f"No host key is pinned for {who}; refusing to connect to an unverified server.",
            )
        return cls(key_type=parts[0], blob=parts[1])

    def matches(self, server_key: paramiko.PKey) -> bool:
        return server_key.get_name() == self.key_type and server_key.get_base64() == self.blob


def key_exchange(
    transport: paramiko.Transport, who: str, step: float, unreachable: RunnerErrorCode, offered: str
) -> paramiko.PKey:
    """Key exchange with the host-key types already set on ``transport``: the server's key, nothing
    authenticated. ``offered`` names those types in the refusal when the server has none of them."""
    transport.banner_timeout = step
    transport.handshake_timeout = step
    try:
        # start_client returns quietly when its timeout passes; get_remote_server_key then raises.
        transport.start_client(timeout=step)
        return transport.get_remote_server_key()
    except paramiko.IncompatiblePeer as exc:
        raise RunnerError(
            RunnerErrorCode.HOST_KEY_MISMATCH, f"{capitalized(who)} does not offer {offered} ({exc})."
        ) from exc
    except _NETWORK_ERRORS as exc:
        raise RunnerError(
            unreachable, f"{capitalized(who)} did not complete an SSH handshake within {step:.1f} s ({exc})."
        ) from exc


def handshake(
    transport: paramiko.Transport, pinned: PinnedKey, who: str, step: float, unreachable: RunnerErrorCode
) -> None:
    """Key exchange offering only the pinned key type, then an exact check of the server key."""
    try:
        transport.get_security_options().key_types = HOST_KEY_ALGORITHMS.get(
            pinned.key_type, (pinned.key_type,)
        )
    except ValueError as exc:
        raise RunnerError(
            RunnerErrorCode.HOST_KEY_MISMATCH,
            f"The key pinned for {who} has an unsupported type {pinned.key_type!r}.",
        ) from exc
    server_key = key_exchange(transport, who, step, unreachable, f"the pinned {pinned.key_type} host key")
    if not pinned.matches(server_key):
        raise RunnerError(
            RunnerErrorCode.HOST_KEY_MISMATCH,
            f"The host key of {who} ({server_key.get_name()} {server_key.fingerprint}) is not the pinned "
            "key; refusing to authenticate or run anything.",
        )


# paramiko raises a plain AuthenticationException with this text when auth_timeout passes.
PARAMIKO_AUTH_TIMEOUT = "Authentication timeout."


def authenticate(
    transport: paramiko.Transport,
    user: str,
    key: paramiko.PKey,
    who: str,
    step: float,
    unreachable: RunnerErrorCode,
) -> None:
    """Public-key auth as ``user``; every way of not getting in is AUTH_FAILED, but a server that did
    not answer within ``step`` (a busy sshd) is ``unreachable``: its key was never rejected."""
    transport.auth_timeout = step
    try:
        transport.auth_publickey(user, key)
    except paramiko.AuthenticationException as exc:
        if str(exc) == PARAMIKO_AUTH_TIMEOUT:
            raise RunnerError(
                unreachable, f"{capitalized(who)} did not answer authentication within {step:g} s."
            ) from exc
        raise RunnerError(
            RunnerErrorCode.AUTH_FAILED, f"{capitalized(who)} rejected the key for user {user}."
        ) from exc
    except _NETWORK_ERRORS as exc:
        raise RunnerError(
            RunnerErrorCode.AUTH_FAILED, f"Authentication as {user} on {who} did not complete: {exc}."
        ) from exc
    if not transport.is_authenticated():
        raise RunnerError(RunnerErrorCode.AUTH_FAILED, f"{capitalized(who)} did not accept user {user}.")


@dataclass(frozen=True)
class Login:
    """Who we log in as on one server and which key it must show: everything a pinned connect needs."""

    pinned: PinnedKey
    user: str
    key: paramiko.PKey
    who: str
    unreachable: RunnerErrorCode  # the code a failed handshake means for this server


def connect_pinned(transport: paramiko.Transport, login: Login, deadline: Deadline, cap: float) -> None:
    """Handshake against the pin, then auth, each step within ``cap``; closes ``transport`` on failure."""
    try:
        handshake(transport, login.pinned, login.who, deadline.step(cap), login.unreachable)
        authenticate(transport, login.user, login.key, login.who, deadline.step(cap), login.unreachable)
    except BaseException:
        transport.close()
        raise
