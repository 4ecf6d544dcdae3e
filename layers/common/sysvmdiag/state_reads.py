"""Kept VM-state reads: what ``getDiagnosticsData`` answers ``queryAsyncJobResult`` with later.

CloudStack's getDiagnosticsData is an async command: its answer is a job id, and the download URL comes
from ``queryAsyncJobResult``. A read is done by then (it takes a second), so it is kept as it ended, in
the jobs table under ``STATE#<id>`` (no ``open_pk`` or ``doc``, so no job read or sweep takes it for a
job), for as long as its bundle lives (the bucket deletes bundles after a day). The URL is signed again
on each read: a kept one would have expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr

from sysvmdiag.models import VmStateView, Wire

STATE_READ_PREFIX = "STATE#"
STATE_READ_RETENTION = timedelta(days=1)  # the bucket's lifecycle rule: a kept read outlives no bundle


class StateReadRecord(Wire):
    """One finished read of a VM's state: who asked, and the view it was answered with."""

    id: str
    account_id: str
    domain: str
    created_at: datetime
    view: VmStateView


class StateReadStore:
    """The StateReadRepository port on the jobs table (a boto3 Table resource)."""

    available = True

    def __init__(self, table: Any) -> None:
        self.table = table

    def put(self, record: StateReadRecord) -> None:
        self.table.put_item(
            Item={
                "id": STATE_READ_PREFIX + record.id,
                "state_read": record.model_dump_json(by_alias=True),
                "account_id": record.account_id,
                "expires_at": int((record.created_at + STATE_READ_RETENTION).timestamp()),
            },
            ConditionExpression=Attr("id").not_exists(),
        )

    def get(self, read_id: str) -> StateReadRecord | None:
        key = {"id": STATE_READ_PREFIX + read_id}
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item is None or "state_read" not in item:
            return None
        record = StateReadRecord.model_validate_json(item["state_read"])
        if record.created_at + STATE_READ_RETENTION < datetime.now(UTC):
            return None  # DynamoDB's TTL deletes within days, not at the second
        return record
