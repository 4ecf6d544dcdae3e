"""Reachability matrices' records, in the jobs table: what was asked and which job each cell became.

Item layout (table ``JOBS_TABLE``, hash key ``id``): ``id`` = ``MATRIX#<matrix id>`` (the id is a uuid4,
the API's ``/matrices/{id}``), ``matrix`` (the record as JSON), ``account_id``, ``created_at`` (ISO-8601
UTC) and ``expires_at`` (TTL: the jobs' retention, so a matrix never outlives its cells' jobs by much).
Like playbook runs and cached results, a record has no ``open_pk`` (the sweeper's sparse index of open
jobs never holds one) and no ``doc`` (a job read never takes one for a job). The cells' current state is
read from their jobs, not stored here: the record is written once and never updated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr

from sysvmdiag.jobs import JOB_RETENTION_DAYS
from sysvmdiag.models import DiagnosticType, MatrixCell, Wire

MATRIX_ID_PREFIX = "MATRIX#"


class MatrixRecord(Wire):
    """A matrix as submitted: the caller, the axes and each cell's job id (or refusal) at submission."""

    id: str
    account_id: str
    role: str
    domain: str
    created_at: datetime
    targets: list[str]
    destinations: list[str]
    tests: list[DiagnosticType]
    cells: list[MatrixCell]


class MatrixStore:
    """The MatrixRepository port on the jobs table (a boto3 Table resource)."""

    available = True

    def __init__(self, table: Any, retention_days: int = JOB_RETENTION_DAYS) -> None:
        self.table = table
        self.retention = timedelta(days=retention_days)

    def create(self, record: MatrixRecord) -> None:
        """Store a new record; an id that exists already is a programming error (ids are uuid4)."""
        self.table.put_item(
            Item={
                "id": MATRIX_ID_PREFIX + record.id,
                "matrix": record.model_dump_json(by_alias=True),
                "account_id": record.account_id,
                "created_at": record.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
                "expires_at": int((record.created_at + self.retention).timestamp()),
            },
            ConditionExpression=Attr("id").not_exists(),
        )

    def get(self, matrix_id: str) -> MatrixRecord | None:
        item = self.table.get_item(Key={"id": MATRIX_ID_PREFIX + matrix_id}, ConsistentRead=True).get("Item")
        if item is None or "matrix" not in item:
            return None
        return MatrixRecord.model_validate_json(item["matrix"])
