"""Pinned connect: the pin decides what is offered and accepted; every failure has its code."""

from __future__ import annotations

import paramiko
import pytest

from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.pinning import (
    PARAMIKO_AUTH_TIMEOUT,
    Login,
    PinnedKey,
    authenticate,
    connect_pinned,
    handshake,
)
from sysvmdiag.topology.model import SshEndpoint
from tests.unit.runner.fakes import ED25519_PIN, FakeClock, FakeTransport

WHO = "the system VM at 169.254.1.10:3922"
PIN = PinnedKey.of(SshEndpoint(address="169.254.1.10", port=3922, user="root", host_key=ED25519_PIN), WHO)
UNREACHABLE = RunnerErrorCode.VM_UNREACHABLE


def _failure(call) -> RunnerError:
    with pytest.raises(RunnerError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("host_key", [None, "", "ssh-ed25519"])
def test_no_pin_is_a_refusal(host_key: str | None) -> None:
    endpoint = SshEndpoint(address="169.254.1.10", port=3922, user="root", host_key=host_key)
    error = _failure(lambda: PinnedKey.of(endpoint, WHO))
    assert error.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert error.message == f"No host key is pinned for {WHO}; refusing to connect to an unverified server."


def test_a_pinned_key_is_type_and_blob() -> None:
    assert PIN.key_type == "ssh-ed25519" and PIN.blob == ED25519_PIN.split()[1]


def test_the_handshake_offers_only_the_pinned_type_and_accepts_the_pinned_key() -> None:
    transport = FakeTransport(FakeClock())
    handshake(transport, PIN, WHO, 2.5, UNREACHABLE)  # type: ignore[arg-type]
    assert transport.security.key_types == ("ssh-ed25519",)
    assert transport.timeouts == {"banner_timeout": 2.5, "handshake_timeout": 2.5, "start_client": 2.5}


def test_an_rsa_pin_offers_the_sha2_signatures() -> None:
    transport = FakeTransport(FakeClock(), server_key="ssh-rsa AAAArsa")
    handshake(transport, PinnedKey("ssh-rsa", "AAAArsa"), WHO, 1.0, UNREACHABLE)  # type: ignore[arg-type]
    assert transport.security.key_types == ("rsa-sha2-512", "rsa-sha2-256")


def test_an_unsupported_pinned_type_is_a_mismatch() -> None:
    transport = FakeTransport(FakeClock())
    error = _failure(lambda: handshake(transport, PinnedKey("ssh-dss", "AAAA"), WHO, 1.0, UNREACHABLE))  # type: ignore[arg-type]
    assert error.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "unsupported type 'ssh-dss'" in error.message


def test_another_server_key_is_a_mismatch_that_names_it() -> None:
    transport = FakeTransport(FakeClock(), server_key="ssh-ed25519 AAAAother")
    error = _failure(lambda: handshake(transport, PIN, WHO, 1.0, UNREACHABLE))  # type: ignore[arg-type]
    assert error.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert error.message == (
        f"The host key of {WHO} (ssh-ed25519 SHA256:fake) is not the pinned key; "
        "refusing to authenticate or run anything."
    )


def test_a_server_without_the_pinned_type_is_a_mismatch() -> None:
    transport = FakeTransport(FakeClock())
    transport.handshake_error = paramiko.IncompatiblePeer("no matching host key type")
    error = _failure(lambda: handshake(transport, PIN, WHO, 1.0, UNREACHABLE))  # type: ignore[arg-type]
    assert error.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "does not offer the pinned ssh-ed25519 host key" in error.message
    assert error.message.startswith("The system VM at")


@pytest.mark.parametrize("raised", [paramiko.SSHException("no banner"), EOFError(), OSError("reset")])
def test_a_handshake_that_does_not_complete_is_the_callers_unreachable(raised: BaseException) -> None:
    transport = FakeTransport(FakeClock())
    transport.handshake_error = raised
    error = _failure(
        lambda: handshake(transport, PIN, WHO, 1.5, RunnerErrorCode.BASTION_UNREACHABLE)  # type: ignore[arg-type]
    )
    assert error.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert "did not complete an SSH handshake within 1.5 s" in error.message


def test_auth_rejected_not_completed_or_not_accepted_are_auth_failed() -> None:
    transport = FakeTransport(FakeClock())
    transport.auth_error = paramiko.AuthenticationException("denied")
    rejected = _failure(lambda: authenticate(transport, "root", None, WHO, 2.0, UNREACHABLE))  # type: ignore[arg-type]
    assert rejected.message == "The system VM at 169.254.1.10:3922 rejected the key for user root."
    assert transport.timeouts["auth_timeout"] == 2.0
    transport.auth_error = EOFError("gone")
    broken = _failure(lambda: authenticate(transport, "root", None, WHO, 2.0, UNREACHABLE))  # type: ignore[arg-type]
    assert broken.message == f"Authentication as root on {WHO} did not complete: gone."
    transport.auth_error = None
    transport.accept_user = False
    partial = _failure(lambda: authenticate(transport, "root", None, WHO, 2.0, UNREACHABLE))  # type: ignore[arg-type]
    assert partial.message == "The system VM at 169.254.1.10:3922 did not accept user root."
    assert {e.code for e in (rejected, broken, partial)} == {RunnerErrorCode.AUTH_FAILED}


def test_a_server_that_does_not_answer_auth_in_time_is_unreachable_not_a_rejected_key() -> None:
    """paramiko says "Authentication timeout." as it says "denied": a busy sshd is not a wrong key."""
    transport = FakeTransport(FakeClock())
    transport.auth_error = paramiko.AuthenticationException(PARAMIKO_AUTH_TIMEOUT)
    slow = _failure(lambda: authenticate(transport, "root", None, WHO, 2.5, UNREACHABLE))  # type: ignore[arg-type]
    assert slow.code is UNREACHABLE
    assert slow.message == "The system VM at 169.254.1.10:3922 did not answer authentication within 2.5 s."


def test_connect_pinned_logs_in_within_the_step_and_closes_on_failure() -> None:
    clock = FakeClock()
    login = Login(PIN, "root", None, WHO, UNREACHABLE)  # type: ignore[arg-type]
    good = FakeTransport(clock)
    connect_pinned(good, login, Deadline(10, clock), cap=4.0)  # type: ignore[arg-type]
    assert good.is_authenticated() and good.is_active()
    assert good.timeouts["start_client"] == 4.0 and good.timeouts["auth_timeout"] == 4.0
    bad = FakeTransport(clock, server_key="ssh-ed25519 AAAAother")
    with pytest.raises(RunnerError):
        connect_pinned(bad, login, Deadline(10, clock), cap=4.0)  # type: ignore[arg-type]
    assert not bad.is_active() and not bad.is_authenticated()
