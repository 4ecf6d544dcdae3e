"""The result cache on moto's DynamoDB server: its items in the jobs table (round trip, expiry by age read
back, never seen by the job readers), and the whole pipeline built by the composition root with it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.jobs import Job, JobStatus, JobStore
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.policy import Caller
from sysvmdiag.result_cache import CACHE_ID_PREFIX, ResultCacheStore
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Role, Topology
from sysvmdiag.topology.store import TABLE_ENV_VARS, create_tables
from tests.conftest import aim_boto3_at, queued_job, result_from_capture
from tests.unit.fakes import FakeRunner, MovableClock

STORED_AT = datetime(2026, 12, 1, 12, 0, 0, 250_000, tzinfo=UTC)
KEY = "ab" * 32  # a sha256 hex digest's shape


@pytest.fixture
def jobs_table(dynamodb: Any) -> Any:
    return create_tables(dynamodb, {"jobs": f"cache-{uuid.uuid4().hex[:8]}-jobs"})["jobs"]


def _result() -> DiagnosticResult:
    return result_from_capture("ping_v4_ok", at=STORED_AT)


def _open_job(deadline: datetime) -> Job:
    return queued_job(created_at=deadline - timedelta(minutes=10))


def test_a_stored_result_reads_back_whole_with_when_it_was_stored(jobs_table: Any) -> None:
    cache = ResultCacheStore(jobs_table)
    assert cache.get(KEY, STORED_AT) is None
    cache.put(KEY, _result(), STORED_AT, 60)
    found = cache.get(KEY, STORED_AT + timedelta(seconds=30))
    assert found == (_result(), STORED_AT)
    replaced = _result().model_copy(update={"id": "d-2"})
    cache.put(KEY, replaced, STORED_AT + timedelta(seconds=1), 60)
    assert cache.get(KEY, STORED_AT + timedelta(seconds=30)) == (replaced, STORED_AT + timedelta(seconds=1))


def test_an_entry_expires_by_its_age_though_dynamodb_still_holds_it(jobs_table: Any) -> None:
    cache = ResultCacheStore(jobs_table)
    cache.put(KEY, _result(), STORED_AT, 60)
    assert cache.get(KEY, STORED_AT + timedelta(seconds=60) - timedelta(microseconds=1)) is not None
    assert cache.get(KEY, STORED_AT + timedelta(seconds=60)) is None
    item = jobs_table.get_item(Key={"id": CACHE_ID_PREFIX + KEY})["Item"]  # TTL deletes it later
    assert int(item["expires_at"]) == int(STORED_AT.timestamp()) + 61  # 12:01:00.25, rounded up
    assert item["fresh_until"] == "2026-12-01T12:01:00.250000+00:00"


def test_entries_are_invisible_to_every_job_reader(jobs_table: Any) -> None:
    cache, jobs = ResultCacheStore(jobs_table), JobStore(jobs_table)
    cache.put(KEY, _result(), STORED_AT, 60)
    overdue_job = _open_job(STORED_AT - timedelta(minutes=1))
    jobs.create(overdue_job)
    item = jobs_table.get_item(Key={"id": CACHE_ID_PREFIX + KEY})["Item"]
    assert not {"open_pk", "doc", "status", "deadline_at"} & set(item)
    # the sweeper's query finds the overdue job and nothing of the cache
    assert [job.id for job in jobs.overdue(STORED_AT + timedelta(days=30))] == [overdue_job.id]
    assert jobs.get(CACHE_ID_PREFIX + KEY) is None
    assert (
        jobs.transition(overdue_job.model_copy(update={"id": CACHE_ID_PREFIX + KEY}), JobStatus.FAILED)
        is None
    )


# -- the composition root ---------------------------------------------------------------------------


@pytest.fixture
def settings(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    aim_boto3_at(moto_server, monkeypatch)
    prefix = f"cache-{uuid.uuid4().hex[:8]}"
    names = {var: f"{prefix}-{var.split('_')[0].lower()}" for var in TABLE_ENV_VARS.values()}
    create_tables(boto3.resource("dynamodb"), names)
    return Settings.from_env({**names, "RESULT_CACHE_SECONDS": "60"})


def test_the_cache_is_built_only_when_set_and_on_the_jobs_table(settings: Settings) -> None:
    cache = bootstrap.result_cache(settings)
    assert isinstance(cache, ResultCacheStore) and cache.table.name == settings.jobs_table
    assert bootstrap.result_cache(settings.model_copy(update={"result_cache_seconds": 0})) is None
    assert bootstrap.result_cache(settings.model_copy(update={"jobs_table": None})) is None


def test_a_repeated_request_is_answered_from_dynamodb_and_audited_as_cached(
    settings: Settings, topology: Topology, lab_status_without_lab: dict[str, Any]
) -> None:
    load_topology_into_tables(topology, bootstrap.topology_store(settings), lab_status_without_lab)
    runner, clock = FakeRunner(), MovableClock()
    service = bootstrap.service(settings, runner_for=runner.factory(), clock=clock)
    alice = Caller(account_id="acct-alice", role=Role.USER, domain="ROOT/acme/engineering")
    request = DiagnosticRequest(
        target_id="r-4-VM", type="ping", ip_address="198.51.100.80", params="-c 3", cache=True
    )
    first = service.submit(alice, request, RequestOrigin(request_id="req-1"))
    clock.advance(20)
    again = service.submit(alice, request, RequestOrigin(request_id="req-2"))
    assert isinstance(first, DiagnosticResult) and isinstance(again, DiagnosticResult)
    assert (first.cached, again.cached, again.cache_age_seconds) == (False, True, 20)
    assert again.id == first.id and len(runner.commands) == 1
    records, _ = bootstrap.audit_store(settings).query(
        account_id="acct-alice", since=clock() - timedelta(hours=1)
    )
    assert sorted((r.id, r.cached) for r in records) == [("req-1", False), ("req-2", True)]
