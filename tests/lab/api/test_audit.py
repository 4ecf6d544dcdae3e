"""Issue 5: one audit record per diagnostic request, allowed or denied; GET /audit for admins only."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"


def call(stack: dict, key: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{stack['apiUrl']}{path}",
        timeout=60,
        headers={"Authorization": f"Bearer {key}", "User-Agent": "audit-test/1.0"},
        **kwargs,
    )


def audit(stack: dict, key: str, **params) -> requests.Response:
    return call(stack, key, "GET", "/audit", params=params)


def records_by_id(stack: dict, admin_key: str, **params) -> dict[str, dict]:
    response = audit(stack, admin_key, **params)
    assert response.status_code == 200, response.text
    return {record["id"]: record for record in response.json()["items"]}


def test_allowed_and_denied_requests_are_audited(local_stack, api_keys):
    allowed = call(
        local_stack,
        api_keys["alice"],
        "POST",
        "/diagnostics",
        json={"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 91"},
    )
    assert allowed.status_code == 200, allowed.text
    denied = call(
        local_stack,
        api_keys["alice"],
        "POST",
        "/diagnostics",
        json={"targetId": "r-4-VM", "type": "ping", "ipAddress": "172.31.200.5"},  # management range
    )
    assert denied.status_code == 403, denied.text

    records = records_by_id(local_stack, api_keys["admin"], account="acct-alice")
    ok = records[allowed.headers["x-request-id"]]
    assert ok["decision"] == "allowed" and ok["status"] == "succeeded" and ok["mode"] == "sync"
    assert ok["accountId"] == "acct-alice" and ok["role"] == "user"
    assert ok["vmName"] == "r-4-VM" and ok["type"] == "ping" and ok["ipAddress"] == WEB
    assert ok["params"] == "-c 1 -s 91" and ok["exitCode"] == 0 and ok["durationMs"] > 0
    assert ok["sourceIp"] == "127.0.0.1" and ok["userAgent"] == "audit-test/1.0"

    no = records[denied.headers["x-request-id"]]
    assert no["decision"] == "denied" and no["reasonCode"] == denied.json()["code"]
    assert no["reason"] == denied.json()["message"] and no["exitCode"] is None

    by_vm = records_by_id(local_stack, api_keys["admin"], vm=ok["vmUuid"])
    assert allowed.headers["x-request-id"] in by_vm
    window = records_by_id(
        local_stack,
        api_keys["admin"],
        since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        until=datetime.now(UTC).isoformat(),
    )
    assert {allowed.headers["x-request-id"], denied.headers["x-request-id"]} <= set(window)


def test_an_async_job_completes_its_audit_record(local_stack, api_keys):
    response = call(
        local_stack,
        api_keys["alice"],
        "POST",
        "/diagnostics",
        json={"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 92", "async": True},
    )
    assert response.status_code == 202, response.text
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = records_by_id(local_stack, api_keys["admin"], account="acct-alice").get(request_id)
        assert record is not None and record["jobId"] == response.json()["id"] and record["mode"] == "async"
        if record["status"] == "succeeded":
            assert record["exitCode"] == 0 and record["durationMs"] > 0
            return
        time.sleep(0.3)
    pytest.fail("the job's audit record never reached succeeded")


@pytest.mark.parametrize("account", ["alice", "acme-admin"])
def test_only_admins_read_the_audit_trail(local_stack, api_keys, account):
    response = audit(local_stack, api_keys[account])
    assert response.status_code == 403 and response.json()["code"] == "AUDIT_ADMIN_ONLY"


def test_audit_pages_and_bad_queries(local_stack, api_keys):
    first = audit(local_stack, api_keys["admin"], limit=1)
    assert first.status_code == 200 and len(first.json()["items"]) == 1
    token = first.json()["nextToken"]
    assert token
    second = audit(local_stack, api_keys["admin"], limit=1, nextToken=token)
    assert second.status_code == 200
    assert second.json()["items"][0]["id"] != first.json()["items"][0]["id"]
    bad = audit(local_stack, api_keys["admin"], nextToken="not-a-token")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_AUDIT_QUERY"
    too_long = audit(
        local_stack, api_keys["admin"], since=(datetime.now(UTC) - timedelta(days=60)).isoformat()
    )
    assert too_long.status_code == 400 and too_long.json()["code"] == "INVALID_AUDIT_QUERY"
    assert audit(local_stack, api_keys["admin"], limit=0).status_code == 400


def test_audit_records_are_logged_as_structured_json(local_stack, api_keys):
    response = call(
        local_stack,
        api_keys["bob"],
        "POST",
        "/diagnostics",
        json={"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB},
    )
    assert response.status_code == 404  # bob may not use alice's VR: answered like a missing one
    log = Path(local_stack["stateDir"]) / "server.log"
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while request_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(line for line in log.read_text().splitlines() if request_id in line and '"audit"' in line)
    entry = json.loads(line)
    assert entry["message"] == "audit" and entry["audit"]["decision"] == "denied"
    assert entry["audit"]["accountId"] == "acct-bob"
