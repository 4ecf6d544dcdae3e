"""Each fault gives its clear error code and one audit record, leaves nothing running on the VM, and
the next request succeeds once the fault is gone. All on the private fault lab (see conftest)."""

from __future__ import annotations

import pytest

from tests.faults.conftest import FaultZone

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
