"""Kept VM-state reads (getDiagnosticsData's async answers) in the jobs table on moto's DynamoDB server:
a round trip, an id kept once, and never taken for a job by the job readers or the sweeper."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sysvmdiag.jobs import JobStore
from sysvmdiag.models import StateBundle, VmStateView
from sysvmdiag.state_reads import STATE_READ_PREFIX, StateReadRecord, StateReadStore
from sysvmdiag.topology.store import create_tables


@pytest.fixture
def table(dynamodb: Any) -> Any:
    return create_tables(dynamodb, {"jobs": f"reads-{uuid.uuid4().hex[:8]}-jobs"})["jobs"]


def _record(at: datetime) -> StateReadRecord:
    view = VmStateView(
        id=str(uuid.uuid4()),
        target_id="4b1d5c2e-7a0f-4c1e-9d3b-000000000004",
        target_name="r-4-VM",
        collected_at=at,
        parts=["routes"],
        inline={"routes": [{"dst": "default", "dev": "eth2"}]},
        scoped=True,
        bundle=StateBundle(
            url="https://x/y", expires_at=at + timedelta(minutes=15), key="vm-state/a/b/c.zip", bytes=9
        ),
    )
    return StateReadRecord(
        id=view.id, account_id="acct-alice", domain="ROOT/acme/engineering", created_at=at, view=view
    )


def test_a_kept_read_reads_back_and_is_kept_once(table: Any) -> None:
    store = StateReadStore(table)
    record = _record(datetime.now(UTC))
    store.put(record)
    assert store.get(record.id) == record
    with pytest.raises(ClientError):
        store.put(record)
    item = table.get_item(Key={"id": STATE_READ_PREFIX + record.id})["Item"]
    assert "open_pk" not in item and "doc" not in item and item["expires_at"] > datetime.now(UTC).timestamp()
    jobs = JobStore(table)
    assert (
        jobs.get(STATE_READ_PREFIX + record.id) is None
        and jobs.get_many([STATE_READ_PREFIX + record.id]) == {}
    )
    assert jobs.overdue(datetime.now(UTC) + timedelta(days=30)) == []


def test_a_read_older_than_its_bundle_is_gone(table: Any) -> None:
    store = StateReadStore(table)
    record = _record(datetime.now(UTC) - timedelta(days=2))
    store.put(record)
    assert store.get(record.id) is None and store.get("never-kept") is None
