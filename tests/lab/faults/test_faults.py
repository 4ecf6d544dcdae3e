"""Each fault gives its clear error code and one audit record, leaves nothing running on the VM, and
the next request succeeds once the fault is gone. All on the private fault lab (see conftest)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from sysvmdiag.config import Settings
from sysvmdiag.errors import ErrorCode
from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.pipeline.origin import CONNECT_ALLOWANCE_SECONDS, RunTimes
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.runner import BastionRunner, RunOutput, get_runner, load_private_key
from sysvmdiag.runner.bastion import WATCHDOG_GRACE_SECONDS
from sysvmdiag.topology.model import SshEndpoint
from tests.lab.faults.zone import (
    VR_UUID,
    WEB,
    Answer,
    DynamoDbThrottle,
    FaultZone,
    frozen,
    thaw_after,
)
from tests.lambdas import fresh_process

pytestmark = pytest.mark.lab


def assert_succeeds(zone: FaultZone) -> None:
    answer = zone.ping()
    assert answer.status == 200, answer.body
    assert answer.body["success"] is True and answer.body["exitCode"] == 0
    record = zone.audit_record(answer.request_id)
    assert (record.decision, record.status, record.error_code) == ("allowed", "succeeded", None)


def test_baseline_request_succeeds(zone: FaultZone) -> None:
    assert_succeeds(zone)
    zone.wait_vm_idle()


def assert_failed_with(zone: FaultZone, answer, status: int, code: str) -> None:
    """The API's status and code, and the request's one audit record carrying the same code."""
    assert (answer.status, answer.code) == (status, code), answer.body
    assert "Traceback" not in answer.body.get("message", "")
    record = zone.audit_record(answer.request_id)
    assert (record.decision, record.status, record.error_code) == ("allowed", "failed", code)
    assert record.vm_uuid == VR_UUID


# -- the bastion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "code", "message"),
    [
        ("bastion", "BASTION_UNREACHABLE", "Could not connect to the bastion"),
        ("vr", "VM_UNREACHABLE", "The bastion could not reach the system VM"),
    ],
    ids=["bastion_down", "vm_sshd_down"],
)
def test_sshd_down(zone: FaultZone, host: str, code: str, message: str) -> None:
    """The bastion's or the VM's sshd stopped: 502 with the hop that failed."""
    zone.lab.stop_sshd(host)
    try:
        answer = zone.ping()
    finally:
        zone.lab.start_sshd(host)
    assert_failed_with(zone, answer, 502, code)
    assert message in answer.body["message"]
    zone.wait_vm_idle()
    assert_succeeds(zone)


def test_bastion_frozen_for_the_whole_budget(zone: FaultZone) -> None:
    """The bastion's listener accepts TCP (the kernel's backlog) but never speaks: its connect attempts
    (4 s each, with backoff) take the run's budget and its connect allowance, and no more."""
    started = time.monotonic()
    with frozen(zone.sshd_pid("bastion")):
        answer = zone.ping()  # worst case 1 s: a 4 s budget, moved back by up to 10 s while connecting
    longest = RunTimes(1.0).longest
    assert longest == 4 + CONNECT_ALLOWANCE_SECONDS
    assert time.monotonic() - started < longest + WATCHDOG_GRACE_SECONDS + 2
    assert_failed_with(zone, answer, 502, "BASTION_UNREACHABLE")
    assert "did not complete an SSH handshake" in answer.body["message"]
    zone.wait_vm_idle()
    assert_succeeds(zone)


def test_bastion_slow_to_accept_is_still_served(zone: FaultZone) -> None:
    """A bastion stalled for a second (well inside the 4 s connect step) only makes the run slower."""
    pid = zone.sshd_pid("bastion")
    os.kill(pid, signal.SIGSTOP)
    thaw = thaw_after(pid, 1.0)
    try:
        started = time.monotonic()
        answer = zone.ping()
    finally:
        thaw.join()
        os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - started >= 1.0
    assert answer.status == 200 and answer.body["success"] is True, answer.body
    assert zone.audit_record(answer.request_id).status == "succeeded"
    zone.wait_vm_idle()


# -- the VM's sshd ---------------------------------------------------------------------------------------


def test_vm_sshd_hangs_after_connect(zone: FaultZone) -> None:
    """The VM's sshd takes the connection (kernel backlog) and then never answers the handshake."""
    started = time.monotonic()
    with frozen(zone.sshd_pid("vr")):
        answer = zone.ping("-c 1 -w 5")  # worst case 5 s: an 8 s budget, longer than the 4 s step
    assert time.monotonic() - started < 8
    assert_failed_with(zone, answer, 502, "VM_UNREACHABLE")
    assert "did not complete an SSH handshake" in answer.body["message"]
    zone.wait_vm_idle()
    assert_succeeds(zone)


def _session_sshd_of(pid: int) -> int:
    """The sshd process serving the SSH connection that started ``pid`` (its nearest sshd ancestor)."""
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
            return pid
    pytest.fail("the VM-side program has no sshd ancestor")


def test_vm_session_hangs_after_the_command_was_sent(zone: FaultZone) -> None:
    """The VM's sshd serving our connection freezes once the command runs: nothing more comes back."""
    # About 0.4 s on the VM (time to catch it), worst case ceil(2 * 0.2 + 1) = 2 s: a 5 s budget.
    worker, answers = _post_in_background(zone, "-c 3 -i 0.2 -W 1")
    session = _session_sshd_of(_wait_for_vmside(zone))
    with frozen(session):
        worker.join(timeout=5 + WATCHDOG_GRACE_SECONDS + 5)
        assert not worker.is_alive(), "the API kept waiting on a frozen VM session past its budget"
    (answer,) = answers
    assert_failed_with(zone, answer, 504, "TIMEOUT")
    zone.wait_vm_idle()
    assert_succeeds(zone)


def test_vm_host_key_changed(zone: FaultZone) -> None:
    before = len(zone.run_log())
    zone.lab.rekey("vr")
    answer = zone.ping()
    assert_failed_with(zone, answer, 502, "HOST_KEY_MISMATCH")
    assert "is not the pinned key" in answer.body["message"]
    assert len(zone.run_log()) == before, "nothing may run on a VM whose host key is not the pinned one"
    zone.wait_vm_idle()
    zone.reload_topology()  # the operator pins the VM's new key
    assert_succeeds(zone)


# -- the tool --------------------------------------------------------------------------------------------


def _post_in_background(zone: FaultZone, params: str) -> tuple[threading.Thread, list[Answer]]:
    answers: list[Answer] = []
    worker = threading.Thread(target=lambda: answers.append(zone.ping(params)), daemon=True)
    worker.start()
    return worker, answers


def test_tool_runs_past_its_timeout(zone: FaultZone) -> None:
    """A tool that stops making progress (frozen on the VM) is cut at the run's budget and killed."""
    params = "-c 10 -i 0.2 -W 1"  # worst case ceil(9 * 0.2 + 1) = 3 s: a 6 s budget
    worker, answers = _post_in_background(zone, params)
    ping = zone.wait_for_tool("vr", "ping")
    os.kill(ping, signal.SIGSTOP)  # left stopped: the VM side must kill it (SIGTERM stays pending, SIGKILL)
    try:
        worker.join(timeout=6 + WATCHDOG_GRACE_SECONDS + 5)
        assert not worker.is_alive(), "the API kept waiting on a hung tool past its budget"
        zone.wait_vm_idle()
    finally:
        if zone.processes("vr").get(ping, [""])[0].endswith("ping"):  # only if the test failed
            os.kill(ping, signal.SIGCONT)
    (answer,) = answers
    assert_failed_with(zone, answer, 504, "TIMEOUT")
    last = zone.run_log()[-1]
    assert last["argv"][0] == "ping" and last["outcome"].startswith("client gone"), last
    assert_succeeds(zone)


class CappedRunner:
    """The real runner with a small output cap, so a few lines of ping are a flood."""

    def __init__(self, runner: BastionRunner, output_cap: int):
        self._runner = runner
        self._output_cap = output_cap

    def run(
        self, vm: SshEndpoint, command: str, timeout: float, *, connect_allowance: float = 0.0
    ) -> RunOutput:
        return self._runner.run(
            vm, command, timeout, output_cap=self._output_cap, connect_allowance=connect_allowance
        )


def _service_with_output_cap(output_cap: int) -> DiagnosticsService:
    """The API's service as the composition root wires it, with the runner's output cap lowered."""
    from sysvmdiag import bootstrap

    settings = Settings.from_env()

    def runner_for(bastion: SshEndpoint) -> CappedRunner:
        runner = get_runner(bastion, lambda: load_private_key(settings.ssh_key_secret_id))
        return CappedRunner(runner, output_cap)

    return bootstrap.service(settings, runner_for=runner_for)


def test_tool_floods_output(zone: FaultZone, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap the runner stops reading and hangs up; the VM side kills the tool at once."""
    from functions.api import app as api_app

    # Left alone the tool runs 19 s (20 replies 1 s apart) and prints 1.3 KB; the cap is reached at its
    # second reply, about 1 s in. The bounds below sit halfway to the tool's own end, so the service's
    # set-up on a loaded machine (a cold bootstrap, the key, the bastion) cannot decide the outcome; the
    # VM side's own record says why the tool ended.
    cap = 160
    monkeypatch.setattr(api_app, "_service", lambda: _service_with_output_cap(cap))
    started = time.monotonic()
    answer = zone.ping("-c 20 -i 1 -W 1")
    elapsed = time.monotonic() - started
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["truncated"] is True and body["exitCode"] is None and body["success"] is False
    assert len(body["stdout"].encode()) + len(body["stderr"].encode()) <= cap
    assert elapsed < 10, "the cap should end the run long before the tool would have"
    record = zone.audit_record(answer.request_id)
    assert (record.decision, record.status, record.exit_code) == ("allowed", "failed", None)
    zone.wait_vm_idle()
    last = zone.run_log()[-1]
    assert last["argv"][0] == "ping" and last["outcome"].startswith("client gone"), last
    assert last["duration_ms"] < 10_000, "the tool must die when the runner hangs up, not run to its end"
    monkeypatch.undo()
    assert_succeeds(zone)


# -- AWS ---------------------------------------------------------------------------------------------------


@pytest.fixture
def throttled_dynamodb(zone: FaultZone, monkeypatch: pytest.MonkeyPatch) -> Callable[..., DynamoDbThrottle]:
    """Install a throttle on the boto3 session the service's clients are made from (a fresh one)."""

    def install(tables: set[str], times: int | None = None, max_attempts: int | None = None):
        if max_attempts is not None:
            monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(max_attempts))
        session = boto3.Session()
        throttle = DynamoDbThrottle(tables, times)
        session.events.register("before-send.dynamodb", throttle)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        return throttle

    return install


def test_dynamodb_throttling_is_absorbed_by_retries(zone: FaultZone, throttled_dynamodb) -> None:
    """A few ProvisionedThroughputExceeded answers: botocore's backoff retries, the request succeeds."""
    throttle = throttled_dynamodb(
        {zone.tables["LIMITS_TABLE"], zone.tables["TOPOLOGY_TABLE"], zone.tables["AUDIT_TABLE"]}, times=3
    )
    answer = zone.ping()
    assert throttle.throttled == 3
    assert answer.status == 200 and answer.body["success"] is True, answer.body
    assert zone.audit_record(answer.request_id).status == "succeeded"
    zone.wait_vm_idle()


def test_dynamodb_throttling_beyond_retries_is_a_clear_503(zone: FaultZone, throttled_dynamodb) -> None:
    """The topology and limits tables throttle every call (the audit table still takes writes)."""
    throttle = throttled_dynamodb(
        {zone.tables["LIMITS_TABLE"], zone.tables["TOPOLOGY_TABLE"]}, max_attempts=3
    )
    answer = zone.ping()
    assert throttle.throttled >= 3
    assert answer.status == 503 and answer.code and "Retry-After" in answer.headers, answer.body
    assert zone.audit_record(answer.request_id).reason_code == answer.code
    zone.wait_vm_idle()


def test_dynamodb_recovers_after_throttling(zone: FaultZone) -> None:
    """Runs after the throttling tests: a fresh process on an unthrottled DynamoDB just works."""
    assert_succeeds(zone)


def _assert_key_unavailable(zone: FaultZone, answer: Answer) -> None:
    status = int(ErrorCode.SSH_KEY_UNAVAILABLE.status)
    assert_failed_with(zone, answer, status, "SSH_KEY_UNAVAILABLE")
    assert "nothing ran" in answer.body["message"]
    assert "PRIVATE KEY" not in answer.body["message"]


def test_secret_missing(zone: FaultZone) -> None:
    secrets = boto3.client("secretsmanager")
    before = len(zone.run_log())
    secrets.delete_secret(SecretId=zone.secret_id, ForceDeleteWithoutRecovery=True)
    try:
        answer = zone.ping()
    finally:
        secrets.create_secret(Name=zone.secret_id, SecretString=zone.lab.paths.private_key.read_text())
    _assert_key_unavailable(zone, answer)
    assert zone.secret_id in answer.body["message"] or "ResourceNotFound" in answer.body["message"]
    assert len(zone.run_log()) == before
    assert_succeeds(zone)  # powertools caches no failure: the restored secret is read on the next request


def test_secrets_manager_unreachable(zone: FaultZone, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets Manager's endpoint refuses connections (a closed loopback port)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{free_loopback_port()}")
    answer = zone.ping()
    _assert_key_unavailable(zone, answer)
    assert "Could not connect to the endpoint URL" in answer.body["message"]
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    fresh_process()  # the endpoint is read when the client is made
    assert_succeeds(zone)


# -- the network ---------------------------------------------------------------------------------------------

R1 = "203.0.113.1"
R2 = "198.51.100.2"
TRACEROUTE = {"targetId": VR_UUID, "type": "traceroute", "ipAddress": WEB, "params": "-q 1 -w 2 -m 5"}


def _switch_port(zone: FaultZone, host: str, interface: str) -> str:
    """The switch-side end of a host's veth: setting it down is pulling the cable between two hops."""
    (iface,) = [i for i in zone.lab.plan.hosts[host].interfaces if i.name == interface]
    return iface.peer


def _set_link(zone: FaultZone, port: str, state: str) -> None:
    subprocess.run(["ip", "-n", zone.lab.plan.switch_namespace, "link", "set", port, state], check=True)


def _wait_for_path(zone: FaultZone, host: str, address: str, within: float = 10.0) -> float:
    """Seconds until ``host`` reaches ``address`` again (a lab-internal ping, one per second)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        probe = zone.lab.exec(host, ["ping", "-n", "-c", "1", "-W", "1", address], capture_output=True)
        if probe.returncode == 0:
            return time.monotonic() - started
    pytest.fail(f"{host} still cannot reach {address} {within:g} s after the link came back")


def _wait_for_vmside(zone: FaultZone, within: float = 10.0) -> int:
    """The VM-side program of the run, caught (by polling /proc) before it has started the tool."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for pid, argv in zone.processes("vr").items():
            if "sysvmdiag.vmside" in argv:
                return pid
        time.sleep(0.005)
    pytest.fail(f"the VM-side program never started on vr within {within:g} s")


def _probe_addresses(hop: dict) -> list[str | None]:
    return [probe["address"] for probe in hop["probes"]]


def test_link_between_router_hops_cut_mid_traceroute(zone: FaultZone) -> None:
    """An async traceroute job is running on the VR when the r1-r2 link is cut: the job ends (never
    hangs) with the hop it got and reached false; with the link back, the next traceroute reaches."""
    accepted = zone.post({**TRACEROUTE, "runAsync": True})
    assert accepted.status == 202, accepted.body
    job_id = accepted.body["id"]
    port = _switch_port(zone, "r1", "eth1")  # r1's transit link, towards r2
    worker = threading.Thread(target=zone.run_queued_jobs, daemon=True)
    worker.start()
    vmside = _wait_for_vmside(zone)
    try:
        # Hold the run between the SSH session and the tool's start, so the cut lands inside the run.
        with frozen(vmside):
            tools = [argv for argv in zone.processes("vr").values() if argv[:1] == ["/usr/sbin/traceroute"]]
            assert not tools, f"the tool started before the cut could be placed: {tools}"
            _set_link(zone, port, "down")
        worker.join(timeout=2 + 3 + WATCHDOG_GRACE_SECONDS + 10)  # worst case 2 s + SSH overhead
        assert not worker.is_alive(), "the worker hung on a traceroute over a cut link"
    finally:
        _set_link(zone, port, "up")
    job = zone.job(job_id)
    assert job["status"] in ("failed", "succeeded"), job
    result = job["result"]["result"]
    assert result["reached"] is False, result
    assert _probe_addresses(result["hops"][0]) == [R1]
    assert all(_probe_addresses(hop) == [None] for hop in result["hops"][1:]), result["hops"]
    assert job["status"] == "failed" and job["result"]["success"] is False
    record = zone.audit_record(accepted.request_id)
    assert (record.mode, record.job_id, record.status) == ("async", job_id, "failed")
    zone.wait_vm_idle()
    assert not zone.lab.problems(), "the link did not come back as the lab plans it"
    _wait_for_path(zone, "r1", R2)  # the fault is gone once the hops talk again (ARP, bridge port)
    again = zone.post(TRACEROUTE)
    assert again.status == 200, again.body
    assert again.body["result"]["reached"] is True and again.body["success"] is True, again.body["stdout"]
    assert [_probe_addresses(hop) for hop in again.body["result"]["hops"]] == [[R1], [R2], [WEB]]
