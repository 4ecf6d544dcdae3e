"""The job lifecycle after submission: the worker runs a queued job once, the sweeper fails lost ones.

Every move goes through the job store's transition table (queued -> running -> succeeded | failed,
queued -> denied | failed), written conditionally, so SQS's duplicate deliveries and a late worker
cannot run a job twice or overwrite an ending someone else wrote first.
"""

from __future__ import annotations

from collections.abc import Callable

from sysvmdiag.audit_record import AuditRecord, AuditStatus
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult, ErrorBody
from sysvmdiag.observability import count_by, logger, tracer
from sysvmdiag.pipeline.admission import Admission
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.execution import Execution
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.live_output import LiveWriter, with_live_result
from sysvmdiag.pipeline.origin import RunTimes
from sysvmdiag.pipeline.ports import Clock, JobQueuePort, JobRepository
from sysvmdiag.pipeline.visibility import may_read
from sysvmdiag.policy import Caller, Decision
from sysvmdiag.topology.model import Role, Topology

JobFinishedHook = Callable[[Job], None]


def _no_hook(job: Job) -> None:
    return None


class JobWorker:
    def __init__(
        self,
        jobs: JobRepository,
        queue: JobQueuePort,
        admission: Admission,
        execution: Execution,
        leases: Leases,
        audit: AuditTrail,
        clock: Clock,
        job_finished: JobFinishedHook = _no_hook,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._admission = admission
        self._execution = execution
        self._leases = leases
        self._audit = audit
        self._clock = clock
        self._job_finished = job_finished

    @tracer.capture_method
    def process(self, job_id: str, attempt: int = 1) -> Job | None:
        """Run a queued job once. Safe to call again for the same job and attempt."""
        job = self._jobs.get(job_id)
        if job is None:
            logger.warning("job not found; dropping its message", extra={"job_id": job_id})
            return None
        if self._clock() > job.deadline_at and not job.status.final:
            return self.expire(job)
        if job.status is not JobStatus.QUEUED:
            logger.info("job already taken", extra={"job_id": job_id, "status": job.status.value})
            return job
        caller = Caller(account_id=job.account_id, role=Role(job.role), domain=job.domain)
        request = DiagnosticRequest(
            target_id=job.target_id, type=job.type, ip_address=job.ip_address, params=job.params
        )
        try:  # the topology or the caller's rights may have changed since the job was queued
            decision, context = self._admission.authorize(caller, request)
        except ServiceError as err:
            return self.finish(job, JobStatus.DENIED, error=err)
        vm_id = decision.vm_uuid or job.target_id
        times = RunTimes(job.worst_case_seconds)
        try:
            self._leases.take_vm_slot(vm_id, job.id, times.lease, times.expected)
        except ServiceError as err:
            return self._defer(job, attempt, err.retry_after or 5)
        try:
            moved = self._jobs.transition(job, JobStatus.RUNNING, started_at=self._clock())
            if moved is None:  # another worker took it between our read and now
                return self._jobs.get(job_id)
            self._expect_back_at_run_end(moved[0], times.expected)
            return self._run(moved[0], request, decision, context)
        finally:
            self._leases.free_vm_slot(vm_id, job.id)

    def _expect_back_at_run_end(self, running: Job, expected: float) -> None:
        """The account's slot frees when this run ends: say so, for the Retry-After of callers refused
        meanwhile. Only an estimate: a failure to write it never stops the run."""
        try:
            self._leases.expect_account_slot_back(running.account_id, running.id, expected)
        except Exception:
            logger.exception("expected end of the job's slot not updated", extra={"job_id": running.id})

    def _run(
        self, running: Job, request: DiagnosticRequest, decision: Decision, context: Topology
    ) -> Job | None:
        live = LiveWriter(self._jobs, running.id, self._clock)
        try:
            result = self._execution.run(request, decision, context, on_output=live)
        except ServiceError as err:
            return self.finish(running, JobStatus.FAILED, error=err)
        except Exception as exc:
            logger.exception("job failed unexpectedly", extra={"job_id": running.id})
            err = ServiceError(ErrorCode.INTERNAL_ERROR, f"The worker failed: {type(exc).__name__}.")
            return self.finish(running, JobStatus.FAILED, error=err)
        status = JobStatus.SUCCEEDED if result.success else JobStatus.FAILED
        return self.finish(running, status, result=result)

    def _defer(self, job: Job, attempt: int, delay: int) -> Job:
        """The VM is at its run limit: send the job back to the queue for a later attempt."""
        logger.info("VM busy; job deferred", extra={"job_id": job.id, "attempt": attempt, "delay": delay})
        self._queue.send(job.id, attempt=attempt + 1, delay_seconds=delay)
        return job

    def expire(self, job: Job) -> Job | None:
        err = ServiceError(
            ErrorCode.JOB_DEADLINE_EXCEEDED,
            f"The job did not finish by its deadline ({job.deadline_at.isoformat(timespec='seconds')}); "
            "its worker stopped or never started. Submit it again.",
        )
        return self.finish(job, JobStatus.FAILED, error=err)

    def sweep_overdue(self) -> list[Job]:
        """Fail every queued or running job past its deadline (the scheduled sweeper)."""
        expired = [self.expire(job) for job in self._jobs.overdue(self._clock())]
        done = [job for job in expired if job is not None]
        if done:
            logger.warning("overdue jobs failed", extra={"job_ids": [job.id for job in done]})
        return done

    def finish(
        self,
        job: Job,
        status: JobStatus,
        *,
        result: DiagnosticResult | None = None,
        error: ServiceError | None = None,
    ) -> Job | None:
        """Final status (conditional), then free the account's slot, complete the audit, run the hook."""
        changes: dict = {"finished_at": self._clock(), "result": result}
        if error is not None:
            changes["error"] = ErrorBody(code=error.code.value, message=error.message)
        moved = self._jobs.transition(job, status, **changes)
        if moved is None:  # someone else ended it first; their outcome stands
            return self._jobs.get(job.id)
        finished, audit_json = moved
        self._leases.free_account_slot(finished.account_id, finished.id)
        if audit_json:
            record = AuditRecord.model_validate_json(audit_json)
            self._audit.complete(record, AuditStatus(status.value), result=result, error=error)
        count_by("JobsFinished", "status", status.value)
        if finished.playbook_run_id:
            try:
                self._job_finished(finished)
            except Exception:  # a notification must never undo or repeat the job
                logger.exception("job_finished hook failed", extra={"job_id": finished.id})
        return finished

    def job_for(self, caller: Caller, job_id: str) -> Job:
        """A job its owner (or an admin, or a domain admin over the owner's domain) may see."""
        job = self._jobs.get(job_id)
        if job is None or not may_read(caller, job.account_id, job.domain):
            raise ServiceError(ErrorCode.JOB_NOT_FOUND, f"No job {job_id!r} is visible to you.")
        if not job.status.final and self._clock() > job.deadline_at:
            job = self.expire(job) or job
        return with_live_result(job)
