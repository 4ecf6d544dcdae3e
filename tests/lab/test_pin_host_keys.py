"""``sysvmdiag topology pin-host-keys`` against the lab: real sshd in the namespaces, the real bastion,
moto for the tables and the runner's key secret; the CLI runs as a subprocess, on a pseudo-terminal
when it has to ask.

The zone is loaded from the running lab with one VM's key removed (as a sync leaves a VM whose key it
could not carry over), or with every key pinned and one VM's sshd then rekeyed (``Lab.rekey``; its
original key is put back afterwards, so the shared lab keeps the keys it had).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import paramiko
import pytest

from simvms.lab import Lab
from sysvmdiag.runner import BastionRunner, RunnerError, RunnerErrorCode, parse_private_key, scan_host_key
from sysvmdiag.runner.hostscan import fingerprint_sha256
from sysvmdiag.toolargs import parse_params
from sysvmdiag.topology.loader import apply_lab_status, load_topology_into_tables
from sysvmdiag.topology.model import Host, SshEndpoint, Topology, load_topology
from sysvmdiag.topology.store import TopologyStore

pytestmark = pytest.mark.lab

REPO_ROOT = Path(__file__).resolve().parents[2]
GATEWAY = "203.0.113.1"  # what the VR and the CPVM reach through their public interface
UNPINNED = "vr"  # r-4-VM
REKEYED = "cpvm"  # v-2-VM


@pytest.fixture
def lab_key(lab_status: dict[str, Any]) -> paramiko.PKey:
    return parse_private_key(Path(lab_status["private_key"]).read_text())


@pytest.fixture
def zone(
    make_store: Callable[[], TopologyStore], moto_server: Any, lab_status: dict[str, Any]
) -> Iterator[tuple[TopologyStore, dict[str, str]]]:
    """Tables of this test and the lab's private key as the runner's secret, both on moto, and the
    environment the CLI runs in (everything AWS points at moto; nothing leaves loopback)."""
    store = make_store()
    secret_id = f"pin-host-keys/ssh-private-key-{uuid.uuid4().hex[:8]}"
    secrets = boto3.client("secretsmanager", endpoint_url=moto_server.endpoint_url)
    secrets.create_secret(Name=secret_id, SecretString=Path(lab_status["private_key"]).read_text())
    env = {
        **os.environ,
        "TOPOLOGY_TABLE": store.topology_table.name,
        "ACCOUNTS_TABLE": store.accounts_table.name,
        "SSH_KEY_SECRET_ID": secret_id,
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)]),
    }
    yield store, env
    secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)


def _lab_zone(lab_status: dict[str, Any], *, unpinned: str | None = None) -> Topology:
    """The lab's zone with the keys the lab has now, but none for ``unpinned``."""
    data = apply_lab_status(load_topology(lab_status["topology"]), lab_status).model_dump(mode="json")
    for host in data["hosts"]:
        if host["name"] == unpinned:
            host["ssh"]["host_key"] = None
    return Topology.model_validate(data)


def pin_host_keys(
    env: dict[str, str], *args: str, answers: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it: stdin not a terminal, or (``answers``) a pseudo-terminal on
    which ``answers`` are typed."""
    argv = [sys.executable, "-m", "sysvmdiag.cli", "topology", "pin-host-keys", *args]
    argv += ["--endpoint-url", env["AWS_ENDPOINT_URL"]]
    if answers is None:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120
        )
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        os.close(terminal)
        os.write(controller, answers.encode())
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _stored(store: TopologyStore, name: str) -> Host:
    topology = store.read_topology()
    assert topology is not None
    return topology.system_vm(name)


def _fingerprint(host_key: str) -> str:
    kind, blob = host_key.split()[:2]
    return f"{kind} {fingerprint_sha256(blob)}"


def _ping(store: TopologyStore, key: paramiko.PKey, name: str) -> Any:
    """A diagnostic through the runner, on the endpoint and pins the tables hold."""
    bastion = store.bastion().ssh
    vm = _stored(store, name)
    assert bastion is not None and vm.ssh is not None
    invocation = parse_params("ping", "-c 1", GATEWAY)
    runner = BastionRunner(bastion, key)
    try:
        return runner.run(vm.ssh, invocation.command_line(), timeout=15, vm_label=vm.vm_name)
    finally:
        runner.close()


def _item_digests(store: TopologyStore) -> dict[tuple[str, str], str]:
    items = store.topology_table.scan()["Items"]
    return {(item["pk"], item["sk"]): item.get("digest", "") for item in items}


@contextmanager
def _rekeyed(lab: Lab, host: str) -> Iterator[dict[str, Any]]:
    """``host``'s sshd with a new key (the lab's status as it then is); its original key is put back
    and its sshd restarted with it afterwards, so the shared lab ends with the keys it had."""
    private = lab.paths.hostkey(host)
    public = private.with_name(private.name + ".pub")
    saved = private.read_bytes(), public.read_bytes()
    try:
        yield lab.rekey(host)
    finally:
        lab.stop_sshd(host)
        private.write_bytes(saved[0])
        public.write_bytes(saved[1])
        lab.up()  # restarts the sshd with its original key; known_hosts and status.json follow


def test_scan_host_key_reads_the_vms_real_key_through_the_bastion(lab_status, lab_key) -> None:
    bastion = SshEndpoint(**{k: lab_status["bastion"][k] for k in ("address", "port", "user", "host_key")})
    lab_ssh = lab_status["hosts"][UNPINNED]["ssh"]
    vm = SshEndpoint(address=lab_ssh["address"], port=lab_ssh["port"], user="root", host_key=None)
    scanned = scan_host_key(bastion, lab_key, vm, timeout=15, vm_label="r-4-VM")
    assert scanned.host_key == lab_ssh["host_key"]
    assert f"{scanned.key_type} {scanned.fingerprint_sha256}" == _fingerprint(lab_ssh["host_key"])


def test_yes_pins_the_unpinned_vm_and_the_runner_then_connects(zone, lab_status, lab_key) -> None:
    store, env = zone
    load_topology_into_tables(_lab_zone(lab_status, unpinned=UNPINNED), store)
    with pytest.raises(RunnerError) as refused:
        _ping(store, lab_key, UNPINNED)
    assert refused.value.code is RunnerErrorCode.HOST_KEY_MISMATCH
    before = _item_digests(store)

    proc = pin_host_keys(env, "--yes")

    assert proc.returncode == 0, proc.stderr
    lab_ssh = lab_status["hosts"][UNPINNED]["ssh"]
    vm = _stored(store, UNPINNED)
    assert vm.ssh is not None and vm.ssh.host_key == lab_ssh["host_key"]
    assert f"r-4-VM {lab_ssh['address']}:3922 {_fingerprint(lab_ssh['host_key'])}\n" in proc.stdout
    assert f"pinned r-4-VM {lab_ssh['address']}:3922 {_fingerprint(lab_ssh['host_key'])}" in proc.stdout
    assert "pin this key?" not in proc.stderr
    changed = {key for key, value in _item_digests(store).items() if before.get(key) != value}
    assert {("VM#" + (vm.uuid or ""), "VM"), ("VM#r-4-VM", "VM")} <= changed
    assert {pk for pk, _ in changed} <= {"VM#" + (vm.uuid or ""), "VM#r-4-VM", "INDEX"}, changed
    output = _ping(store, lab_key, UNPINNED)
    assert output.exit_code == 0, output.stderr
    assert "1 packets transmitted, 1 received" in output.stdout

    again = pin_host_keys(env)  # every running VM is pinned now: nothing to ask, even without a terminal
    assert again.returncode == 0, again.stderr
    assert "nothing to scan" in again.stdout


def test_n_on_the_terminal_pins_nothing_and_y_pins_the_scanned_key(zone, lab_status, lab_key) -> None:
    store, env = zone
    load_topology_into_tables(_lab_zone(lab_status, unpinned=UNPINNED), store)
    lab_ssh = lab_status["hosts"][UNPINNED]["ssh"]
    before = _item_digests(store)

    declined = pin_host_keys(env, answers="n\n")
    assert declined.returncode == 0, declined.stderr
    assert "pin this key? [y/N]" in declined.stderr
    assert f"r-4-VM {lab_ssh['address']}:3922 {_fingerprint(lab_ssh['host_key'])}" in declined.stdout
    assert "not pinned (declined): r-4-VM" in declined.stdout
    assert _item_digests(store) == before
    assert _stored(store, UNPINNED).ssh.host_key is None  # type: ignore[union-attr]

    confirmed = pin_host_keys(env, answers="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "pin this key? [y/N]" in confirmed.stderr
    assert _stored(store, UNPINNED).ssh.host_key == lab_ssh["host_key"]  # type: ignore[union-attr]
    assert _ping(store, lab_key, UNPINNED).exit_code == 0


def test_a_rekeyed_vm_is_reported_loudly_and_repinned_only_when_confirmed(
    zone, lab: Lab, lab_status, lab_key
) -> None:
    store, env = zone
    load_topology_into_tables(_lab_zone(lab_status), store)
    old_key = lab_status["hosts"][REKEYED]["ssh"]["host_key"]
    with _rekeyed(lab, REKEYED) as rekeyed:
        new_key = rekeyed["hosts"][REKEYED]["ssh"]["host_key"]
        assert new_key != old_key
        with pytest.raises(RunnerError) as mismatch:
            _ping(store, lab_key, REKEYED)
        assert mismatch.value.code is RunnerErrorCode.HOST_KEY_MISMATCH

        assert "nothing to scan" in pin_host_keys(env).stdout  # pinned (to the old key): not by default

        declined = pin_host_keys(env, "--vm", "v-2-VM", answers="n\n")
        assert declined.returncode == 0, declined.stderr
        assert f"v-2-VM {rekeyed['hosts'][REKEYED]['ssh']['address']}:3922 {_fingerprint(new_key)}" in (
            declined.stdout
        )
        assert "WARNING: THE HOST KEY OF v-2-VM" in declined.stderr and "HAS CHANGED" in declined.stderr
        assert f"pinned now: {_fingerprint(old_key)}" in declined.stderr
        assert _stored(store, REKEYED).ssh.host_key == old_key  # type: ignore[union-attr]

        vm_uuid = _stored(store, REKEYED).uuid or ""
        confirmed = pin_host_keys(env, "--vm", vm_uuid, answers="y\n")
        assert confirmed.returncode == 0, confirmed.stderr
        assert "HAS CHANGED" in confirmed.stderr
        assert _stored(store, REKEYED).ssh.host_key == new_key  # type: ignore[union-attr]
        assert _ping(store, lab_key, REKEYED).exit_code == 0
    assert lab.status()["hosts"][REKEYED]["ssh"]["host_key"] == old_key


def test_without_a_terminal_or_yes_nothing_is_scanned_or_pinned(zone, lab_status) -> None:
    store, env = zone
    load_topology_into_tables(_lab_zone(lab_status, unpinned=UNPINNED), store)
    before = _item_digests(store)
    proc = pin_host_keys(env)
    assert proc.returncode == 2
    assert "stdin is not a terminal" in proc.stderr and "--yes" in proc.stderr
    assert "r-4-VM" not in proc.stdout
    piped = subprocess.run(  # an answer on a pipe is no confirmation either
        [sys.executable, "-m", "sysvmdiag.cli", "topology", "pin-host-keys"],
        input="y\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert piped.returncode == 2 and "stdin is not a terminal" in piped.stderr
    assert _item_digests(store) == before


def test_a_vm_that_cannot_be_scanned_fails_the_command_but_the_others_are_pinned(zone, lab_status) -> None:
    store, env = zone
    data = _lab_zone(lab_status, unpinned=UNPINNED).model_dump(mode="json")
    for host in data["hosts"]:
        if host["name"] == "ssvm":  # an address the bastion may not open tunnels to
            host["ssh"].update(host_key=None, address="169.254.1.254")
    load_topology_into_tables(Topology.model_validate(data), store)
    proc = pin_host_keys(env, "--yes")
    assert proc.returncode == 1
    assert "s-1-VM 169.254.1.254:3922: scan failed: VM_UNREACHABLE" in proc.stderr
    assert "could not pin: s-1-VM" in proc.stderr
    pinned = _stored(store, UNPINNED).ssh
    assert pinned is not None and pinned.host_key == lab_status["hosts"][UNPINNED]["ssh"]["host_key"]
    assert _stored(store, "ssvm").ssh.host_key is None  # type: ignore[union-attr]
