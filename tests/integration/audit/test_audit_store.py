"""AuditStore against moto's real server: records, completion, filters, order, pages, TTL and logs."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sysvmdiag.audit import AUDIT_RETENTION_DAYS, AuditRecord, AuditStore
from sysvmdiag.observability import logger

T0 = datetime(2024, 5, 10, 12, 0, 0, 123456, tzinfo=UTC)


def make_record(
    n: int, *, at: datetime | None = None, account: str = "acct-alice", vm: str | None = "vm-1", **fields: Any
) -> AuditRecord:
    values: dict[str, Any] = {
        "id": f"req-{n:03d}",
        "at": at or T0 + timedelta(minutes=n),
        "account_id": account,
        "account_name": account.removeprefix("acct-"),
        "role": "user",
        "domain": "ROOT/acme",
        "target_id": vm,
        "vm_uuid": vm,
        "vm_name": f"r-{n}-VM" if vm else None,
        "type": "ping",
        "ip_address": "10.1.1.10",
        "params": "-c 1",
        "decision": "allowed",
        "mode": "sync",
        "status": "succeeded",
        "exit_code": 0,
        "duration_ms": 1200,
        "source_ip": "203.0.113.9",
        "user_agent": "curl/8",
    }
    values.update(fields)
    return AuditRecord(**values)


def ids(records: list[AuditRecord]) -> list[str]:
    return [record.id for record in records]


def test_record_stores_one_item_with_keys_indexes_and_ttl(audit: AuditStore) -> None:
    record = make_record(1, vm_uuid="uuid-of-vm", target_id="r-4-VM")
    audit.record(record)
    (item,) = audit.table.scan()["Items"]
    assert item["pk"] == "ACCOUNT#acct-alice"
    assert item["sk"] == "2024-05-10T12:01:00.123456Z#req-001"
    assert item["vm_pk"] == "VM#uuid-of-vm"  # the uuid wins over the name the caller used
    assert item["day"] == "2024-05-10"
    expected_ttl = (record.at + timedelta(days=AUDIT_RETENTION_DAYS)).timestamp()
    assert int(item["expires_at"]) == pytest.approx(expected_ttl, abs=1)
    assert AUDIT_RETENTION_DAYS == 90
    assert item["decision"] == "allowed"
    assert item["source_ip"] == "203.0.113.9"
    assert "reason" not in item  # unset fields are not stored as nulls


def test_record_without_vm_has_no_vm_key_and_round_trips(audit: AuditStore) -> None:
    record = make_record(
        2,
        vm=None,
        decision="rejected",
        status="rejected",
        reason_code="INVALID_REQUEST",
        reason="targetId is required.",
        exit_code=None,
        duration_ms=None,
    )
    audit.record(record)
    (item,) = audit.table.scan()["Items"]
    assert "vm_pk" not in item
    records, token = audit.query(account_id="acct-alice")
    assert token is None
    assert records == [record]


def test_ttl_is_about_ninety_days_ahead_of_now(audit: AuditStore) -> None:
    now = datetime.now(UTC)
    audit.record(make_record(1, at=now))
    (item,) = audit.table.scan()["Items"]
    ahead = int(item["expires_at"]) - now.timestamp()
    assert 89.99 * 86400 < ahead <= 90 * 86400


def test_times_are_kept_in_utc(audit: AuditStore) -> None:
    local = datetime(2024, 5, 10, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    audit.record(make_record(1, at=local))
    (item,) = audit.table.scan()["Items"]
    assert item["sk"].startswith("2024-05-11T04:30:00.000000Z#")
    assert item["day"] == "2024-05-11"
    assert audit.query(account_id="acct-alice")[0][0].at == local  # the same instant


def test_query_by_account_is_newest_first_and_only_that_account(audit: AuditStore) -> None:
    for n in (3, 1, 2):
        audit.record(make_record(n))
    audit.record(make_record(4, account="acct-bob"))
    records, token = audit.query(account_id="acct-alice")
    assert ids(records) == ["req-003", "req-002", "req-001"]
    assert token is None
    assert ids(audit.query(account_id="acct-bob")[0]) == ["req-004"]
    assert audit.query(account_id="acct-nobody") == ([], None)


def test_query_by_vm_spans_accounts(audit: AuditStore) -> None:
    audit.record(make_record(1, vm="vm-1"))
    audit.record(make_record(2, vm="vm-2"))
    audit.record(make_record(3, vm="vm-1", account="acct-bob"))
    audit.record(make_record(4, vm=None))
    assert ids(audit.query(vm_id="vm-1")[0]) == ["req-003", "req-001"]
    assert ids(audit.query(vm_id="vm-2")[0]) == ["req-002"]


def test_query_by_time_window_is_inclusive(audit: AuditStore) -> None:
    for n in range(1, 7):
        audit.record(make_record(n))  # T0 + n minutes
    window = {"since": T0 + timedelta(minutes=2), "until": T0 + timedelta(minutes=4)}
    assert ids(audit.query(account_id="acct-alice", **window)[0]) == ["req-004", "req-003", "req-002"]
    assert ids(audit.query(vm_id="vm-1", **window)[0]) == ["req-004", "req-003", "req-002"]
    assert ids(audit.query(**window)[0]) == ["req-004", "req-003", "req-002"]
    assert ids(audit.query(account_id="acct-alice", since=T0 + timedelta(minutes=5))[0]) == [
        "req-006",
        "req-005",
    ]
    assert ids(audit.query(account_id="acct-alice", until=T0 + timedelta(minutes=1))[0]) == ["req-001"]


def test_combined_account_and_vm_filters(audit: AuditStore) -> None:
    audit.record(make_record(1, vm="vm-1"))
    audit.record(make_record(2, vm="vm-2"))
    audit.record(make_record(3, vm="vm-1"))
    audit.record(make_record(4, vm="vm-1", account="acct-bob"))
    records, _ = audit.query(account_id="acct-alice", vm_id="vm-1")
    assert ids(records) == ["req-003", "req-001"]
    records, _ = audit.query(
        account_id="acct-alice", vm_id="vm-1", since=T0 + timedelta(minutes=2), until=T0 + timedelta(hours=1)
    )
    assert ids(records) == ["req-003"]


def test_query_without_filters_reads_every_day_of_the_range(audit: AuditStore) -> None:
    days = [T0 - timedelta(days=d) for d in (0, 1, 2, 5)]
    for n, at in enumerate(days):
        audit.record(make_record(n, at=at, account=f"acct-{n}"))
    records, token = audit.query(since=T0 - timedelta(days=3), until=T0 + timedelta(hours=1))
    assert ids(records) == ["req-000", "req-001", "req-002"]  # newest first across days and accounts
    assert token is None
    # default: the last 24 hours before until
    assert ids(audit.query(until=T0 + timedelta(hours=1))[0]) == ["req-000"]


@pytest.mark.parametrize(
    "filters",
    [
        {"account_id": "acct-alice"},
        {"vm_id": "vm-1"},
        {"account_id": "acct-alice", "vm_id": "vm-1"},
        {"since": T0 - timedelta(days=4), "until": T0 + timedelta(days=1)},
    ],
    ids=["account", "vm", "account+vm", "days"],
)
def test_pagination_walks_every_record_once_newest_first(audit: AuditStore, filters: dict[str, Any]) -> None:
    expected = []
    for n in range(11):
        # spread over days so the day-by-day query crosses day boundaries mid-page
        at = T0 - timedelta(hours=9 * n)
        audit.record(make_record(n, at=at))
        expected.append(f"req-{n:03d}")
        if "vm_id" in filters:
            audit.record(make_record(100 + n, at=at + timedelta(seconds=1), vm="vm-other"))
    pages: list[list[str]] = []
    token = None
    while True:
        records, token = audit.query(limit=4, next_token=token, **filters)
        pages.append(ids(records))
        if token is None:
            break
        assert isinstance(token, str)
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert [len(page) for page in pages] == [4, 4, 3]  # the last page says so: no empty extra page
    assert [record_id for page in pages for record_id in page] == expected


def test_a_full_last_page_has_no_token(audit: AuditStore) -> None:
    for n in range(4):
        audit.record(make_record(n))
    records, token = audit.query(account_id="acct-alice", limit=4)
    assert len(records) == 4
    assert token is None
    records, token = audit.query(account_id="acct-alice", limit=2)
    assert ids(records) == ["req-003", "req-002"]
    records, token = audit.query(account_id="acct-alice", limit=2, next_token=token)
    assert (ids(records), token) == (["req-001", "req-000"], None)


def test_complete_updates_the_same_item(audit: AuditStore) -> None:
    queued = make_record(1, mode="async", job_id="job-1", status="queued", exit_code=None, duration_ms=None)
    audit.record(queued)
    completed = audit.complete(
        queued,
        status="failed",
        exit_code=2,
        duration_ms=5300,
        error_code="SSH_TIMEOUT",
        reason="The VM did not answer within 30 s.",
    )
    assert (completed.status, completed.exit_code, completed.duration_ms, completed.error_code) == (
        "failed",
        2,
        5300,
        "SSH_TIMEOUT",
    )
    assert completed.reason == "The VM did not answer within 30 s."
    assert completed.job_id == "job-1"  # everything else kept
    items = audit.table.scan()["Items"]
    assert len(items) == 1
    assert items[0]["status"] == "failed"
    assert items[0]["exit_code"] == 2
    assert items[0]["vm_pk"] == "VM#vm-1"  # still in the VM index
    assert audit.query(account_id="acct-alice")[0] == [completed]
    # fields given as None are left alone
    again = audit.complete(completed, status="succeeded")
    assert (again.status, again.exit_code, again.error_code) == ("succeeded", 2, "SSH_TIMEOUT")
    assert len(audit.table.scan()["Items"]) == 1


def test_complete_of_a_record_never_written_stores_it_whole(audit: AuditStore) -> None:
    record = make_record(1, status="running", exit_code=None)
    completed = audit.complete(record, status="succeeded", exit_code=0)
    assert audit.query(account_id="acct-alice")[0] == [completed]


def test_record_and_complete_log_structured_json(
    audit: AuditStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # powertools' handler holds the sys.stdout of import time; point it at the one capsys installed
    # for this test's call phase (during fixture setup sys.stdout is still another one)
    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    record = make_record(
        7,
        decision="denied",
        status="denied",
        reason_code="NOT_OWNER",
        reason="Account alice does not own r-7-VM.",
        exit_code=None,
    )
    audit.record(record)
    audit.complete(record, status="denied", error_code="NOT_OWNER")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    audit_lines = [line for line in lines if line.get("message") == "audit"]
    assert len(audit_lines) == 2
    first, second = audit_lines
    assert first["level"] == "INFO"
    assert first["service"] == "sysvmdiag"
    assert first["audit"]["id"] == "req-007"
    assert first["audit"]["accountId"] == "acct-alice"
    assert first["audit"]["decision"] == "denied"
    assert first["audit"]["reasonCode"] == "NOT_OWNER"
    assert first["audit"]["at"] == "2024-05-10T12:07:00.123456Z"
    assert second["audit"]["errorCode"] == "NOT_OWNER"


def test_camel_case_wire_names(audit: AuditStore) -> None:
    record = AuditRecord.model_validate(
        {
            "id": "r",
            "at": "2024-05-10T12:00:00Z",
            "accountId": "a",
            "role": "admin",
            "decision": "allowed",
            "vmUuid": "u",
            "ipAddress": "10.0.0.1",
            "alarmName": "vr-down",
            "playbook": "vr-health",
            "actor": "alarm",
            "system": True,
        }
    )
    dumped = record.as_log()
    assert dumped["vmUuid"] == "u"
    assert dumped["alarmName"] == "vr-down"
    assert (record.actor, record.system) == ("alarm", True)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token!",
        "%%%",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b'{"kind":"account","key":{"pk":"x"}}').decode(),
        base64.urlsafe_b64encode(b'{"kind":"day","key":{"pk":"x","sk":"y","day":"yesterday"}}').decode(),
        base64.urlsafe_b64encode(b'{"kind":"account","key":{"pk":1,"sk":"y"}}').decode(),
    ],
)
def test_bad_token_is_a_value_error(audit: AuditStore, token: str) -> None:
    with pytest.raises(ValueError, match="nextToken"):
        audit.query(account_id="acct-alice", next_token=token)


def test_a_token_of_another_kind_of_query_is_refused(audit: AuditStore) -> None:
    for n in range(3):
        audit.record(make_record(n))
    _, token = audit.query(vm_id="vm-1", limit=1)
    assert token is not None
    with pytest.raises(ValueError, match="nextToken"):
        audit.query(account_id="acct-alice", next_token=token)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"since": T0 - timedelta(days=32), "until": T0}, "at most 31 days"),
        ({"since": T0 - timedelta(days=40)}, "at most 31 days"),
        ({"account_id": "a", "since": T0, "until": T0 - timedelta(seconds=1)}, "must not be later"),
        ({"limit": 0}, "between 1 and 200"),
        ({"limit": 201}, "between 1 and 200"),
    ],
)
def test_bad_ranges_and_limits_are_value_errors(
    audit: AuditStore, arguments: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        audit.query(**arguments)


def test_long_ranges_are_fine_with_an_account_or_vm(audit: AuditStore) -> None:
    audit.record(make_record(1, at=T0 - timedelta(days=60)))
    sixty_days = {"since": T0 - timedelta(days=80), "until": T0}
    assert ids(audit.query(account_id="acct-alice", **sixty_days)[0]) == ["req-001"]
    assert ids(audit.query(vm_id="vm-1", **sixty_days)[0]) == ["req-001"]
