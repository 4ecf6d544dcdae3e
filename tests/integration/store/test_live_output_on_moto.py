"""A running job's live output in the jobs table on moto's DynamoDB server: written only while the job
runs, read back beside (never inside) its document, gone once the job ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.jobs import LIVE_OUTPUT_MAX_CHARS, Job, JobStatus, JobStore
from sysvmdiag.topology.store import create_tables
from tests.conftest import queued_job

AT = datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC)


@pytest.fixture
def jobs(dynamodb: Any) -> JobStore:
    return JobStore(create_tables(dynamodb, {"jobs": f"live-{uuid.uuid4().hex[:8]}-jobs"})["jobs"])


def _queued() -> Job:
    created = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    return queued_job(created_at=created, type="traceroute", worst_case_seconds=40.0)


def test_live_output_lands_only_while_the_job_runs(jobs: JobStore) -> None:
    job = _queued()
    jobs.create(job)
    assert jobs.record_live(job.id, "too early\n", AT) is False  # queued: nothing runs yet
    running, _ = jobs.transition(job, JobStatus.RUNNING, started_at=AT) or (None, None)
    assert running is not None
    assert jobs.record_live(job.id, "traceroute to 198.51.100.80\n 1  203.0.113.1  0.05 ms\n", AT) is True
    read = jobs.get(job.id)
    assert read is not None and read.live is not None and read.live.updated_at == AT
    assert read.live.stdout.endswith("0.05 ms\n") and jobs.get_many([job.id])[job.id].live == read.live

    ended, _ = jobs.transition(read, JobStatus.SUCCEEDED, finished_at=AT) or (None, None)
    assert ended is not None and ended.live is None
    item = jobs.table.get_item(Key={"id": job.id})["Item"]
    assert "live_output" not in item and '"live":null' in item["doc"]  # never in the document
    assert jobs.record_live(job.id, "too late\n", AT) is False and jobs.get(job.id).live is None  # type: ignore[union-attr]


def test_live_output_keeps_the_start_of_a_long_output(jobs: JobStore) -> None:
    job = _queued()
    jobs.create(job)
    jobs.transition(job, JobStatus.RUNNING, started_at=AT)
    jobs.record_live(job.id, "x" * (LIVE_OUTPUT_MAX_CHARS + 10), AT)
    read = jobs.get(job.id)
    assert read is not None and read.live is not None and len(read.live.stdout) == LIVE_OUTPUT_MAX_CHARS
