"""Job submission: a request that outlasts the synchronous budget (or asks for it) becomes a queued job.

The audit record is written before the job exists, so the worker's completion always finds it; the
account's slot is held from now until the job ends: leased until the job's deadline (the queue allowance
is part of it), expected back after a short queue wait and the job's worst case (the Retry-After of a
caller refused meanwhile).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from sysvmdiag.audit_record import AuditDecision, AuditRecord, AuditStatus
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job, JobStatus, new_deadline
from sysvmdiag.models import DiagnosticRequest, ErrorBody
from sysvmdiag.observability import logger, metrics
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.job_worker import JobWorker
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.origin import (
    EXPECTED_QUEUE_WAIT_SECONDS,
    LEASE_MARGIN_SECONDS,
    RequestOrigin,
    RunTimes,
)
from sysvmdiag.pipeline.ports import Clock, JobQueuePort, JobRepository
from sysvmdiag.policy import Caller, Decision


class JobSubmission:
    def __init__(
        self,
        jobs: JobRepository,
        queue: JobQueuePort,
        leases: Leases,
        audit: AuditTrail,
        worker: JobWorker,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._leases = leases
        self._audit = audit
        self._worker = worker
        self._clock = clock

    @property
    def available(self) -> bool:
        return self._jobs.available

    def denied(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        origin: RequestOrigin,
        err: ServiceError,
        playbook_run_id: str | None,
    ) -> Job:
        """A refusal kept as a job in status denied (an alarm playbook reports it like any other job)."""
        now = self._clock()
        job = self._new_job(caller, request, origin, 0.0, now, playbook_run_id).model_copy(
            update={
                "status": JobStatus.DENIED,
                "finished_at": now,
                "error": ErrorBody(code=err.code.value, message=err.message),
            }
        )
        self._jobs.create(job)
        return job

    def enqueue(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        decision: Decision,
        origin: RequestOrigin,
        record: AuditRecord,
        playbook_run_id: str | None = None,
    ) -> Job:
        now = self._clock()
        job = self._new_job(caller, request, origin, decision.worst_case_seconds or 0.0, now, playbook_run_id)
        record = record.model_copy(update={"mode": "async", "job_id": job.id})
        lease = (job.deadline_at - now).total_seconds() + LEASE_MARGIN_SECONDS
        expected = EXPECTED_QUEUE_WAIT_SECONDS + RunTimes(job.worst_case_seconds).expected
        try:
            with dependency_errors():
                self._leases.take_account_slot(caller, job.id, lease, expected)
        except ServiceError as err:
            self._audit.refused(record, err)
            raise
        queued = self._audit.write(record, decision=AuditDecision.ALLOWED, status=AuditStatus.QUEUED)
        try:
            with dependency_errors():
                self._jobs.create(job, audit=queued.model_dump_json(by_alias=True))
        except ServiceError as err:
            self._leases.free_account_slot(caller.account_id, job.id)
            self._audit.complete(queued, AuditStatus.FAILED, error=err)
            raise
        self._send(job)
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
        return job

    def _send(self, job: Job) -> None:
        try:
            self._queue.send(job.id)
        except Exception as exc:
            logger.exception("job queue unavailable", extra={"job_id": job.id})
            err = ServiceError(
                ErrorCode.QUEUE_UNAVAILABLE,
                "The job queue did not take the job; nothing will run. Try again in a minute.",
            )
            self._worker.finish(job, JobStatus.FAILED, error=err)
            raise err from exc

    @staticmethod
    def _new_job(
        caller: Caller,
        request: DiagnosticRequest,
        origin: RequestOrigin,
        worst_case: float,
        now: datetime,
        playbook_run_id: str | None,
    ) -> Job:
        return Job(
            id=str(uuid.uuid4()),
            status=JobStatus.QUEUED,
            target_id=request.target_id,
            type=request.type,
            ip_address=request.ip_address,
            params=request.params,
            account_id=caller.account_id,
            role=caller.role.value,
            domain=caller.domain,
            actor=origin.actor,
            worst_case_seconds=worst_case,
            created_at=now,
            deadline_at=new_deadline(now, RunTimes(worst_case).longest),
            playbook_run_id=playbook_run_id,
        )
