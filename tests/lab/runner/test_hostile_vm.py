"""The runner against a hostile or broken VM: real OpenSSH on 127.0.0.1 only, no lab needed.

Two private sshd processes listen on loopback ports: a bastion whose key may only open a forward to
the VM's port, and a "VM" whose forced command misbehaves in the way a test asks (floods stdout and
stderr, never answers). The runner's cap and deadline must hold whatever the VM sends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from simvms.sshd import SSH_KEYGEN, SSHD, SshdSpec, StatePaths, public_key_text, sshd_config_text
from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, parse_private_key
from sysvmdiag.runner.deadline import WATCHDOG_GRACE_SECONDS
from sysvmdiag.topology.model import SshEndpoint

USER = "root"

# Forced commands for the misbehaving VM (the request itself is ignored: this is the VM's program).
FLOOD = "import os\nchunk = b'x' * 65536\nwhile True:\n    os.write(1, chunk)\n    os.write(2, chunk)\n"
SILENT = "import time\ntime.sleep(600)\n"
ECHO = "import os, sys\nprint('ran', os.environ.get('SSH_ORIGINAL_COMMAND'))\nsys.exit(3)\n"


@dataclass
class LoopbackSshd:
    """One sshd we started on 127.0.0.1: its endpoint for the runner and its process."""

    endpoint: SshEndpoint
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _start_sshd(
    paths: StatePaths, name: str, key_options: str, extra: tuple[str, ...], host_key_type: str = "ed25519"
) -> LoopbackSshd:
    """sshd in the test's own network namespace (the host's), bound to loopback only."""
    port = free_loopback_port()
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", host_key_type, "-N", "", "-C", name, "-f", str(paths.hostkey(name))],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    spec = SshdSpec(
        host=name,
        namespace="(none)",
        address="127.0.0.1",
        port=port,
        user=USER,
        key_options=key_options,
        extra_config=extra,
    )
    paths.sshd.mkdir(parents=True, exist_ok=True)
    paths.sshd_config(name).write_text(sshd_config_text(spec, paths))
    pubkey = paths.public_key.read_text().strip()
    paths.authorized_keys(name).write_text(f"{key_options} {pubkey}\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = paths.sshd_log(name)
    log.write_text("")
    process = subprocess.Popen(
        [SSHD, "-D", "-f", str(paths.sshd_config(name)), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while "Server listening on" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"loopback sshd {name} did not start: {log.read_text()[-500:]}")
        time.sleep(0.02)
    endpoint = SshEndpoint(
        address="127.0.0.1", port=port, user=USER, host_key=public_key_text(paths.hostkey(name))
    )
    return LoopbackSshd(endpoint=endpoint, process=process, log=log)


@dataclass
class MiniZone:
    bastion: LoopbackSshd
    vm: LoopbackSshd
    key: paramiko.PKey


@pytest.fixture
def mini_zone(tmp_path: Path) -> Iterator[Callable[[str], MiniZone]]:
    """Build a loopback bastion + VM whose forced command runs the given Python program."""
    if not (Path(SSHD).exists() and shutil.which(SSH_KEYGEN)):
        pytest.fail("these tests need OpenSSH: apt-get install openssh-server openssh-client")
    started: list[LoopbackSshd] = []

    def build(vm_program: str, host_key_type: str = "ed25519") -> MiniZone:
        paths = StatePaths(tmp_path / "state")
        paths.keys.mkdir(parents=True)
        paths.hostkeys.mkdir(parents=True)
        subprocess.run(
            [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(paths.private_key)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        program = tmp_path / "vm_program.py"
        program.write_text(vm_program)
        vm = _start_sshd(
            paths,
            "vm",
            f'restrict,command="{sys.executable} -I {program}"',
            ("AllowTcpForwarding no",),
            host_key_type,
        )
        started.append(vm)
        target = f"127.0.0.1:{vm.endpoint.port}"
        bastion = _start_sshd(
            paths,
            "bastion",
            f'restrict,port-forwarding,permitopen="{target}",command="/bin/false"',
            ("AllowTcpForwarding local", f"PermitOpen {target}", "PermitListen none"),
            host_key_type,
        )
        started.append(bastion)
        return MiniZone(bastion=bastion, vm=vm, key=parse_private_key(paths.private_key.read_text()))

    yield build
    for sshd in started:
        sshd.stop()


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def test_flooding_vm_is_cut_at_the_cap_promptly(mini_zone) -> None:
    zone = mini_zone(FLOOD)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    cap = 64 * 1024
    result: list[object] = []

    def run() -> None:
        try:
            result.append(runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10, output_cap=cap))
        except RunnerError as exc:
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=10 + WATCHDOG_GRACE_SECONDS + 5)
    try:
        assert not worker.is_alive(), "the runner kept reading a flooding VM past its deadline"
        (output,) = result
        assert not isinstance(output, RunnerError), output
        assert output.truncated and output.exit_code is None
        assert len(output.stdout) + len(output.stderr) == cap
        assert time.monotonic() - started < 5, "the cap should stop the read within a few packets"
    finally:
        runner.close()


def test_flooding_vm_never_makes_the_runner_hold_much_more_than_the_cap(mini_zone) -> None:
    zone = mini_zone(FLOOD)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    before = _peak_rss_kib()
    try:
        output = runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10, output_cap=256 * 1024)
    finally:
        runner.close()
    assert output.truncated
    # Allow paramiko's windows and buffers (a few MiB), not an unbounded accumulation.
    assert _peak_rss_kib() - before < 32 * 1024


def test_vm_that_never_answers_is_a_timeout_within_the_budget(mini_zone) -> None:
    zone = mini_zone(SILENT)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    started = time.monotonic()
    try:
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=3)
    finally:
        runner.close()
    assert caught.value.code is RunnerErrorCode.TIMEOUT
    assert time.monotonic() - started < 3 + WATCHDOG_GRACE_SECONDS + 1


def test_rsa_host_keys_pinned_in_the_topology_are_verified_and_accepted(mini_zone) -> None:
    """CloudStack's system VMs often have RSA host keys: the pin must work with rsa-sha2 signatures
    (paramiko no longer accepts SHA-1 ``ssh-rsa`` signatures) rather than fail as an 'unsupported type'."""
    zone = mini_zone(ECHO, host_key_type="rsa")
    assert zone.bastion.endpoint.host_key.startswith("ssh-rsa ")
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        output = runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10)
    finally:
        runner.close()
    assert (output.exit_code, output.stdout) == (3, "ran ping -c 1 127.0.0.1\n")


def test_rsa_pin_against_another_rsa_key_is_a_mismatch(mini_zone, tmp_path: Path) -> None:
    zone = mini_zone(ECHO, host_key_type="rsa")
    other = tmp_path / "other_rsa"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "rsa", "-N", "", "-f", str(other)], check=True, stdin=subprocess.DEVNULL
    )
    bastion = zone.bastion.endpoint.model_copy(update={"host_key": public_key_text(other)})
    runner = BastionRunner(bastion, zone.key)
    try:
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10)
    finally:
        runner.close()
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert "is not the pinned key" in caught.value.message


def _public_key_of_type(tmp_path: Path, key_type: str) -> str:
    path = tmp_path / f"pin_{key_type}"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-f", str(path)], check=True, stdin=subprocess.DEVNULL
    )
    return public_key_text(path)


@pytest.mark.parametrize(
    "pin",
    [
        "ecdsa",
        "rsa",
        "ssh-dss AAAAB3NzaC1kc3M",
        "x509v3-sign-rsa AAAA",
        "ssh-ed25519-cert-v01@openssh.com AAAA",
    ],
)
def test_bastion_pinned_with_another_key_type_gets_no_authentication_attempt(
    mini_zone, tmp_path: Path, pin: str
) -> None:
    """The server's key of another type is never accepted, and our key is never offered to it."""
    zone = mini_zone(ECHO)
    host_key = _public_key_of_type(tmp_path, pin) if pin in ("ecdsa", "rsa") else pin
    runner = BastionRunner(zone.bastion.endpoint.model_copy(update={"host_key": host_key}), zone.key)
    try:
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10)
    finally:
        runner.close()
    assert caught.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    assert runner.transport is None
    time.sleep(0.2)  # let sshd flush its log
    log = zone.bastion.log.read_text()
    assert "Accepted publickey" not in log and "Postponed publickey" not in log, log


def _descendants(parent: int) -> list[int]:
    """Pids below an sshd listener we started (its per-connection processes), read from /proc."""
    found: list[int] = []
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found += [child, *_descendants(child)]
    return found


def test_a_bastion_connection_that_stopped_answering_is_replaced_not_reused(mini_zone) -> None:
    """A warm process must not keep a hung bastion connection (peer frozen, no RST, keepalives pending):
    after a channel open times out on it, the next run connects afresh."""
    zone = mini_zone(ECHO)
    runner = BastionRunner(zone.bastion.endpoint, zone.key, connect_timeout=1.0)
    frozen: list[int] = []
    try:
        assert runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10).exit_code == 3
        hung = runner.transport
        frozen = _descendants(zone.bastion.process.pid)
        assert frozen, "no per-connection sshd process found for the bastion connection"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        with pytest.raises(RunnerError) as caught:
            runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=3)
        assert caught.value.code in (RunnerErrorCode.VM_UNREACHABLE, RunnerErrorCode.TIMEOUT)
        output = runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10)
        assert output.exit_code == 3
        assert runner.transport is not hung
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        runner.close()


SLOW = "import time\ntime.sleep(2)\nprint('finished')\n"


def test_a_retired_bastion_connection_lets_runs_in_flight_finish(mini_zone, monkeypatch) -> None:
    """Retiring a suspect connection (an open that timed out) must not cut other threads' runs:
    new runs connect afresh, runs already on it finish, and it is closed after the grace period."""
    from sysvmdiag.runner import tunnel as tunnel_module

    monkeypatch.setattr(tunnel_module, "RETIRED_TRANSPORT_GRACE_SECONDS", 4.0)
    zone = mini_zone(SLOW)
    runner = BastionRunner(zone.bastion.endpoint, zone.key)
    try:
        results: list[object] = []
        in_flight = threading.Thread(
            target=lambda: results.append(runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10))
        )
        in_flight.start()
        deadline = time.monotonic() + 5
        while runner.transport is None and time.monotonic() < deadline:
            time.sleep(0.05)
        retired = runner.transport
        assert retired is not None
        time.sleep(0.5)  # the in-flight run is now inside its exec on the retired connection
        runner._tunnel.retire(retired)
        fresh = runner.run(zone.vm.endpoint, "ping -c 1 127.0.0.1", timeout=10)
        in_flight.join(timeout=10)
        assert fresh.exit_code == 0 and "finished" in fresh.stdout
        assert runner.transport is not retired
        assert results and results[0].exit_code == 0 and "finished" in results[0].stdout
        deadline = time.monotonic() + 6
        while retired.is_active() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not retired.is_active()
    finally:
        runner.close()
