"""Each fault gives its clear error code and one audit record, leaves nothing running on the VM, and
the next request succeeds once the fault is gone. All on the private fault lab (see conftest)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sysvmdiag.runner.bastion import WATCHDOG_GRACE_SECONDS
from tests.faults.zone import VR_UUID, FaultZone, frozen, thaw_after

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


def test_bastion_down(zone: FaultZone) -> None:
    zone.lab.stop_sshd("bastion")
    try:
        answer = zone.ping()
    finally:
        zone.lab.start_sshd("bastion")
    assert_failed_with(zone, answer, 502, "BASTION_UNREACHABLE")
    assert "Could not connect to the bastion" in answer.body["message"]
    zone.wait_vm_idle()
    assert_succeeds(zone)


def test_bastion_frozen_for_the_whole_budget(zone: FaultZone) -> None:
    """The bastion's listener accepts TCP (the kernel's backlog) but never speaks."""
    started = time.monotonic()
    with frozen(zone.sshd_pid("bastion")):
        answer = zone.ping()  # worst case 1 s: a 4 s budget
    assert time.monotonic() - started < 4 + WATCHDOG_GRACE_SECONDS + 2
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


def test_vm_sshd_down(zone: FaultZone) -> None:
    zone.lab.stop_sshd("vr")
    try:
        answer = zone.ping()
    finally:
        zone.lab.start_sshd("vr")
    assert_failed_with(zone, answer, 502, "VM_UNREACHABLE")
    assert "The bastion could not reach the system VM" in answer.body["message"]
    zone.wait_vm_idle()
    assert_succeeds(zone)


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
