"""Playbook runs: one record per playbook an alarm started, and exactly one SNS message when it ends.

The run record lives in the jobs table (``id`` = ``playbook-run#<uuid>``) without ``open_pk`` (the
sweeper's index of open jobs) and without ``doc`` (so it is never mistaken for a job). It counts
``remaining`` participants: every diagnostic of the playbook plus the starter itself. Each finished
job, each job denied at submission and the starter's "all submitted" step take one off with an
atomic, conditional UpdateItem (a job id already in ``finished_job_ids`` is refused, so a repeated
call changes nothing); whoever brings it to zero publishes. Counting the starter means a fast worker
cannot finish the last job before the starter has written the job ids the message lists.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from sysvmdiag.jobs import JOB_RETENTION_DAYS, Job, JobStatus, JobStore
from sysvmdiag.observability import logger
from sysvmdiag.summaries import one_line

RUN_ID_PREFIX = "playbook-run#"
SUBJECT_MAX = 100  # SNS: subjects are at most 100 printable ASCII characters


def new_run_id() -> str:
    return f"{RUN_ID_PREFIX}{uuid.uuid4()}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- summaries (pure) -----------------------------------------------------------------------------------


def job_summary(job: Job) -> str:
    """One short line a person reads in a notification: loss, hops reached, or why it did not run."""
    if job.error is not None and (job.result is None or job.status is JobStatus.DENIED):
        return f"{job.status.value}: {job.error.code}: {job.error.message}"[:200]
    if job.result is None:
        return f"{job.status.value}: no result"
    line = one_line(job.result.result, job.ip_address)
    if not job.result.success and job.result.exit_code not in (None, 0):
        line += f" (exit code {job.result.exit_code})"
    return line


def _ascii(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def notification_subject(alarm_name: str, counts: Counter[str]) -> str:
    """``sysvmdiag: <alarm>: 2 succeeded, 0 failed`` within SNS's 100 printable ASCII characters."""
    tail = f": {counts['succeeded']} succeeded, {counts['failed']} failed"
    if counts["denied"]:
        tail += f", {counts['denied']} denied"
    head = "sysvmdiag: "
    room = SUBJECT_MAX - len(head) - len(tail)
    name = _ascii(alarm_name)
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..."
    return (head + name + tail)[:SUBJECT_MAX]


def job_entry(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "targetId": job.target_id,
        "type": job.type.value,
        "ipAddress": job.ip_address,
        "status": job.status.value,
        "success": bool(job.result and job.result.success),
        "exitCode": job.result.exit_code if job.result else None,
        "summary": job_summary(job),
    }


# -- the run record -------------------------------------------------------------------------------------


class PlaybookRuns:
    """Run records in the jobs table and the one notification per run on the results topic."""

    def __init__(self, jobs: JobStore, sns_client: Any, topic_arn: str | None) -> None:
        self.jobs = jobs
        self.table = jobs.table
        self.sns = sns_client
        self.topic_arn = topic_arn

    def open(
        self,
        *,
        run_id: str,
        alarm_name: str,
        alarm_state: str,
        playbook_id: str,
        event_id: str,
        diagnostics: int,
        now: datetime | None = None,
    ) -> None:
        """Create the record: ``remaining`` is every diagnostic plus the starter."""
        now = now or datetime.now(UTC)
        self.table.put_item(
            Item={
                "id": run_id,
                "item_type": "PLAYBOOK_RUN",
                "alarm_name": alarm_name,
                "alarm_state": alarm_state,
                "playbook": playbook_id,
                "event_id": event_id,
                "started_at": _iso(now),
                "job_ids": [],
                "diagnostics": diagnostics,
                "remaining": diagnostics + 1,
                "expires_at": int((now + timedelta(days=JOB_RETENTION_DAYS)).timestamp()),
            },
            ConditionExpression="attribute_not_exists(id)",
        )

    def submitted(self, run_id: str, job_ids: list[str], failures: list[dict[str, Any]]) -> bool:
        """The starter is done: record the job ids (and submissions that failed), take its count off.

        ``failures`` are diagnostics no job exists for (the submission itself failed); each counts as
        finished. True when this call completed the run (and published).
        """
        for index, _failure in enumerate(failures):
            self._take_one(run_id, f"submit-failed#{index}")
        try:
            response = self.table.update_item(
                Key={"id": run_id},
                UpdateExpression="SET job_ids = :ids, submit_failures = :failures, submitted_at = :now "
                "ADD remaining :minus_one",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(submitted_at)",
                ExpressionAttributeValues={
                    ":ids": job_ids,
                    ":failures": json.dumps(failures),
                    ":now": _iso(datetime.now(UTC)),
                    ":minus_one": -1,
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return self._complete_if_done(run_id, response)

    def finished(self, run_id: str, job_id: str) -> bool:
        """One job of the run reached a final status; a second call for it changes nothing.

        True when this call completed the run (and published).
        """
        return self._take_one(run_id, job_id)

    def _take_one(self, run_id: str, finished_id: str) -> bool:
        try:
            response = self.table.update_item(
                Key={"id": run_id},
                UpdateExpression="ADD finished_job_ids :finished, remaining :minus_one",
                ConditionExpression="attribute_exists(id) AND NOT contains(finished_job_ids, :finished_id)",
                ExpressionAttributeValues={
                    ":finished": {finished_id},
                    ":finished_id": finished_id,
                    ":minus_one": -1,
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            logger.info("playbook run: already counted", extra={"run_id": run_id, "job_id": finished_id})
            return False
        return self._complete_if_done(run_id, response)

    def _complete_if_done(self, run_id: str, response: dict[str, Any]) -> bool:
        if int(response["Attributes"]["remaining"]) != 0:
            return False
        self.publish(run_id)
        return True

    def record(self, run_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"id": run_id}, ConsistentRead=True).get("Item")

    def notification(self, run_id: str) -> tuple[str, dict[str, Any]]:
        """Subject and message body of a finished run, from its record and its jobs."""
        run = self.record(run_id)
        if run is None:
            raise LookupError(f"no playbook run {run_id}")
        entries: list[dict[str, Any]] = []
        finished_at = run.get("submitted_at") or run["started_at"]
        for job_id in run.get("job_ids", []):
            job = self.jobs.get(job_id)
            if job is None:
                entries.append(
                    {
                        "id": job_id,
                        "status": "unknown",
                        "success": False,
                        "exitCode": None,
                        "summary": "the job record is gone",
                    }
                )
                continue
            entries.append(job_entry(job))
            if job.finished_at is not None:
                finished_at = max(finished_at, _iso(job.finished_at))
        for failure in json.loads(run.get("submit_failures") or "[]"):
            entries.append({**failure, "id": None, "status": "failed", "success": False, "exitCode": None})
        counts = Counter({"succeeded": 0, "failed": 0, "denied": 0})
        counts.update(entry["status"] for entry in entries)
        message = {
            "playbookRunId": run_id,
            "alarmName": run["alarm_name"],
            "playbook": run["playbook"],
            "alarmState": run["alarm_state"],
            "eventId": run["event_id"],
            "startedAt": run["started_at"],
            "finishedAt": finished_at,
            "counts": dict(counts),
            "jobs": entries,
        }
        return notification_subject(run["alarm_name"], counts), message

    def publish(self, run_id: str) -> str:
        """Send the run's one message to the results topic and note its id on the record."""
        if not self.topic_arn:
            raise RuntimeError("set RESULTS_TOPIC_ARN to the results topic's ARN")
        subject, message = self.notification(run_id)
        response = self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=json.dumps(message, default=str),
            MessageAttributes={
                "alarmName": {"DataType": "String", "StringValue": message["alarmName"]},
                "playbook": {"DataType": "String", "StringValue": message["playbook"]},
            },
        )
        self.table.update_item(
            Key={"id": run_id},
            UpdateExpression="SET published_at = :now, message_id = :message_id",
            ExpressionAttributeValues={":now": _iso(datetime.now(UTC)), ":message_id": response["MessageId"]},
        )
        logger.info("playbook run published", extra={"run_id": run_id, "subject": subject})
        return response["MessageId"]


# -- the worker's hook ------------------------------------------------------------------------------------


class FinishedJobNotifier:
    """The worker's hook for a job of a playbook run reaching a final status. Never raises.

    Cheap (one UpdateItem; the last job also reads the run and publishes). Its ``PlaybookRuns`` is built
    on first use by ``build`` (the composition root's), once per process; a failure here, building
    included, must not fail the job, so it is logged and swallowed.
    """

    def __init__(self, build: Callable[[], PlaybookRuns]) -> None:
        self._build = build
        self._runs: PlaybookRuns | None = None

    def __call__(self, job: Job) -> None:
        if not job.playbook_run_id or not job.status.final:
            return
        try:
            if self._runs is None:
                self._runs = self._build()
            self._runs.finished(job.playbook_run_id, job.id)
        except Exception:
            logger.exception(
                "playbook run: counting a finished job failed",
                extra={"run_id": job.playbook_run_id, "job_id": job.id},
            )
