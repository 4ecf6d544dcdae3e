"""Issue 5: per-account and per-VM limits on a local stack of their own, with tight limits.

Over a limit the API answers 429 with Retry-After and nothing runs (the VM's own run log says so); the
counters come back down when jobs end, failed ones included.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import requests

from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.local.stack import LocalStack

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
NO_ONE = "203.0.113.99"  # on the public network, answered by nobody: a ping there fails
RUN_LOGS = Path("/run/simvms/runs")
TIGHT_LIMITS = {
    "user": {"concurrentJobs": 2, "requestsPerMinute": 12},
    "admin": {"concurrentJobs": 16, "requestsPerMinute": 1000},
    "vmConcurrentRuns": 2,
}


@pytest.fixture(scope="module")
def tight_stack(lab_status: dict, tmp_path_factory: pytest.TempPathFactory):
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("tight-stack"),
        port=free_loopback_port(),
        lab_state_dir=Path(lab_status["state_dir"]),
        environment={"LIMITS_JSON": json.dumps(TIGHT_LIMITS)},
    )
    status = stack.up(progress=lambda _line: None)
    status["keys"] = {account["name"]: account["apiKey"] for account in status["accounts"]}
    yield status
    stack.down(keep_lab=True)


@pytest.fixture(scope="module")
def limit_store(tight_stack: dict):
    from sysvmdiag.limits import LimitStore
    from tests.conftest import stack_dynamodb

    dynamodb = stack_dynamodb(tight_stack)
    return LimitStore(dynamodb.Table(tight_stack["tables"]["LIMITS_TABLE"]))


def post(stack: dict, account: str, body: dict) -> requests.Response:
    return requests.post(
        f"{stack['apiUrl']}/diagnostics",
        json=body,
        timeout=60,
        headers={"Authorization": f"Bearer {stack['keys'][account]}"},
    )


def get(stack: dict, account: str, path: str) -> requests.Response:
    return requests.get(
        f"{stack['apiUrl']}{path}", timeout=30, headers={"Authorization": f"Bearer {stack['keys'][account]}"}
    )


def vm_runs(host: str, needle: str) -> int:
    path = RUN_LOGS / f"{host}.jsonl"
    if not path.exists():
        return 0
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(1 for entry in entries if needle in (entry.get("command") or "") and entry.get("accepted"))


def wait_final(stack: dict, account: str, location: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(stack, account, location).json()
        if job["status"] in ("succeeded", "failed", "denied"):
            return job
        time.sleep(0.3)
    pytest.fail(f"{location} did not finish in {timeout} s")


def test_concurrent_jobs_over_the_limit_get_429_and_nothing_runs(tight_stack, limit_store):
    """Alice's two slots held (as two running jobs of hers hold them): a third job and a synchronous run
    are refused 429 TOO_MANY_JOBS and nothing runs. The slots are held first, then the refusal is proved,
    so no job's speed decides the outcome."""
    limit = TIGHT_LIMITS["user"]["concurrentJobs"]
    holders = [f"held-by-test-{n}" for n in range(limit)]
    for holder in holders:
        limit_store.acquire_account_slot("acct-alice", holder, limit, 120)
    try:
        before = vm_runs("vr", "-s 83")
        third = post(
            tight_stack,
            "alice",
            {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 83", "async": True},
        )
        assert third.status_code == 429, third.text
        assert third.json()["code"] == "TOO_MANY_JOBS"
        assert 1 <= int(third.headers["Retry-After"]) <= 130
        synchronous = post(
            tight_stack,
            "alice",
            {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 83"},
        )
        assert synchronous.status_code == 429 and synchronous.json()["code"] == "TOO_MANY_JOBS"
        assert vm_runs("vr", "-s 83") == before  # the refused requests ran nothing
    finally:
        for holder in holders:
            limit_store.release_account_slot("acct-alice", holder)
    assert limit_store.in_flight_for_account("acct-alice") == 0


def test_jobs_give_their_slots_back_whether_they_succeed_or_fail(tight_stack, limit_store):
    ok = post(
        tight_stack,
        "alice",
        {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 3 -i 1 -s 81", "async": True},
    )
    bad = post(
        tight_stack,
        "alice",
        {
            "targetId": "r-4-VM",
            "type": "ping",
            "ipAddress": NO_ONE,
            "params": "-c 2 -i 1 -w 3 -s 82",
            "async": True,
        },
    )
    assert ok.status_code == 202 and bad.status_code == 202, (ok.text, bad.text)
    assert wait_final(tight_stack, "alice", ok.headers["Location"])["status"] == "succeeded"
    failed = wait_final(tight_stack, "alice", bad.headers["Location"])
    assert failed["status"] == "failed" and failed["result"]["exitCode"] != 0
    assert limit_store.in_flight_for_account("acct-alice") == 0  # failed jobs give their slot back too
    again = post(
        tight_stack, "alice", {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 84"}
    )
    assert again.status_code == 200, again.text


def test_requests_per_minute_over_the_limit_get_429_with_retry_after(tight_stack):
    """Every request counts, denied ones too (probing the policy is not free); the window is a minute."""
    denied = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB}  # bob may not use alice's VR
    codes = []
    for _ in range(2 * TIGHT_LIMITS["user"]["requestsPerMinute"] + 1):
        response = post(tight_stack, "bob", denied)
        codes.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == "RATE_LIMITED"
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            break
    assert codes[-1] == 429 and set(codes[:-1]) == {404}, codes
    assert len(codes) <= TIGHT_LIMITS["user"]["requestsPerMinute"] * 2 + 1


def test_a_vm_runs_at_most_k_at_once(tight_stack, limit_store):
    """A VM whose two run slots are held answers a third run 429 VM_BUSY and runs nothing; once a slot
    frees, the run goes through. Slots held first, then the refusal proved: no timing decides it."""
    cpvm = next(vm["id"] for vm in tight_stack["systemvms"] if vm["name"] == "v-2-VM")
    limit = TIGHT_LIMITS["vmConcurrentRuns"]
    holders = [f"held-by-test-{n}" for n in range(limit)]
    body = {"targetId": "v-2-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -s 85"}
    for holder in holders:
        limit_store.acquire_vm_slot(cpvm, holder, limit, 120)
    try:
        before = vm_runs("cpvm", "-s 85")
        busy = post(tight_stack, "admin", body)
        assert busy.status_code == 429, busy.text
        assert busy.json()["code"] == "VM_BUSY" and int(busy.headers["Retry-After"]) >= 1
        assert vm_runs("cpvm", "-s 85") == before
        limit_store.release_vm_slot(cpvm, holders.pop())
        freed = post(tight_stack, "admin", body)
        assert freed.status_code == 200, freed.text
        assert vm_runs("cpvm", "-s 85") == before + 1
    finally:
        for holder in holders:
            limit_store.release_vm_slot(cpvm, holder)
    assert limit_store.in_flight_for_vm(cpvm) == 0


def test_jobs_beyond_a_vms_limit_wait_their_turn(tight_stack, limit_store):
    """The worker defers a job whose VM is at its limit (back to the queue with a delay) instead of
    failing it: three jobs on a VM that runs two at once all succeed, never three at a time."""
    body = {
        "targetId": "v-2-VM",
        "type": "ping",
        "ipAddress": WEB,
        "params": "-c 3 -i 0.5 -s 86",
        "async": True,
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        accepted = list(pool.map(lambda _: post(tight_stack, "admin", body), range(3)))
    assert [response.status_code for response in accepted] == [202, 202, 202]
    jobs = [
        wait_final(tight_stack, "admin", response.headers["Location"], timeout=90) for response in accepted
    ]
    assert [job["status"] for job in jobs] == ["succeeded"] * 3, jobs
    intervals = sorted((job["startedAt"], job["finishedAt"]) for job in jobs)
    overlapping_all = intervals[2][0] < intervals[0][1] and intervals[2][0] < intervals[1][1]
    assert not overlapping_all, intervals  # the third started only after one of the first two ended


def test_a_running_job_s_slot_is_expected_back_at_its_run_s_end(tight_stack, limit_store):
    """Issue 14: when the worker starts a job's run, the job's account slot is expected back at the run's
    end (the run's worst case + SSH overhead from its start), no longer after the queue estimate; a caller
    refused meanwhile is told that. One of alice's two slots is held by the test, the job takes the other,
    and the slot is read once the job is known to be running."""
    from boto3.dynamodb.conditions import Key

    from sysvmdiag.pipeline.origin import SSH_OVERHEAD_SECONDS

    limit_store.acquire_account_slot("acct-alice", "held-by-test-expected", 2, 120)
    try:
        body = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 8 -i 1 -s 87"}
        accepted = post(tight_stack, "alice", {**body, "async": True})
        assert accepted.status_code == 202, accepted.text
        location = accepted.headers["Location"]
        deadline = time.monotonic() + 60
        job = get(tight_stack, "alice", location).json()
        while job["status"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.2)
            job = get(tight_stack, "alice", location).json()
        assert job["status"] == "running", job  # an 8 s ping: still running when seen
        started = datetime.fromisoformat(job["startedAt"]).timestamp()
        slots = limit_store.table.query(KeyConditionExpression=Key("pk").eq("ACCOUNT#acct-alice"))["Items"]
        [slot] = [item for item in slots if item["holder"] == job["id"]]
        run_end = started + job["worstCaseSeconds"] + SSH_OVERHEAD_SECONDS
        assert abs(float(slot["expected_end"]) - run_end) < 2, (slot, job)
        refused = post(tight_stack, "alice", body)
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_JOBS"
        assert 1 <= int(refused.headers["Retry-After"]) <= math.ceil(run_end - time.time()) + 1
        assert wait_final(tight_stack, "alice", location)["status"] == "succeeded"
    finally:
        limit_store.release_account_slot("acct-alice", "held-by-test-expected")
    assert limit_store.in_flight_for_account("acct-alice") == 0
