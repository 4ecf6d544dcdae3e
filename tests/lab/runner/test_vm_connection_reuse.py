"""The runner keeps one logged-in VM connection per VM endpoint, like an OpenSSH ControlMaster.

Everything runs against the loopback mini-zone of test_hostile_vm.py (real OpenSSH on 127.0.0.1):
its VM sshd logs one "Accepted publickey" per authenticated connection, which is how these tests
count connections independently of the runner's own bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest

from simvms.sshd import SSH_KEYGEN, StatePaths, public_key_text
from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, clear_runners, get_runner
from sysvmdiag.runner import pool as pool_module
from sysvmdiag.runner.deadline import WATCHDOG_GRACE_SECONDS
from tests.lab.runner import test_hostile_vm
from tests.lab.runner.test_hostile_vm import ECHO, SILENT, MiniZone, _descendants

# The loopback bastion + VM of test_hostile_vm.py, shared as a fixture of this module too.
mini_zone = test_hostile_vm.mini_zone

COMMAND = "ping -c 1 127.0.0.1"
# Long enough that eight runs overlap, short enough for a 2-core machine shared by several suites.
OVERLAPPING = "import time\ntime.sleep(1.5)\nprint('done')\n"


def _logins(zone: MiniZone) -> int:
    """Authenticated connections the VM's sshd accepted so far (it logs each one)."""
    deadline = time.monotonic() + 2
    text = zone.vm.log.read_text(errors="replace")
    while time.monotonic() < deadline:  # sshd writes its log line just after answering the auth
        time.sleep(0.1)
        again = zone.vm.log.read_text(errors="replace")
        if again == text:
            break
        text = again
    return text.count("Accepted publickey")


def test_warm_runs_reuse_one_vm_login(mini_zone) -> None:
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        outputs = [runner.run(zone.vm.endpoint, COMMAND, timeout=10) for _ in range(5)]
        assert [o.exit_code for o in outputs] == [3] * 5
        assert all(o.stdout == f"ran {COMMAND}\n" for o in outputs)
        assert _logins(zone) == 1
        (connection,) = runner.connections_to(zone.vm.endpoint)
        assert connection.is_active()
    finally:
        runner.close()
    assert not connection.is_active()
    assert runner.connections_to(zone.vm.endpoint) == []


def test_concurrent_runs_on_one_vm_share_a_connection_up_to_the_session_limit(mini_zone) -> None:
    zone = mini_zone(OVERLAPPING)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    limit = pool_module.MAX_SESSIONS_PER_VM_CONNECTION
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)  # the shared connection exists from here on
        with ThreadPoolExecutor(max_workers=limit) as pool:
            outputs = list(
                pool.map(lambda _: runner.run(zone.vm.endpoint, COMMAND, timeout=15), range(limit))
            )
        assert [o.stdout for o in outputs] == ["done\n"] * limit
        assert len(runner.connections_to(zone.vm.endpoint)) == 1
        assert _logins(zone) == 1
        # One run more than a connection may carry at once opens a second connection.
        with ThreadPoolExecutor(max_workers=limit + 1) as pool:
            outputs = list(
                pool.map(lambda _: runner.run(zone.vm.endpoint, COMMAND, timeout=20), range(limit + 1))
            )
        assert [o.stdout for o in outputs] == ["done\n"] * (limit + 1)
        assert len(runner.connections_to(zone.vm.endpoint)) == 2
        assert _logins(zone) == 2
    finally:
        runner.close()


def test_a_dead_cached_connection_is_replaced_transparently(mini_zone) -> None:
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        assert runner.run(zone.vm.endpoint, COMMAND, timeout=10).exit_code == 3
        (cached,) = runner.connections_to(zone.vm.endpoint)
        cached.sock.close()  # the tunnel under it is gone; the Transport has not noticed yet
        assert runner.run(zone.vm.endpoint, COMMAND, timeout=10).exit_code == 3
        (replacement,) = runner.connections_to(zone.vm.endpoint)
        assert replacement is not cached and replacement.is_active()
        assert _logins(zone) == 2
    finally:
        runner.close()


def test_a_stale_connection_is_retried_once_not_for_ever(mini_zone, monkeypatch) -> None:
    """When the fresh connection also fails to give a session, the run fails: no retry loop."""
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        assert runner.run(zone.vm.endpoint, COMMAND, timeout=10).exit_code == 3
        opened: list[object] = []
        real_open = paramiko.Transport.open_session

        def refusing_open(transport, *args, **kwargs):
            opened.append(transport)
            raise paramiko.SSHException("administratively prohibited")

        monkeypatch.setattr(paramiko.Transport, "open_session", refusing_open)
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
        assert "refused the session" in caught.value.message
        assert len(opened) == 2 and opened[0] is not opened[1]  # the cached one, then one fresh
        monkeypatch.setattr(paramiko.Transport, "open_session", real_open)
        assert runner.run(zone.vm.endpoint, COMMAND, timeout=10).exit_code == 3
    finally:
        runner.close()


def test_a_run_that_was_executing_is_not_retried(mini_zone) -> None:
    """The connection dies under a running tool: the run reports what it got, it is not run twice."""
    zone = mini_zone("import time\nprint('started', flush=True)\ntime.sleep(5)\n")
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        logins = _logins(zone)
        (cached,) = runner.connections_to(zone.vm.endpoint)
        killer = threading.Timer(1.0, cached.close)
        killer.start()
        output = runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        killer.join()
        assert output.exit_code is None and output.stdout == "started\n"
        assert _logins(zone) == logins, "the executing run was retried on a new connection"
    finally:
        runner.close()


def test_an_idle_connection_expires(mini_zone, monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "VM_CONNECTION_IDLE_SECONDS", 1.0)
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (first,) = runner.connections_to(zone.vm.endpoint)
        assert _logins(zone) == 1
        time.sleep(1.5)
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (second,) = runner.connections_to(zone.vm.endpoint)
        assert second is not first
        assert not first.is_active(), "an expired idle connection must be closed, not left open"
        assert _logins(zone) == 2
    finally:
        runner.close()


def test_a_connection_past_its_max_age_is_not_reused_even_if_busy(mini_zone, monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "VM_CONNECTION_MAX_AGE_SECONDS", 1.0)
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (first,) = runner.connections_to(zone.vm.endpoint)
        for _ in range(3):  # kept busy: idleness never expires it, age does
            runner.run(zone.vm.endpoint, COMMAND, timeout=10)
            time.sleep(0.4)
        (current,) = runner.connections_to(zone.vm.endpoint)
        assert current is not first and not first.is_active()
        assert _logins(zone) == 2
    finally:
        runner.close()


def test_a_new_pinned_key_never_reuses_the_old_connection(mini_zone, tmp_path: Path) -> None:
    """Topology reloaded with another key for the VM: the cached connection (verified against the old
    pin) is not used; the new connection checks the new pin, and the real VM key no longer matches."""
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    other = tmp_path / "repinned"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, stdin=subprocess.DEVNULL
    )
    repinned = zone.vm.endpoint.model_copy(update={"host_key": public_key_text(other)})
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (verified,) = runner.connections_to(zone.vm.endpoint)
        with pytest.raises(RunnerError) as caught:
            runner.run(repinned, COMMAND, timeout=10)
        assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
        assert "is not the pinned key" in caught.value.message
        assert runner.connections_to(repinned) == []
        # The connection verified against the superseded pin was retired and closed.
        assert runner.connections_to(zone.vm.endpoint) == []
        assert not verified.is_active()
        assert _logins(zone) == 1
    finally:
        runner.close()


def _rekey_loopback_vm(zone: MiniZone, tmp_path: Path) -> None:
    """Give the loopback VM (our own sshd, never the shared lab's) a new host key: SIGHUP makes sshd
    re-execute itself and load it; connections already made stay up, as with a real sshd restart."""
    key_file = StatePaths(tmp_path / "state").hostkey("vm")
    key_file.unlink()
    Path(f"{key_file}.pub").unlink(missing_ok=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    os.kill(zone.vm.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while zone.vm.log.read_text(errors="replace").count("Server listening on") < 2:
        assert time.monotonic() < deadline, "the loopback VM sshd did not restart after SIGHUP"
        time.sleep(0.05)
    assert public_key_text(key_file) != zone.vm.endpoint.host_key


def test_a_rekeyed_vm_is_a_mismatch_once_its_cached_connection_expires(
    mini_zone, monkeypatch, tmp_path: Path
) -> None:
    """The VM's real key changes behind a cached connection: the next connect sees it."""
    monkeypatch.setattr(pool_module, "VM_CONNECTION_IDLE_SECONDS", 2.0)
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        _rekey_loopback_vm(zone, tmp_path)
        # Still cached and verified: a run within the idle limit reuses it, as ControlMaster would.
        assert runner.run(zone.vm.endpoint, COMMAND, timeout=10).exit_code == 3
        time.sleep(2.5)
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
        assert _logins(zone) == 1
    finally:
        runner.close()


def test_a_rekeyed_vm_that_dropped_its_connections_is_a_mismatch_at_once(mini_zone, tmp_path: Path) -> None:
    """A VM rebuilt or rebooted with a new key drops its connections: the cached one is found dead,
    the run retried on a fresh connection, and that connection meets the new key."""
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (cached,) = runner.connections_to(zone.vm.endpoint)
        _rekey_loopback_vm(zone, tmp_path)
        sessions = _descendants(zone.vm.process.pid)
        assert sessions, "no per-connection sshd process found for the cached connection"
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while cached.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
        assert runner.connections_to(zone.vm.endpoint) == []
    finally:
        runner.close()


def test_runs_waiting_for_a_failed_connect_share_its_answer(mini_zone) -> None:
    """A VM that cannot be logged into fails every waiting run with the same error, promptly."""
    zone = mini_zone(ECHO)
    wrong_user = zone.vm.endpoint.model_copy(update={"user": "nobody-here"})
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(runner.run, wrong_user, COMMAND, 10) for _ in range(4)]
            errors = [f.exception(timeout=15) for f in futures]
    finally:
        runner.close()
    assert [getattr(e, "code", e) for e in errors] == [RunnerErrorCode.AUTH_FAILED] * 4
    assert time.monotonic() - started < 8


def test_a_hung_run_does_not_block_other_runs_on_the_same_vm(mini_zone) -> None:
    zone = mini_zone(SILENT)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        hung_errors: list[RunnerError] = []

        def hang() -> None:
            try:
                runner.run(zone.vm.endpoint, COMMAND, timeout=6)
            except RunnerError as exc:
                hung_errors.append(exc)

        hung = threading.Thread(target=hang, daemon=True)
        hung.start()
        time.sleep(1.0)
        started = time.monotonic()
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, COMMAND, timeout=1.5)
        assert caught.value.code is RunnerErrorCode.TIMEOUT
        assert time.monotonic() - started < 1.5 + WATCHDOG_GRACE_SECONDS
        assert len(runner.connections_to(zone.vm.endpoint)) == 1  # the second run shared it
        hung.join(timeout=10)
        assert not hung.is_alive()
        assert [exc.code for exc in hung_errors] == [RunnerErrorCode.TIMEOUT]
    finally:
        runner.close()


def test_clear_runners_closes_cached_vm_connections(mini_zone) -> None:
    zone = mini_zone(ECHO)
    clear_runners()
    runner = get_runner(zone.bastion.endpoint, lambda: zone.key)
    try:
        runner.run(zone.vm.endpoint, COMMAND, timeout=10)
        (connection,) = runner.connections_to(zone.vm.endpoint)
    finally:
        clear_runners()
    assert not connection.is_active()
    assert runner.transport is None
