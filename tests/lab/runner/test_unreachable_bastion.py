"""Bastion failures that need no lab: everything here stays on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import NamedTuple

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, clear_runners, get_runner
from sysvmdiag.runner.keys import parse_private_key
from sysvmdiag.runner.tunnel import FIRST_BACKOFF_SECONDS
from sysvmdiag.topology.model import SshEndpoint

VM = SshEndpoint(
    address="169.254.1.10", port=3922, user="root", host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"
)


def _fresh_key():
    return parse_private_key(
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


def _random_host_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _closed_loopback_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentListener(NamedTuple):
    port: int
    connected: threading.Event  # set once a client's TCP connection is accepted


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    """A loopback port that accepts TCP but never speaks SSH, like a hung bastion."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()
    connected = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield SilentListener(server.getsockname()[1], connected)
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_closed_bastion_port_is_bastion_unreachable_after_backoff_retries() -> None:
    bastion = SshEndpoint(
        address="127.0.0.1", port=_closed_loopback_port(), user="root", host_key=_random_host_key()
    )
    runner = BastionRunner(bastion, _fresh_key(), connect_attempts=3)
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=5)
    elapsed = time.monotonic() - started
    assert caught.value.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert f"127.0.0.1:{bastion.port}" in caught.value.message
    # Three attempts separated by the two backoffs (0.2 s, 0.4 s), well within the 5 s budget.
    assert 3 * FIRST_BACKOFF_SECONDS <= elapsed < 3.0
    assert runner.transport is None


def test_budget_too_small_to_retry_fails_at_once() -> None:
    bastion = SshEndpoint(
        address="127.0.0.1", port=_closed_loopback_port(), user="root", host_key=_random_host_key()
    )
    runner = BastionRunner(bastion, _fresh_key(), connect_attempts=5)
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=0.5)
    assert caught.value.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert time.monotonic() - started < 0.5


def test_bastion_that_never_speaks_ssh_is_unreachable_within_the_budget(
    silent_listener: SilentListener,
) -> None:
    bastion = SshEndpoint(
        address="127.0.0.1", port=silent_listener.port, user="root", host_key=_random_host_key()
    )
    runner = BastionRunner(bastion, _fresh_key(), connect_timeout=1.0, connect_attempts=2)
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=4)
    elapsed = time.monotonic() - started
    assert caught.value.code is RunnerErrorCode.BASTION_UNREACHABLE
    assert "handshake" in caught.value.message
    assert elapsed < 4.5


def test_no_pinned_bastion_key_refuses_before_connecting(silent_listener: SilentListener) -> None:
    bastion = SshEndpoint(address="127.0.0.1", port=silent_listener.port, user="root", host_key=None)
    with pytest.raises(RunnerError) as caught:
        BastionRunner(bastion, _fresh_key()).run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=3)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "No host key is pinned" in caught.value.message


def test_get_runner_caches_per_bastion_and_key() -> None:
    clear_runners()
    bastion = SshEndpoint(
        address="127.0.0.1", port=_closed_loopback_port(), user="root", host_key=_random_host_key()
    )
    other = bastion.model_copy(update={"port": bastion.port + 1})
    key, rotated = _fresh_key(), _fresh_key()
    try:
        first = get_runner(bastion, lambda: key)
        assert get_runner(bastion, lambda: key) is first
        assert get_runner(other, lambda: key) is not first
        # A rotated key replaces the runner for that bastion.
        replaced = get_runner(bastion, lambda: rotated)
        assert replaced is not first
        assert replaced.private_key is rotated
        assert get_runner(bastion, lambda: rotated) is replaced
    finally:
        clear_runners()


def test_a_run_waiting_for_anothers_bastion_connect_keeps_its_own_budget(
    silent_listener: SilentListener,
) -> None:
    """Runs share one bastion connection; a short run must not wait out a long run's connect attempts."""
    bastion = SshEndpoint(
        address="127.0.0.1", port=silent_listener.port, user="root", host_key=_random_host_key()
    )
    runner = BastionRunner(bastion, _fresh_key(), connect_timeout=4.0, connect_attempts=3)
    long_failures: list[RunnerError] = []

    def long_connect() -> None:
        try:
            runner.run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=8)
        except RunnerError as exc:
            long_failures.append(exc)

    long_run = threading.Thread(target=long_connect, daemon=True)
    long_run.start()
    # Once the listener has its connection, the long run holds the connect lock, stuck in a handshake.
    assert silent_listener.connected.wait(timeout=10), "the long run never connected"
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(VM, "ping -n -c 1 -w 2 203.0.113.1", timeout=1.0)
    elapsed = time.monotonic() - started
    long_run.join(timeout=15)
    assert [exc.code for exc in long_failures] == [RunnerErrorCode.BASTION_UNREACHABLE]
    assert elapsed < 1.5, f"the 1 s run took {elapsed:.1f} s waiting for another run's connect"
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert f"127.0.0.1:{silent_listener.port}" in caught.value.message
