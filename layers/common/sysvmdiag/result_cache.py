"""The result cache's store: results kept a short while for identical requests, in the jobs table.

Item layout (table ``JOBS_TABLE``, hash key ``id``): ``id`` = ``CACHE#<key>`` (the key is a sha256 hex
digest, :func:`sysvmdiag.pipeline.cached_runs.cache_key`), ``cached_result`` (the DiagnosticResult as
JSON), ``stored_at`` and ``fresh_until`` (ISO-8601 UTC) and ``expires_at`` (the table's TTL, epoch
seconds rounded up). Like playbook runs, an entry has no ``open_pk`` (the sweeper's sparse index of open
jobs never holds one) and no ``doc`` (a job read never takes one for a job). DynamoDB deletes expired
items late (up to days), so a read checks ``fresh_until`` itself.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sysvmdiag.models import DiagnosticResult

CACHE_ID_PREFIX = "CACHE#"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ResultCacheStore:
    """The ResultCache port on the jobs table (a boto3 Table resource)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: str, now: datetime) -> tuple[DiagnosticResult, datetime] | None:
        """The result stored under ``key`` and when, unless it is past its time at ``now``."""
        item = self.table.get_item(Key={"id": CACHE_ID_PREFIX + key}).get("Item")
        if item is None or "cached_result" not in item:
            return None
        if now >= datetime.fromisoformat(item["fresh_until"]):
            return None
        return DiagnosticResult.model_validate_json(item["cached_result"]), datetime.fromisoformat(
            item["stored_at"]
        )

    def put(self, key: str, result: DiagnosticResult, stored_at: datetime, ttl_seconds: float) -> None:
        """Store (or replace) the entry: fresh for ``ttl_seconds`` after ``stored_at``."""
        fresh_until = stored_at + timedelta(seconds=ttl_seconds)
        self.table.put_item(
            Item={
                "id": CACHE_ID_PREFIX + key,
                "cached_result": result.model_dump_json(by_alias=True),
                "stored_at": _iso(stored_at),
                "fresh_until": _iso(fresh_until),
                "expires_at": math.ceil(fresh_until.timestamp()),
            }
        )
