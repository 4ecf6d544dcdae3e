"""The runner against the real lab: OpenSSH on the bastion and on every system VM, forced command."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, parse_private_key
from sysvmdiag.toolargs import parse_params
from sysvmdiag.topology.model import SshEndpoint

pytestmark = pytest.mark.lab

# Each system VM and an address it reaches through its own public (or shared) gateway.
GATEWAYS = {
    "vr": "203.0.113.1",
    "vpcvr": "203.0.113.1",
    "sharedvr": "10.3.0.1",
    "ssvm": "203.0.113.1",
    "cpvm": "203.0.113.1",
}
RUN_OVERHEAD_SECONDS = 5.0
# A command other engineers' concurrent tests are unlikely to send, so the shared VM-side run logs
# can be searched for exactly our runs.
SENTINEL_PING = "ping -n -c 1 -w 17 203.0.113.1"


def _endpoint(ssh: dict[str, Any]) -> SshEndpoint:
    return SshEndpoint(address=ssh["address"], port=ssh["port"], user=ssh["user"], host_key=ssh["host_key"])


def _current(lab_status: dict[str, Any]) -> dict[str, Any]:
    """The lab's status as last written: other tests (API end-to-end) rekey VMs and re-pin during
    the session, so host keys are read at use time rather than from the session's snapshot."""
    path = Path(lab_status["state_dir"]) / "status.json"
    return json.loads(path.read_text()) if path.exists() else lab_status


def _vm(lab_status: dict[str, Any], name: str) -> SshEndpoint:
    return _endpoint(_current(lab_status)["hosts"][name]["ssh"])


def _random_public_key(private) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _runs_of(lab_status: dict[str, Any], host: str, command: str, after: int) -> list[dict[str, Any]]:
    """Entries for exactly this command logged after the first ``after`` lines."""
    return [e for e in _run_log(lab_status, host)[after:] if e.get("command") == command]


def _run_log(lab_status: dict[str, Any], host: str) -> list[dict[str, Any]]:
    path = Path(lab_status["state_dir"]) / "runs" / f"{host}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _namespace_processes(lab_status: dict[str, Any], host: str) -> list[list[str]]:
    """argv of every process in the host's network namespace (read from /proc, no shell)."""
    namespace = lab_status["hosts"][host]["namespace"]
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=True)
    processes = []
    for pid in pids.stdout.split():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        processes.append([part.decode() for part in raw.split(b"\0") if part])
    return processes


@pytest.fixture
def lab_key(lab_status: dict[str, Any]) -> paramiko.PKey:
    return parse_private_key(Path(lab_status["private_key"]).read_text())


@pytest.fixture
def bastion(lab_status: dict[str, Any]) -> SshEndpoint:
    return _endpoint(_current(lab_status)["bastion"])


@pytest.fixture
def runner(bastion: SshEndpoint, lab_key: paramiko.PKey) -> Iterator[BastionRunner]:
    fresh = BastionRunner(bastion, lab_key)
    yield fresh
    fresh.close()


@pytest.mark.parametrize("vm_name", sorted(GATEWAYS))
def test_ping_from_each_system_vm_to_its_gateway(lab_status, runner: BastionRunner, vm_name: str) -> None:
    invocation = parse_params("ping", "-c 2", GATEWAYS[vm_name])
    output = runner.run(
        _vm(lab_status, vm_name),
        invocation.command_line(),
        timeout=invocation.worst_case_seconds + RUN_OVERHEAD_SECONDS,
        vm_label=vm_name,
    )
    assert output.exit_code == 0, output.stderr
    assert f"PING {GATEWAYS[vm_name]}" in output.stdout
    assert "2 packets transmitted, 2 received" in output.stdout
    assert not output.truncated
    assert 0 < output.duration_ms < (invocation.worst_case_seconds + RUN_OVERHEAD_SECONDS) * 1000


def test_traceroute_from_the_vr_returns_the_hops(lab_status, runner: BastionRunner) -> None:
    invocation = parse_params("traceroute", None, "198.51.100.80")
    output = runner.run(
        _vm(lab_status, "vr"), invocation.command_line(), timeout=invocation.worst_case_seconds + 5
    )
    assert output.exit_code == 0, output.stderr
    hops = [line.split() for line in output.stdout.splitlines()[1:] if line.strip()]
    # vr -> r1 (public gateway) -> r2 (transit) -> web
    assert [hop[1] for hop in hops] == ["203.0.113.1", "198.51.100.2", "198.51.100.80"]


@pytest.mark.parametrize("command", ["id", "ping -c 1 203.0.113.1; id", "ping -c 1 $(id)"])
def test_refused_command_is_the_vm_sides_answer_not_an_exception(lab_status, runner, command) -> None:
    before = len(_run_log(lab_status, "vr"))
    output = runner.run(_vm(lab_status, "vr"), command, timeout=10)
    assert output.exit_code == 126
    assert "refused" in output.stderr
    assert output.stdout == ""
    logged = _run_log(lab_status, "vr")[before:]
    assert any(entry["command"] == command and entry["accepted"] is False for entry in logged)


def test_warm_runs_reuse_the_bastion_transport_and_reconnect_when_it_dies(lab_status, runner) -> None:
    vm = _vm(lab_status, "vr")
    command = parse_params("ping", "-c 1", "203.0.113.1").command_line()
    cold = runner.run(vm, command, timeout=10)
    transport = runner.transport
    assert transport is not None and transport.is_active()
    warm = [runner.run(vm, command, timeout=10) for _ in range(3)]
    assert runner.transport is transport
    assert [cold.exit_code] + [w.exit_code for w in warm] == [0, 0, 0, 0]
    # The cold run paid for TCP + key exchange + auth with the bastion; warm ones do not (the
    # best of three, so a load spike from a concurrent test run does not decide it).
    assert min(w.duration_ms for w in warm) < cold.duration_ms

    transport.close()
    again = runner.run(vm, command, timeout=10)
    assert again.exit_code == 0
    assert runner.transport is not transport
    assert runner.transport is not None and runner.transport.is_active()


def test_a_transport_that_died_under_us_is_replaced_once(lab_status, runner) -> None:
    """is_active() can still say True when the peer is gone: a failed open_channel reconnects."""
    vm = _vm(lab_status, "cpvm")
    command = parse_params("ping", "-c 1", "203.0.113.1").command_line()
    assert runner.run(vm, command, timeout=10).exit_code == 0
    transport = runner.transport
    assert transport is not None
    transport.sock.close()  # the TCP connection drops; the Transport object has not noticed yet
    assert runner.run(vm, command, timeout=10).exit_code == 0
    assert runner.transport is not transport


def test_concurrent_runs_share_one_bastion_transport(lab_status, runner) -> None:
    names = sorted(GATEWAYS)
    runner.run(_vm(lab_status, "vr"), "ping -n -c 1 -w 2 203.0.113.1", timeout=10)
    transport = runner.transport

    def ping(name: str):
        invocation = parse_params("ping", "-c 1", GATEWAYS[name])
        return runner.run(_vm(lab_status, name), invocation.command_line(), timeout=15)

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        outputs = list(pool.map(ping, names * 2))
    assert [o.exit_code for o in outputs] == [0] * len(outputs), [
        (o.exit_code, o.stdout[-200:], o.stderr[-200:], o.duration_ms) for o in outputs
    ]
    assert runner.transport is transport


def test_stopped_vm_sshd_is_vm_unreachable_within_the_budget(lab, lab_status, runner) -> None:
    vm = _vm(lab_status, "cpvm")
    command = parse_params("ping", "-c 1", "203.0.113.1").command_line()
    lab.stop_sshd("cpvm")
    try:
        started = time.monotonic()
        with pytest.raises(RunnerError) as caught:
            runner.run(vm, command, timeout=10, vm_label="cpvm")
        assert time.monotonic() - started < 5
        assert caught.value.code is RunnerErrorCode.VM_UNREACHABLE
        assert "cpvm" in caught.value.message and str(vm.address) in caught.value.message
    finally:
        lab.start_sshd("cpvm")
    # Restored: same pinned key, the same runner works again.
    assert runner.run(vm, command, timeout=10).exit_code == 0


def test_changed_vm_host_key_is_a_mismatch_and_nothing_runs(lab_status, runner) -> None:
    genuine = _vm(lab_status, "cpvm")
    impostor_key = _random_public_key(ed25519.Ed25519PrivateKey.generate())
    before = len(_run_log(lab_status, "cpvm"))
    with pytest.raises(RunnerError) as caught:
        runner.run(genuine.model_copy(update={"host_key": impostor_key}), SENTINEL_PING, timeout=10)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert str(genuine.address) in caught.value.message
    assert _runs_of(lab_status, "cpvm", SENTINEL_PING, before) == []
    # Control: with the genuine pin the same command runs and is logged, so the check above can fail.
    assert runner.run(genuine, SENTINEL_PING, timeout=25).exit_code == 0
    assert len(_runs_of(lab_status, "cpvm", SENTINEL_PING, before)) == 1


def test_vm_host_key_of_another_type_is_a_mismatch(lab_status, runner) -> None:
    pinned_ecdsa = _random_public_key(ec.generate_private_key(ec.SECP256R1()))
    before = len(_run_log(lab_status, "vr"))
    vm = _vm(lab_status, "vr").model_copy(update={"host_key": pinned_ecdsa})
    with pytest.raises(RunnerError) as caught:
        runner.run(vm, SENTINEL_PING, timeout=10)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert _runs_of(lab_status, "vr", SENTINEL_PING, before) == []


def test_changed_bastion_host_key_is_a_mismatch(lab_status, bastion, lab_key) -> None:
    impostor = bastion.model_copy(
        update={"host_key": _random_public_key(ed25519.Ed25519PrivateKey.generate())}
    )
    runner = BastionRunner(impostor, lab_key)
    before = len(_run_log(lab_status, "vr"))
    with pytest.raises(RunnerError) as caught:
        runner.run(_vm(lab_status, "vr"), SENTINEL_PING, timeout=10)
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "bastion" in caught.value.message
    assert runner.transport is None
    assert _runs_of(lab_status, "vr", SENTINEL_PING, before) == []


def test_wrong_private_key_is_auth_failed(lab_status, bastion) -> None:
    stranger = parse_private_key(
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )
    runner = BastionRunner(bastion, stranger)
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(_vm(lab_status, "vr"), "ping -n -c 1 203.0.113.1", timeout=10)
    assert caught.value.code is RunnerErrorCode.AUTH_FAILED
    assert "bastion" in caught.value.message
    assert time.monotonic() - started < 5  # an auth failure is not retried


def test_timeout_stops_the_run_and_the_tool_on_the_vm(lab_status, runner) -> None:
    invocation = parse_params("ping", "-c 19 -i 1 -w 29", "203.0.113.1")
    command = invocation.command_line()
    before = len(_run_log(lab_status, "ssvm"))
    started = time.monotonic()
    with pytest.raises(RunnerError) as caught:
        runner.run(_vm(lab_status, "ssvm"), command, timeout=2, vm_label="ssvm")
    elapsed = time.monotonic() - started
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert "ssvm" in caught.value.message
    # Stopped at its 2 s budget, far short of ping's own twenty seconds (bounds generous for a busy CI).
    assert 2.0 <= elapsed < 6.0

    # The VM side saw the client go, killed ping and logged it; no ping of ours is left running.
    deadline = time.monotonic() + 10
    ours: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not ours:
        ours = _runs_of(lab_status, "ssvm", command, before)
        time.sleep(0.2)
    assert ours, "the VM-side program logged no end for the timed-out run"
    # ping was stopped (SIGPIPE on its next write, or killed by the VM side) about when we closed,
    # not after its twenty seconds.
    assert ours[0]["exit_status"] != 0
    assert ours[0]["duration_ms"] < 5_000
    argv = invocation.argv()
    assert not [p for p in _namespace_processes(lab_status, "ssvm") if p[-len(argv) + 1 :] == argv[1:]]


def test_output_cap_truncates_and_closes(lab_status, runner) -> None:
    command = parse_params("ping", "-c 5", "203.0.113.1").command_line()
    output = runner.run(_vm(lab_status, "vr"), command, timeout=15, output_cap=200)
    assert output.truncated
    assert output.exit_code is None
    assert len(output.stdout.encode()) + len(output.stderr.encode()) <= 200
    assert output.stdout.startswith("PING 203.0.113.1")
    # We stopped reading early: five pings take four seconds.
    assert output.duration_ms < 4000
    # The same bastion connection is still fine for the next run.
    assert runner.run(_vm(lab_status, "vr"), "ping -n -c 1 -w 2 203.0.113.1", timeout=10).exit_code == 0


def test_no_private_key_file_is_needed(lab_status, bastion, tmp_path) -> None:
    """The runner works from the key text alone: nothing is read from or written to a key path."""
    text = Path(lab_status["private_key"]).read_text()
    runner = BastionRunner(bastion, parse_private_key(text))
    try:
        assert runner.run(_vm(lab_status, "vr"), "ping -n -c 1 -w 2 203.0.113.1", timeout=10).exit_code == 0
    finally:
        runner.close()
    assert os.listdir(tmp_path) == []


def test_runs_leak_no_descriptors_or_threads(lab_status, runner) -> None:
    """A warm process runs thousands of times: each run's channel, pipe and VM Transport must go."""
    vm = _vm(lab_status, "vr")
    command = "ping -n -c 1 -w 2 203.0.113.1"
    runner.run(vm, command, timeout=10)  # the bastion connection exists from here on
    descriptors = len(os.listdir("/proc/self/fd"))
    threads = threading.active_count()
    for _ in range(10):
        assert runner.run(vm, command, timeout=10).exit_code == 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and threading.active_count() > threads:
        time.sleep(0.05)  # VM Transport threads finish just after close()
    assert threading.active_count() <= threads
    assert len(os.listdir("/proc/self/fd")) <= descriptors
