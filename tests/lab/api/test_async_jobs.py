"""Issue 5: asynchronous jobs through the local stack (real HTTP, moto's SQS, the lab's VMs).

The local stack's worker polls the queue on moto's server like Lambda's SQS event source, so a job
submitted over HTTP really goes API -> DynamoDB + SQS -> worker -> SSH -> VM.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import requests

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
RUN_LOGS = Path("/run/simvms/runs")


def post(stack: dict, key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{stack['apiUrl']}/diagnostics", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def get(stack: dict, key: str, path: str) -> requests.Response:
    return requests.get(f"{stack['apiUrl']}{path}", timeout=30, headers={"Authorization": f"Bearer {key}"})


def vm_id(stack: dict, host: str) -> str:
    return next(vm["id"] for vm in stack["systemvms"] if vm["host"] == host)


def wait_for_job(stack: dict, key: str, location: str, timeout: float = 90) -> dict:
    """Poll like a client: until a final status, honouring Retry-After."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        response = get(stack, key, location)
        assert response.status_code == 200, response.text
        job = response.json()
        seen.append(job["status"])
        if job["status"] in ("succeeded", "failed", "denied"):
            job["_seen"] = seen
            return job
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 0.5))
    pytest.fail(f"job {location} still {seen[-1:]} after {timeout} s (statuses seen: {seen})")


def vm_runs(host: str, needle: str) -> list[dict]:
    """The VM side's own record of what it ran (not our tables): lines whose command holds ``needle``."""
    path = RUN_LOGS / f"{host}.jsonl"
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [entry for entry in entries if needle in (entry.get("command") or "") and entry.get("accepted")]


def test_async_traceroute_reaches_succeeded_with_hops(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["alice"],
        {"targetId": vm_id(local_stack, "vr"), "type": "traceroute", "ipAddress": WEB, "async": True},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["accountId"] == "acct-alice"
    assert response.headers["Location"] == f"/diagnostics/{accepted['id']}"
    job = wait_for_job(local_stack, api_keys["alice"], response.headers["Location"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["success"] and result["exitCode"] == 0
    hops = result["result"]["hops"]
    assert len(hops) >= 3, hops  # VR -> r1 -> r2 -> web: a real multi-hop path
    assert result["result"]["reached"] is True
    assert job["startedAt"] and job["finishedAt"]


def test_a_job_is_visible_to_its_owner_and_admins_only(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["alice"],
        {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1", "async": True},
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert get(local_stack, api_keys["admin"], location).status_code == 200
    assert get(local_stack, api_keys["acme-admin"], location).status_code == 200  # alice's domain tree
    other = get(local_stack, api_keys["bob"], location)
    assert other.status_code == 404 and other.json()["code"] == "JOB_NOT_FOUND"
    missing = get(local_stack, api_keys["alice"], f"/diagnostics/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["code"] == "JOB_NOT_FOUND"
    assert wait_for_job(local_stack, api_keys["alice"], location)["status"] == "succeeded"


def test_a_denied_request_makes_no_job(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["bob"],
        {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "async": True},
    )
    assert response.status_code == 404 and response.json()["code"] == "TARGET_NOT_FOUND", response.text
    assert "Location" not in response.headers


# -- the worker, given the same SQS message twice ------------------------------------------------------


@pytest.fixture
def private_queue(local_stack, handler_env):
    """A queue the local stack does not poll, so the test alone delivers its messages."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"jobs-under-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)


def _service_on(queue_url: str, clock=None):
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings

    settings = Settings.from_env().model_copy(update={"jobs_queue_url": queue_url})
    return bootstrap.service(settings, clock=clock)


def _stores():
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings

    settings = Settings.from_env()
    return bootstrap.job_store(settings), bootstrap.limit_store(settings)


def test_the_same_sqs_message_delivered_twice_runs_once(local_stack, private_queue):
    from functions.worker import app as worker_app
    from sysvmdiag.identity import SYSTEM_ALARM_CALLER
    from sysvmdiag.local.gateway import LambdaContext
    from sysvmdiag.local.worker import sqs_event
    from sysvmdiag.models import DiagnosticRequest
    from sysvmdiag.pipeline.origin import RequestOrigin
    from tests.lambdas import fresh_process

    sqs, url = private_queue
    marker_size = "73"  # a ping size no other test uses: finds this run in the VM's log
    request = DiagnosticRequest(
        target_id="r-4-VM", type="ping", ip_address=WEB, params=f"-c 1 -s {marker_size}"
    )
    job = _service_on(url).submit_job(
        SYSTEM_ALARM_CALLER, request, RequestOrigin(request_id=str(uuid.uuid4()))
    )
    before = len(vm_runs("vr", f"-s {marker_size}"))
    message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"][0]
    assert json.loads(message["Body"]) == {"jobId": job.id, "attempt": 1}
    event = sqs_event(message, "arn:aws:sqs:us-east-1:000000000000:jobs-under-test", "us-east-1")

    fresh_process()
    first = worker_app.lambda_handler(event, LambdaContext("sysvmdiag-worker"))
    # A second Lambda instance receives the very same message (at-least-once delivery).
    fresh_process()
    second = worker_app.lambda_handler(event, LambdaContext("sysvmdiag-worker"))
    assert first == second == {"batchItemFailures": []}

    runs = vm_runs("vr", f"-s {marker_size}")
    assert len(runs) == before + 1, runs  # the VM ran it once
    stored = _stores()[0].get(job.id)
    assert stored is not None and stored.status.value == "succeeded"


def test_a_job_whose_worker_never_came_fails_after_its_deadline(local_stack, private_queue):
    """A job whose worker died while running it stays open until the sweeper, past its deadline, fails
    it with a reason and frees the account's slot (nobody polls the private queue: no retry either)."""
    from sysvmdiag.jobs import JobStatus
    from sysvmdiag.models import DiagnosticRequest
    from sysvmdiag.pipeline.origin import RequestOrigin
    from sysvmdiag.policy import Caller
    from sysvmdiag.topology.model import Role

    _sqs, url = private_queue
    now = [datetime.now(UTC)]
    service = _service_on(url, clock=lambda: now[0])
    domain_admin = Caller(account_id="acct-acme-admin", role=Role.DOMAIN_ADMIN, domain="ROOT/acme")
    request = DiagnosticRequest(
        target_id="r-4-VM", type="ping", ip_address=WEB, params="-c 1", run_async=True
    )
    job = service.submit(domain_admin, request, RequestOrigin(str(uuid.uuid4())))
    jobs, limits = _stores()
    assert limits.in_flight_for_account("acct-acme-admin") == 1
    # A worker took it (queued -> running) and died without a word.
    assert jobs.transition(job, JobStatus.RUNNING, started_at=job.created_at)
    assert service.sweep_overdue() == []  # not overdue yet

    later = job.deadline_at + timedelta(seconds=1)
    now[0] = later  # the sweeper runs after the deadline
    expired = service.sweep_overdue()
    assert [j.id for j in expired if j.id == job.id] == [job.id]
    failed = expired[[j.id for j in expired].index(job.id)]
    assert failed.status.value == "failed" and failed.error.code == "JOB_DEADLINE_EXCEEDED"
    assert "deadline" in failed.error.message
    assert limits.in_flight_for_account("acct-acme-admin") == 0
    assert datetime.now(UTC) < later  # the clock was moved, not the test slowed down
