"""A reachability matrix end to end on moto's server: the composition root's service with a fake runner,
the real job store, matrix store and queue; the jobs taken from SQS and run by the worker's use case."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.matrix_store import MATRIX_ID_PREFIX
from sysvmdiag.models import CellStatus, MatrixRequest
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Topology
from tests.unit.fakes import FakeRunner, captured

ALLOWED, OTHER_TENANT = "198.51.100.80", "10.3.0.21"


def who(topology: Topology, name: str) -> Caller:
    account = topology.account(name)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def queued_job_ids(settings: Settings) -> list[str]:
    sqs = boto3.client("sqs")
    found: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=settings.jobs_queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        )
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"])["jobId"])
            sqs.delete_message(QueueUrl=settings.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_matrix_runs_through_the_queue_and_the_worker_and_reads_back_finished(
    settings: Settings, topology: Topology
) -> None:
    runner = FakeRunner()
    service = bootstrap.service(settings, runner_for=runner.factory())
    alice = who(topology, "alice")
    request = MatrixRequest.model_validate(
        {"targets": ["r-4-VM"], "destinations": [ALLOWED, OTHER_TENANT], "tests": ["ping", "traceroute"]}
    )
    submitted = service.submit_matrix(alice, request, _origin())
    statuses = {(c.test.value, c.destination): (c.status, c.code) for c in submitted.cells}
    assert statuses == {
        ("ping", ALLOWED): (CellStatus.QUEUED, None),
        ("traceroute", ALLOWED): (CellStatus.QUEUED, None),
        ("ping", OTHER_TENANT): (CellStatus.DENIED, "DESTINATION_NOT_ALLOWED"),
        ("traceroute", OTHER_TENANT): (CellStatus.DENIED, "DESTINATION_NOT_ALLOWED"),
    }
    queued = {c.job_id: c for c in submitted.cells if c.status is CellStatus.QUEUED}
    assert sorted(queued_job_ids(settings)) == sorted(queued)  # type: ignore[type-var]

    halfway = service.matrix_for(alice, submitted.id)
    assert not halfway.complete
    for job_id, cell in queued.items():
        runner.outputs.append(captured("ping_v4_ok" if cell.test.value == "ping" else "traceroute_v4"))
        service.process_job(job_id)  # type: ignore[arg-type]

    finished = service.matrix_for(alice, submitted.id)
    assert finished.complete
    cells = {(c.test.value, c.destination): c for c in finished.cells}
    ping, trace = cells[("ping", ALLOWED)], cells[("traceroute", ALLOWED)]
    assert (ping.status, ping.verdict, ping.loss_percent) == ("succeeded", "reachable", 0.0)
    assert (trace.status, trace.verdict, trace.hops, trace.reached) == ("succeeded", "reachable", 3, True)
    assert cells[("ping", OTHER_TENANT)].status is CellStatus.DENIED
    assert len(runner.commands) == 2  # the denied cells ran nothing

    # Admins read any matrix; another account's reads it as missing.
    assert service.matrix_for(who(topology, "admin"), submitted.id).complete
    with pytest.raises(ServiceError) as hidden:
        service.matrix_for(who(topology, "bob"), submitted.id)
    assert hidden.value.code is ErrorCode.MATRIX_NOT_FOUND


def test_a_matrix_record_is_never_seen_as_a_job(settings: Settings, topology: Topology) -> None:
    service = bootstrap.service(settings, runner_for=FakeRunner().factory())
    alice = who(topology, "alice")
    request = MatrixRequest.model_validate(
        {"targets": ["r-4-VM"], "destinations": [ALLOWED], "tests": ["ping"]}
    )
    matrix = service.submit_matrix(alice, request, _origin())
    jobs = bootstrap.job_store(settings)
    item = jobs.table.get_item(Key={"id": MATRIX_ID_PREFIX + matrix.id})["Item"]
    assert "open_pk" not in item and "doc" not in item and item["account_id"] == alice.account_id
    assert item["expires_at"] > datetime.now(UTC).timestamp()
    assert jobs.get(MATRIX_ID_PREFIX + matrix.id) is None
    (cell,) = matrix.cells
    later = datetime.now(UTC) + timedelta(days=1)
    assert [job.id for job in jobs.overdue(later)] == [cell.job_id]  # the cell's job, not the record
    found = jobs.get_many([cell.job_id, MATRIX_ID_PREFIX + matrix.id, "no-such-job"])  # type: ignore[list-item]
    assert list(found) == [cell.job_id]
    with pytest.raises(ServiceError) as not_a_job:
        service.job_for(alice, MATRIX_ID_PREFIX + matrix.id)
    assert not_a_job.value.code is ErrorCode.JOB_NOT_FOUND


def _origin() -> RequestOrigin:
    return RequestOrigin(request_id=f"req-{uuid.uuid4().hex[:8]}", source_ip="192.0.2.9", user_agent="it")
