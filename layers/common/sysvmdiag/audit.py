"""The audit trail: one record per request, allowed or denied, in DynamoDB and in the logs.

Audit table (``pk``/``sk``, TTL ``expires_at``):

* ``pk`` = ``ACCOUNT#<account id>``, ``sk`` = ``<arrival, ISO-8601 UTC with microseconds>#<id>``: an
  account's records sort by time, so "newest first" is a reverse Query and a time window is a BETWEEN.
* GSI ``by_vm`` (``vm_pk`` = ``VM#<uuid or target id>``, ``sk``): a VM's records across accounts.
* GSI ``by_day`` (``day`` = ``YYYY-MM-DD``, ``sk``): everything of one day, so an admin's unfiltered
  view is one Query per day instead of a Scan.

Records expire after :data:`AUDIT_RETENTION_DAYS` (TTL). Every write is also logged as structured JSON
(``"audit"`` key) so the trail survives in CloudWatch Logs even without the table.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from sysvmdiag.audit_record import FIELD_MAX_CHARS, AuditRecord, AuditStatus, bounded, in_utc
from sysvmdiag.observability import logger
from sysvmdiag.topology.store import AUDIT_BY_DAY_INDEX, AUDIT_BY_VM_INDEX

AUDIT_RETENTION_DAYS = 90
MAX_QUERY_LIMIT = 200
MAX_DAY_RANGE = timedelta(days=31)
DEFAULT_WINDOW = timedelta(hours=24)
_SK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_SK_END = "#\uffff"  # sorts after "#<any id>", so an upper bound includes every id of that instant
# what DynamoDB needs to resume each kind of Query: the table's key plus the index's
_RESUME_KEYS: dict[str, tuple[str, ...]] = {
    "account": ("pk", "sk"),
    "vm": ("pk", "sk", "vm_pk"),
    "day": ("pk", "sk", "day"),
}
_STORAGE_ONLY = ("pk", "sk", "vm_pk", "day", "expires_at")


def _sk_time(moment: datetime) -> str:
    return in_utc(moment).strftime(_SK_TIME_FORMAT)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: whole ones are ints here."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, kind: str) -> dict[str, Any]:
    """Where a previous page of the same kind of query stopped; ValueError for anything else."""
    refusal = "The nextToken is not one this API handed out for this query; start again without it."
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError(refusal) from exc
    if not isinstance(state, dict) or state.get("kind") != kind:
        raise ValueError(refusal)
    key = state.get("key")
    if (
        not isinstance(key, dict)
        or set(key) != set(_RESUME_KEYS[kind])
        or not all(isinstance(value, str) for value in key.values())
    ):
        raise ValueError(refusal)
    if kind == "day":
        try:
            date.fromisoformat(key["day"])
        except ValueError as exc:
            raise ValueError(refusal) from exc
    return key


class AuditStore:
    """Writes and reads audit records in the audit table."""

    def __init__(self, table: Any, retention_days: int = AUDIT_RETENTION_DAYS) -> None:
        self.table = table
        self.retention_days = retention_days

    # -- writing -----------------------------------------------------------------------------------------

    def _key(self, record: AuditRecord) -> dict[str, str]:
        return {"pk": f"ACCOUNT#{record.account_id}", "sk": f"{_sk_time(record.at)}#{record.id}"}

    def _item(self, record: AuditRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._key(record),
            "day": record.at.date().isoformat(),
            "expires_at": int((record.at + timedelta(days=self.retention_days)).timestamp()),
        }
        if record.vm_key:
            item["vm_pk"] = record.vm_key
        fields = record.model_dump(mode="json", exclude_none=True)
        item.update({name: value for name, value in fields.items() if name not in _STORAGE_ONLY})
        return item

    def record(self, record: AuditRecord) -> None:
        """Store one request's record and log it as structured JSON."""
        self.table.put_item(Item=self._item(record))
        logger.info("audit", extra={"audit": record.as_log()})

    def complete(
        self,
        record: AuditRecord,
        *,
        status: str,
        exit_code: int | None = None,
        duration_ms: int | None = None,
        error_code: str | None = None,
        reason: str | None = None,
    ) -> AuditRecord:
        """Write how the request ended onto its record (async jobs finish long after they were audited).

        Fields given as None are left as they were. Returns the completed record, which is logged too.
        """
        changes: dict[str, Any] = {"status": AuditStatus(status)}
        for name, value in (
            ("exit_code", exit_code),
            ("duration_ms", duration_ms),
            ("error_code", error_code),
            ("reason", bounded(reason, FIELD_MAX_CHARS["reason"])),
        ):
            if value is not None:
                changes[name] = value
        completed = record.updated(**changes)
        names = {f"#{name}": name for name in changes}
        values = {f":{name}": value for name, value in changes.items()}
        try:
            self.table.update_item(
                Key=self._key(record),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in changes),
                ConditionExpression=Attr("pk").exists(),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # the first write was lost (the request's own write failed): the trail still gets the whole record
            self.table.put_item(Item=self._item(completed))
        logger.info("audit", extra={"audit": completed.as_log()})
        return completed

    # -- reading -----------------------------------------------------------------------------------------

    def query(
        self,
        *,
        account_id: str | None = None,
        vm_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[AuditRecord], str | None]:
        """Records newest first, filtered by account, VM and time, ``limit`` per page.

        By account: a Query of its partition (the VM as a filter when given too); by VM: the by_vm
        index; by neither: the by_day index, one day after the other from ``until`` back to ``since``
        (default: the last 24 hours; at most 31 days). Returns the page and the token of the next
        one (None on the last page). Bad limits, ranges or tokens raise ValueError with a sentence.
        """
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"The limit must be between 1 and {MAX_QUERY_LIMIT}, not {limit}.")
        since = in_utc(since) if since is not None else None
        until = in_utc(until) if until is not None else None
        if since is not None and until is not None and since > until:
            raise ValueError("The start of the time range (since) must not be later than its end (until).")
        if account_id is not None:
            kind = "account"
            key = Key("pk").eq(f"ACCOUNT#{account_id}")
        elif vm_id is not None:
            kind = "vm"
            key = Key("vm_pk").eq(f"VM#{vm_id}")
        else:
            kind = "day"
        start_key = _decode_token(next_token, kind) if next_token is not None else None
        # one more than a page tells whether a next page exists without handing out a dead token
        wanted = limit + 1
        if kind == "day":
            items = self._query_by_day(since, until, wanted, start_key)
        else:
            if since is not None and until is not None:
                key = key & Key("sk").between(_sk_time(since), _sk_time(until) + _SK_END)
            elif since is not None:
                key = key & Key("sk").gte(_sk_time(since))
            elif until is not None:
                key = key & Key("sk").lte(_sk_time(until) + _SK_END)
            query: dict[str, Any] = {"KeyConditionExpression": key, "ScanIndexForward": False}
            if kind == "vm":
                query["IndexName"] = AUDIT_BY_VM_INDEX
            elif vm_id is not None:
                query["FilterExpression"] = Attr("vm_pk").eq(f"VM#{vm_id}")
            items = self._collect(query, wanted, start_key)
        token = None
        if len(items) > limit:
            items = items[:limit]
            resume = {name: items[-1][name] for name in _RESUME_KEYS[kind]}
            token = _encode_token({"kind": kind, "key": resume})
        return [self._to_record(item) for item in items], token

    def _query_by_day(
        self, since: datetime | None, until: datetime | None, wanted: int, start_key: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Up to ``wanted`` items of the by_day index, newest first, from ``until``'s day back to
        ``since``'s (resuming after ``start_key``, on its day)."""
        until = in_utc(until) if until is not None else datetime.now(UTC)
        since = in_utc(since) if since is not None else until - DEFAULT_WINDOW
        if until - since > MAX_DAY_RANGE:
            raise ValueError(
                f"Without an account or VM the time range can span at most {MAX_DAY_RANGE.days} days; "
                "narrow since/until or filter by account or VM."
            )
        bounds = Key("sk").between(_sk_time(since), _sk_time(until) + _SK_END)
        day = date.fromisoformat(start_key["day"]) if start_key else until.date()
        items: list[dict[str, Any]] = []
        while day >= since.date() and len(items) < wanted:
            query = {
                "IndexName": AUDIT_BY_DAY_INDEX,
                "KeyConditionExpression": Key("day").eq(day.isoformat()) & bounds,
                "ScanIndexForward": False,
            }
            items.extend(self._collect(query, wanted - len(items), start_key))
            start_key = None
            day -= timedelta(days=1)
        return items

    def _collect(
        self, query: dict[str, Any], wanted: int, start_key: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Up to ``wanted`` items of one Query, following its pages (a filter may thin them out)."""
        items: list[dict[str, Any]] = []
        kwargs = dict(query)
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        while len(items) < wanted:
            kwargs["Limit"] = wanted - len(items)
            response = self.table.query(**kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items[:wanted]

    @staticmethod
    def _to_record(item: dict[str, Any]) -> AuditRecord:
        return AuditRecord.model_validate(
            {name: _plain(value) for name, value in item.items() if name not in _STORAGE_ONLY}
        )
