"""Asynchronous diagnostic jobs: the jobs table (one item per job) and the queue between API and worker.

A job moves ``queued -> running -> succeeded | failed``, or ends ``denied`` (the policy said no when the
worker looked again) or ``failed`` with ``JOB_DEADLINE_EXCEEDED`` (its worker died or never came). Every
move is a conditional write on the current status, so two workers given the same job (SQS delivers at
least once) cannot both run it, and a late worker cannot overwrite a job the sweeper already failed.

Item layout (table ``JOBS_TABLE``, hash key ``id``): ``status``, ``deadline_at`` (ISO-8601 UTC),
``open_pk`` = ``OPEN`` only while queued or running (the sparse GSI ``open_jobs`` the sweeper queries),
``expires_at`` (TTL), ``doc`` (the job as JSON, what GET /diagnostics/{id} returns) and ``audit`` (the
audit record as JSON, completed when the job ends). Three other kinds of item share the table, none
with ``open_pk`` or ``doc``: playbook runs (:mod:`sysvmdiag.playbooks.runs`), cached results
(:mod:`sysvmdiag.result_cache`) and reachability matrices (:mod:`sysvmdiag.matrix_store`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import Field

from sysvmdiag.models import DiagnosticResult, DiagnosticType, ErrorBody, Wire
from sysvmdiag.results import ParsedResult
from sysvmdiag.topology.store import OPEN_JOBS_INDEX

OPEN = "OPEN"
JOB_RETENTION_DAYS = 7
# BatchGetItem takes at most 100 keys per call.
BATCH_GET_KEYS = 100
# How long a job may wait in the queue (VM busy, workers scaling) before it counts as lost.
QUEUE_ALLOWANCE_SECONDS = 600.0
# A running job's live output keeps at most this much of stdout (its start: the hops come first).
LIVE_OUTPUT_MAX_CHARS = 64 * 1024


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"

    @property
    def final(self) -> bool:
        return not TRANSITIONS[self]


# The only moves a job makes; the store writes each one conditionally on the stored status being one
# this table allows, so no caller spells out "from which statuses" and no final status is ever left.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DENIED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.DENIED: frozenset(),
}


def sources_of(target: JobStatus) -> tuple[JobStatus, ...]:
    """The statuses from which a job may move to ``target`` (empty for QUEUED: jobs start there)."""
    return tuple(status for status, targets in TRANSITIONS.items() if target in targets)


class LiveOutput(Wire):
    """A running job's output so far, as the worker last wrote it (at most once a second)."""

    stdout: str = Field(description="stdout so far (its first 64 KiB).")
    updated_at: datetime
    result: ParsedResult | None = Field(
        default=None,
        description="What the parser reads from the complete lines so far: the hops so far for "
        "traceroute and pmtu, the replies so far for ping.",
    )


class Job(Wire):
    """A diagnostic run that outlives its HTTP request; ``result`` once it ran, ``error`` when it did not."""

    id: str
    status: JobStatus
    target_id: str
    type: DiagnosticType
    ip_address: str
    params: str | None = None
    account_id: str
    role: str
    domain: str
    actor: str = Field(default="api", description='"api" for callers, "alarm" for alarm playbooks.')
    worst_case_seconds: float
    created_at: datetime
    deadline_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: DiagnosticResult | None = None
    error: ErrorBody | None = None
    playbook_run_id: str | None = None
    live: LiveOutput | None = Field(
        default=None, description="While running: the output so far and what it says so far."
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _job_of(item: dict[str, Any]) -> Job:
    """The job of a stored item, with its live output while it runs (kept apart from ``doc``, so a
    live write never races a status move over the document)."""
    job = Job.model_validate_json(item["doc"])
    if job.status is JobStatus.RUNNING and "live_output" in item:
        live = LiveOutput(stdout=item["live_output"], updated_at=datetime.fromisoformat(item["live_at"]))
        job = job.model_copy(update={"live": live})
    return job


class JobStore:
    """Reads and conditional writes of the jobs table (a boto3 Table resource)."""

    available = True  # the JobRepository port: a deployment with a jobs table takes long runs as jobs

    def __init__(self, table: Any, retention_days: int = JOB_RETENTION_DAYS) -> None:
        self.table = table
        self.retention = timedelta(days=retention_days)

    def _item(self, job: Job, audit: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": job.id,
            "status": job.status.value,
            "deadline_at": _iso(job.deadline_at),
            "expires_at": int((job.created_at + self.retention).timestamp()),
            "doc": job.model_dump_json(by_alias=True),
        }
        if not job.status.final:
            item["open_pk"] = OPEN
        if job.playbook_run_id:
            item["playbook_run_id"] = job.playbook_run_id
        if audit is not None:
            item["audit"] = audit
        return item

    def create(self, job: Job, audit: str | None = None) -> None:
        """Store a new job; an id that exists already is a programming error (ids are uuid4)."""
        self.table.put_item(Item=self._item(job, audit), ConditionExpression=Attr("id").not_exists())

    def get(self, job_id: str) -> Job | None:
        item = self.table.get_item(Key={"id": job_id}, ConsistentRead=True).get("Item")
        if item is None or "doc" not in item:
            return None
        return _job_of(item)

    def record_live(self, job_id: str, stdout: str, at: datetime) -> bool:
        """Store a running job's output so far; False once the job is no longer running (a late write
        never lands on an ended job)."""
        try:
            self.table.update_item(
                Key={"id": job_id},
                UpdateExpression="SET live_output = :out, live_at = :at",
                ConditionExpression=Attr("status").eq(JobStatus.RUNNING.value),
                ExpressionAttributeValues={":out": stdout[:LIVE_OUTPUT_MAX_CHARS], ":at": _iso(at)},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_many(self, job_ids: list[str]) -> dict[str, Job]:
        """The jobs of ``job_ids`` that exist, by id: one consistent BatchGetItem per 100 ids (keys
        DynamoDB leaves unprocessed are asked again, in the same loop)."""
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        client = self.table.meta.client
        for start in range(0, len(unique), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table.name: {
                    "Keys": [{"id": job_id} for job_id in unique[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table.name, []):
                    if "doc" in item:
                        job = _job_of(item)
                        found[job.id] = job
                request = response.get("UnprocessedKeys") or {}
        return found

    def transition(self, job: Job, status: JobStatus, **changes: Any) -> tuple[Job, str | None] | None:
        """Move ``job`` to ``status`` (with ``changes``) if the stored status may move there (TRANSITIONS).

        Returns the moved job and the audit record stored with it (the same write's answer: ending a job
        costs no extra read to find the record it completes), or None when the stored status says no
        (another worker or the sweeper moved it first).
        """
        expected = sources_of(status)
        if not expected:
            raise ValueError(f"no job moves to {status.value}")
        updated = job.model_copy(update={**changes, "status": status, "live": None})  # live: never in doc
        names = {"#doc": "doc", "#status": "status"}
        values: dict[str, Any] = {
            ":doc": updated.model_dump_json(by_alias=True),
            ":status": updated.status.value,
        }
        expression = "SET #doc = :doc, #status = :status"
        if updated.status.final:
            expression += " REMOVE open_pk, live_output, live_at"
        condition = Attr("status").is_in([source.value for source in expected])
        try:
            response = self.table.update_item(
                Key={"id": job.id},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return updated, response.get("Attributes", {}).get("audit")

    def overdue(self, now: datetime, limit: int = 100) -> list[Job]:
        """Queued or running jobs whose deadline has passed (one Query on the sparse GSI)."""
        response = self.table.query(
            IndexName=OPEN_JOBS_INDEX,
            KeyConditionExpression=Key("open_pk").eq(OPEN) & Key("deadline_at").lt(_iso(now)),
            Limit=limit,
        )
        return [Job.model_validate_json(item["doc"]) for item in response["Items"] if "doc" in item]


class JobQueue:
    """The SQS queue between the API (and the alarm handler) and the worker.

    A message is ``{"jobId": ..., "attempt": n}``: the worker's idempotency key is both, so a duplicate
    delivery of one message runs nothing twice while a deliberate retry (VM busy) is a new attempt.
    """

    def __init__(self, queue_url: str, sqs_client: Any) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client

    def send(self, job_id: str, attempt: int = 1, delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps({"jobId": job_id, "attempt": attempt}),
            DelaySeconds=max(0, min(900, int(delay_seconds))),
        )


def new_deadline(created_at: datetime, run_budget_seconds: float) -> datetime:
    """When a job that has not ended counts as lost: queue allowance + its run's budget."""
    return created_at + timedelta(seconds=QUEUE_ALLOWANCE_SECONDS + run_budget_seconds)
