"""The pipeline behind the API: caller -> limits -> policy (topology) -> runner (SSH via bastion) -> parser
-> result and audit.

Handlers stay thin and call :class:`DiagnosticsService`; it raises :class:`ServiceError` for every
answer that is not a result, so each handler maps errors the same way. A request runs synchronously when
its worst case fits the budget API Gateway leaves, otherwise (or when asked) it becomes a :class:`Job`
that the worker runs from the queue; both paths write one audit record per request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from sysvmdiag.audit import AuditRecord, AuditStore
from sysvmdiag.config import Settings
from sysvmdiag.errors import RUNNER_STATUS, ServiceError
from sysvmdiag.identity import is_system_account, is_system_caller
from sysvmdiag.jobs import Job, JobQueue, JobStatus, JobStore, new_deadline
from sysvmdiag.limits import (
    DEFAULT_ACCOUNT_LIMITS,
    DEFAULT_VM_CONCURRENT_RUNS,
    AccountLimits,
    LimitExceeded,
    LimitStore,
)
from sysvmdiag.models import (
    DiagnosticRequest,
    DiagnosticResult,
    ErrorBody,
    SystemVmInterface,
    SystemVmList,
    SystemVmView,
)
from sysvmdiag.observability import count_by, logger, metrics, tracer
from sysvmdiag.parsers import parse_output
from sysvmdiag.policy import Caller, Decision, ReasonCode, allowed_egress_kinds, decide
from sysvmdiag.policy.tenancy import Reach, vm_networks
from sysvmdiag.topology.model import Host, NetworkKind, Role, SshEndpoint, Topology, Zone, domain_contains

# API Gateway gives up at 30 s; keep room for the SSH handshake and the answer.
SYNC_BUDGET_SECONDS = 25.0
_NO_ZONE = Zone(id="-", name="-")  # what the policy sees when the store has no such VM
SSH_OVERHEAD_SECONDS = 3.0
# A lease outlives its run by this much, so a slow release never frees a slot under a live run.
LEASE_MARGIN_SECONDS = 5.0


class RunOutputLike(Protocol):
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int


class Runner(Protocol):
    def run(self, vm: SshEndpoint, command: str, timeout: float) -> RunOutputLike: ...


class TopologySource(Protocol):
    def decision_context(self, vm_ref: str) -> Topology | None: ...
    def list_system_vms(self, caller_account_id: str | None = None) -> Topology: ...
    def bastion(self) -> Host: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, for the audit trail (API Gateway's request context, or an alarm)."""

    request_id: str
    source_ip: str | None = None
    user_agent: str | None = None
    actor: str = "api"
    alarm_name: str | None = None
    playbook: str | None = None


JobFinishedHook = Callable[[Job], None]


class DiagnosticsService:
    """Runs one diagnostic for one caller (now or as a job), or explains why not; audits either way."""

    def __init__(
        self,
        store: TopologySource,
        runner_for: Callable[[SshEndpoint], Runner],
        sync_budget_seconds: float = SYNC_BUDGET_SECONDS,
        *,
        jobs: JobStore | None = None,
        queue: JobQueue | None = None,
        audit: AuditStore | None = None,
        limits: LimitStore | None = None,
        account_limits: Mapping[Role, AccountLimits] | None = None,
        vm_concurrent_runs: int = DEFAULT_VM_CONCURRENT_RUNS,
        job_finished: JobFinishedHook | None = None,
        clock: Callable[[], datetime] = _now,
    ):
        self._store = store
        self._runner_for = runner_for
        self._sync_budget = sync_budget_seconds
        self._jobs = jobs
        self._queue = queue
        self._audit = audit
        self._limits = limits
        self._account_limits = dict(account_limits or DEFAULT_ACCOUNT_LIMITS)
        self._vm_concurrent_runs = vm_concurrent_runs
        self._job_finished = job_finished
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, job_finished: JobFinishedHook | None = None
    ) -> DiagnosticsService:
        """Wire the real stores, queue and SSH runner (imported here: the policy path stays light)."""
        import boto3

        from sysvmdiag.limits import limits_from_env
        from sysvmdiag.runner import get_runner, load_private_key
        from sysvmdiag.topology.store import TopologyStore

        def runner_for(bastion: SshEndpoint) -> Runner:
            return get_runner(bastion, lambda: load_private_key(settings.ssh_key_secret_id))

        dynamodb = boto3.resource("dynamodb")
        account_limits, vm_runs = limits_from_env()
        return cls(
            TopologyStore.from_env(dynamodb_resource=dynamodb),
            runner_for,
            settings.sync_budget_seconds,
            jobs=JobStore.from_env(dynamodb) if settings.jobs_table else None,
            queue=JobQueue(settings.jobs_queue_url) if settings.jobs_queue_url else None,
            audit=AuditStore.from_env(dynamodb) if settings.audit_table else None,
            limits=LimitStore.from_env(dynamodb) if settings.limits_table else None,
            account_limits=account_limits,
            vm_concurrent_runs=vm_runs,
            job_finished=job_finished,
        )

    # -- policy ----------------------------------------------------------------------------------------

    @tracer.capture_method
    def authorize(self, caller: Caller, request: DiagnosticRequest) -> tuple[Decision, Topology]:
        """Policy only: the decision and the topology slice it was made on, or a ServiceError.

        A VM missing from the store is refused by the policy itself (on an empty zone), so it is answered
        exactly like a VM the caller may not use: same code, sentence and field.
        """
        context = self._store.decision_context(request.target_id) or Topology(zone=_NO_ZONE)
        decision = decide(
            caller, request.target_id, request.type.value, request.ip_address, request.params, context
        )
        if not decision.allowed:
            code = str(decision.code)
            count_by("Denials", "reason", code)
            logger.info("diagnostic denied", extra={"decision": decision.to_dict()})
            raise ServiceError(
                code,
                decision.message,
                decision.code.http_status,
                field="targetId" if decision.code is ReasonCode.TARGET_NOT_FOUND else None,
                detail_code=str(decision.detail_code),
                detail=decision.detail,
            )
        return decision, context

    # -- requests ----------------------------------------------------------------------------------------

    @tracer.capture_method
    def submit(
        self, caller: Caller, request: DiagnosticRequest, origin: RequestOrigin
    ) -> DiagnosticResult | Job:
        """One API request: a result now, or a queued job when it may outlast the synchronous budget."""
        record = self._audit_record(caller, request, origin)
        decision, context = self._admit(caller, request, record)
        vm = context.system_vm(request.target_id)
        record = record.model_copy(update={"vm_uuid": vm.uuid, "vm_name": vm.vm_name})
        worst_case = decision.worst_case_seconds or 0.0
        wants_job = request.run_async or worst_case > self._sync_budget
        if wants_job and self._jobs is not None and self._queue is not None:
            return self._enqueue(caller, request, decision, origin, record)
        if wants_job:
            err = self._no_async(request, worst_case)
            self._record(record, decision="rejected", status="rejected", error=err)
            raise err
        return self._run_sync(caller, request, decision, context, record)

    def _admit(
        self, caller: Caller, request: DiagnosticRequest, record: AuditRecord
    ) -> tuple[Decision, Topology]:
        """The request-rate limit, then the policy; a refusal is audited (rejected or denied) and raised."""
        try:
            with _dependency_errors():
                self._count_request(caller)
        except ServiceError as err:
            self._record(record, decision="rejected", status="rejected", error=err)
            raise
        try:
            with _dependency_errors():
                return self.authorize(caller, request)
        except ServiceError as err:
            refused = err.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT)
            outcome = "denied" if refused else "rejected"
            self._record(record, decision=outcome, status=outcome, error=err)
            raise

    def _no_async(self, request: DiagnosticRequest, worst_case: float) -> ServiceError:
        return ServiceError(
            "SYNC_BUDGET_EXCEEDED",
            f"This {request.type.value} may run for up to {worst_case:.0f} s, longer than the "
            f"{self._sync_budget:.0f} s a synchronous request may take, and this deployment has no job "
            "queue; lower its count, wait or hops.",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            field="params",
        )

    def _run_sync(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        decision: Decision,
        context: Topology,
        record: AuditRecord,
    ) -> DiagnosticResult:
        holder = record.id
        lease = (decision.worst_case_seconds or 0.0) + SSH_OVERHEAD_SECONDS + LEASE_MARGIN_SECONDS
        vm_id = decision.vm_uuid or request.target_id
        try:
            with _dependency_errors(), ExitStack() as held:  # released in reverse order, whatever happens
                self._acquire_account_slot(caller, holder, lease)
                held.callback(self._release_account_slot, caller.account_id, holder)
                self._acquire_vm_slot(vm_id, holder, lease)
                held.callback(self._release_vm_slot, vm_id, holder)
                result = self._execute(request, decision, context)
        except ServiceError as err:  # nothing ran when a limit or a backing service said no
            rejected = err.status == HTTPStatus.TOO_MANY_REQUESTS or err.code == STORE_UNAVAILABLE
            self._record(
                record.model_copy(update={"mode": "sync"}),
                decision="rejected" if rejected else "allowed",
                status="rejected" if rejected else "failed",
                error=err,
            )
            raise
        self._record(
            record.model_copy(update={"mode": "sync"}),
            decision="allowed",
            status=result.status,
            exit_code=result.exit_code,
            duration_ms=result.duration_ms,
        )
        return result

    @tracer.capture_method
    def _execute(self, request: DiagnosticRequest, decision: Decision, context: Topology) -> DiagnosticResult:
        """SSH through the bastion to the VM, run the canonical command line, parse what it printed."""
        vm = context.system_vm(request.target_id)
        bastion = self._bastion(context)
        if decision.invocation is None or vm.ssh is None or bastion.ssh is None:
            raise ServiceError(
                "TOPOLOGY_INCOMPLETE",
                f"The topology has no SSH endpoint for {vm.vm_name or vm.name} or the bastion; reload it.",
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )
        worst_case = decision.worst_case_seconds or 0.0
        command = decision.invocation.command_line()
        started = _now()
        clock = time.monotonic()
        from sysvmdiag.runner import RunnerError  # paramiko stays off the import path of the policy

        try:
            output = self._runner_for(bastion.ssh).run(
                vm.ssh, command, timeout=worst_case + SSH_OVERHEAD_SECONDS
            )
        except RunnerError as exc:
            count_by("RunnerErrors", "code", str(exc.code))
            logger.warning("runner failed", extra={"code": exc.code, "vm": vm.name})
            status = RUNNER_STATUS.get(exc.code, HTTPStatus.BAD_GATEWAY)
            retry_after = 30 if status == HTTPStatus.SERVICE_UNAVAILABLE else None
            raise ServiceError(exc.code, exc.message, status, retry_after=retry_after) from exc
        elapsed_ms = int((time.monotonic() - clock) * 1000)
        metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SshLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        parsed = parse_output(request.type.value, output.stdout, output.stderr, output.exit_code)
        # Exit 0 is success, except a traceroute that ended short of its destination (!N, !H, * * *).
        success = output.exit_code == 0 and not parsed.ended_short
        return DiagnosticResult(
            id=str(uuid.uuid4()),
            target_id=vm.uuid or request.target_id,
            target_name=vm.vm_name,
            type=request.type,
            ip_address=request.ip_address,
            params=request.params,
            status="succeeded" if success else "failed",
            success=success,
            exit_code=output.exit_code,
            stdout=output.stdout,
            stderr=output.stderr,
            truncated=output.truncated,
            result=parsed,
            egress_interface=decision.egress_interface,
            egress_kind=decision.egress_kind,
            command=command,
            started_at=started,
            finished_at=_now(),
            duration_ms=elapsed_ms,
        )

    def _bastion(self, context: Topology) -> Host:
        try:
            return context.bastion()
        except KeyError:
            return self._store.bastion()

    # -- jobs --------------------------------------------------------------------------------------------

    @tracer.capture_method
    def submit_job(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        origin: RequestOrigin,
        *,
        playbook_run_id: str | None = None,
        deny_as_job: bool = False,
    ) -> Job:
        """A job for the worker whatever its length (alarm playbooks). With ``deny_as_job`` a refusal is
        returned as a job in status denied (so a playbook run reports it) instead of raised."""
        if self._jobs is None or self._queue is None:
            raise RuntimeError("submit_job needs JOBS_TABLE and JOBS_QUEUE_URL")
        record = self._audit_record(caller, request, origin)
        try:
            decision, context = self._admit(caller, request, record)
        except ServiceError as err:
            if not deny_as_job:
                raise
            return self._denied_job(caller, request, origin, err, playbook_run_id)
        vm = context.system_vm(request.target_id)
        record = record.model_copy(update={"vm_uuid": vm.uuid, "vm_name": vm.vm_name})
        return self._enqueue(caller, request, decision, origin, record, playbook_run_id)

    def _denied_job(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        origin: RequestOrigin,
        err: ServiceError,
        playbook_run_id: str | None,
    ) -> Job:
        now = self._clock()
        job = self._new_job(caller, request, origin, 0.0, now, playbook_run_id).model_copy(
            update={
                "status": JobStatus.DENIED,
                "finished_at": now,
                "error": ErrorBody(code=err.code, message=err.message),
            }
        )
        assert self._jobs is not None
        self._jobs.create(job)
        return job

    def _new_job(
        self,
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
            deadline_at=new_deadline(now, worst_case, SSH_OVERHEAD_SECONDS),
            playbook_run_id=playbook_run_id,
        )

    def _enqueue(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        decision: Decision,
        origin: RequestOrigin,
        record: AuditRecord,
        playbook_run_id: str | None = None,
    ) -> Job:
        assert self._jobs is not None and self._queue is not None
        now = self._clock()
        job = self._new_job(caller, request, origin, decision.worst_case_seconds or 0.0, now, playbook_run_id)
        record = record.model_copy(update={"mode": "async", "job_id": job.id})
        lease = (job.deadline_at - now).total_seconds() + LEASE_MARGIN_SECONDS
        try:
            with _dependency_errors():
                self._acquire_account_slot(caller, job.id, lease)
        except ServiceError as err:
            self._record(record, decision="rejected", status="rejected", error=err)
            raise
        # Written before the job exists, so the worker's completion always finds the record.
        queued = self._record(record, decision="allowed", status=JobStatus.QUEUED.value)
        try:
            with _dependency_errors():
                self._jobs.create(job, audit=queued.model_dump_json(by_alias=True) if queued else None)
        except ServiceError as err:
            self._release_account_slot(caller.account_id, job.id)
            self._complete_audit(queued, status="failed", error=err)
            raise
        try:
            self._queue.send(job.id)
        except Exception as exc:
            logger.exception("job queue unavailable", extra={"job_id": job.id})
            err = ServiceError(
                "QUEUE_UNAVAILABLE",
                "The job queue did not take the job; nothing will run. Try again in a minute.",
                HTTPStatus.SERVICE_UNAVAILABLE,
                retry_after=60,
            )
            self._finish(job, (JobStatus.QUEUED,), JobStatus.FAILED, error=err)
            raise err from exc
        metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
        return job

    @tracer.capture_method
    def process_job(self, job_id: str, attempt: int = 1) -> Job | None:
        """The worker's half: run a queued job once. Safe to call again for the same job and attempt."""
        if self._jobs is None:
            raise RuntimeError("process_job needs JOBS_TABLE")
        job = self._jobs.get(job_id)
        if job is None:
            logger.warning("job not found; dropping its message", extra={"job_id": job_id})
            return None
        if job.status is not JobStatus.QUEUED:
            if not job.status.final and self._clock() > job.deadline_at:
                return self._expire(job)
            logger.info("job already taken", extra={"job_id": job_id, "status": job.status.value})
            return job
        if self._clock() > job.deadline_at:
            return self._expire(job)
        caller = Caller(account_id=job.account_id, role=Role(job.role), domain=job.domain)
        request = DiagnosticRequest(
            target_id=job.target_id, type=job.type, ip_address=job.ip_address, params=job.params
        )
        try:  # the topology or the caller's rights may have changed since the job was queued
            decision, context = self.authorize(caller, request)
        except ServiceError as err:
            return self._finish(job, (JobStatus.QUEUED,), JobStatus.DENIED, error=err)
        vm_id = decision.vm_uuid or job.target_id
        lease = job.worst_case_seconds + SSH_OVERHEAD_SECONDS + LEASE_MARGIN_SECONDS
        try:
            self._acquire_vm_slot(vm_id, job.id, lease)
        except ServiceError as err:
            return self._defer(job, attempt, err.retry_after or 5)
        try:
            running = self._jobs.transition(
                job, (JobStatus.QUEUED,), status=JobStatus.RUNNING, started_at=_now()
            )
            if running is None:  # another worker took it between our read and now
                return self._jobs.get(job_id)
            try:
                result = self._execute(request, decision, context)
            except ServiceError as err:
                return self._finish(running, (JobStatus.RUNNING,), JobStatus.FAILED, error=err)
            except Exception as exc:
                logger.exception("job failed unexpectedly", extra={"job_id": job_id})
                err = ServiceError("INTERNAL_ERROR", f"The worker failed: {type(exc).__name__}.", 500)
                return self._finish(running, (JobStatus.RUNNING,), JobStatus.FAILED, error=err)
            status = JobStatus.SUCCEEDED if result.success else JobStatus.FAILED
            return self._finish(running, (JobStatus.RUNNING,), status, result=result)
        finally:
            self._release_vm_slot(vm_id, job.id)

    def _defer(self, job: Job, attempt: int, delay: int) -> Job:
        """The VM is at its run limit: send the job back to the queue for a later attempt."""
        assert self._queue is not None
        logger.info("VM busy; job deferred", extra={"job_id": job.id, "attempt": attempt, "delay": delay})
        self._queue.send(job.id, attempt=attempt + 1, delay_seconds=delay)
        return job

    def _expire(self, job: Job) -> Job | None:
        err = ServiceError(
            "JOB_DEADLINE_EXCEEDED",
            f"The job did not finish by its deadline ({job.deadline_at.isoformat(timespec='seconds')}); "
            "its worker stopped or never started. Submit it again.",
            HTTPStatus.GATEWAY_TIMEOUT,
        )
        return self._finish(job, (JobStatus.QUEUED, JobStatus.RUNNING), JobStatus.FAILED, error=err)

    def sweep_overdue(self) -> list[Job]:
        """Fail every queued or running job past its deadline (the scheduled sweeper)."""
        if self._jobs is None:
            return []
        expired = [self._expire(job) for job in self._jobs.overdue(self._clock())]
        done = [job for job in expired if job is not None]
        if done:
            logger.warning("overdue jobs failed", extra={"job_ids": [job.id for job in done]})
        return done

    def _finish(
        self,
        job: Job,
        expected: tuple[JobStatus, ...],
        status: JobStatus,
        *,
        result: DiagnosticResult | None = None,
        error: ServiceError | None = None,
    ) -> Job | None:
        """Final status (conditional), then free the account's slot, complete the audit, run the hook."""
        assert self._jobs is not None
        changes: dict = {"status": status, "finished_at": _now(), "result": result}
        if error is not None:
            changes["error"] = ErrorBody(code=error.code, message=error.message)
        moved = self._jobs.transition_with_audit(job, expected, **changes)
        if moved is None:  # someone else ended it first; their outcome stands
            return self._jobs.get(job.id)
        finished, audit_json = moved
        self._release_account_slot(finished.account_id, finished.id)
        if audit_json:
            self._complete_audit(
                AuditRecord.model_validate_json(audit_json), status=status.value, result=result, error=error
            )
        count_by("JobsFinished", "status", status.value)
        if self._job_finished is not None and finished.playbook_run_id:
            try:
                self._job_finished(finished)
            except Exception:  # a notification must never undo or repeat the job
                logger.exception("job_finished hook failed", extra={"job_id": finished.id})
        return finished

    def job_for(self, caller: Caller, job_id: str) -> Job:
        """A job its owner (or an admin, or a domain admin over the owner's domain) may see."""
        job = self._jobs.get(job_id) if self._jobs is not None else None
        if job is None or not self._may_see(caller, job):
            raise ServiceError("JOB_NOT_FOUND", f"No job {job_id!r} is visible to you.", HTTPStatus.NOT_FOUND)
        if not job.status.final and self._clock() > job.deadline_at:
            job = self._expire(job) or job
        return job

    @staticmethod
    def _may_see(caller: Caller, job: Job) -> bool:
        if caller.role is Role.ADMIN or job.account_id == caller.account_id:
            return True
        return caller.role is Role.DOMAIN_ADMIN and domain_contains(caller.domain, job.domain)

    # -- limits ------------------------------------------------------------------------------------------

    def _limits_of(self, caller: Caller) -> AccountLimits:
        return self._account_limits[caller.role]

    def _count_request(self, caller: Caller) -> None:
        if self._limits is None or is_system_caller(caller):
            return
        with _limit_errors():
            self._limits.count_request(caller.account_id, self._limits_of(caller).requests_per_minute)

    def _acquire_account_slot(self, caller: Caller, holder: str, lease: float) -> None:
        if self._limits is None or is_system_caller(caller):
            return
        with _limit_errors():
            self._limits.acquire_account_slot(
                caller.account_id, holder, self._limits_of(caller).concurrent_jobs, lease
            )

    def _release_account_slot(self, account_id: str, holder: str) -> None:
        if self._limits is not None and not is_system_account(account_id):
            self._limits.release_account_slot(account_id, holder)

    def _acquire_vm_slot(self, vm_id: str, holder: str, lease: float) -> None:
        if self._limits is None:
            return
        with _limit_errors():
            self._limits.acquire_vm_slot(vm_id, holder, self._vm_concurrent_runs, lease)

    def _release_vm_slot(self, vm_id: str, holder: str) -> None:
        if self._limits is not None:
            self._limits.release_vm_slot(vm_id, holder)

    # -- audit -------------------------------------------------------------------------------------------

    def _audit_record(self, caller: Caller, request: DiagnosticRequest, origin: RequestOrigin) -> AuditRecord:
        return AuditRecord(
            id=origin.request_id,
            at=self._clock(),
            account_id=caller.account_id,
            role=caller.role.value,
            domain=caller.domain,
            actor=origin.actor,
            system=is_system_caller(caller),
            target_id=request.target_id,
            type=request.type.value,
            ip_address=request.ip_address,
            params=request.params,
            decision="allowed",
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
            alarm_name=origin.alarm_name,
            playbook=origin.playbook,
        )

    def _record(
        self,
        record: AuditRecord,
        *,
        decision: str,
        status: str,
        error: ServiceError | None = None,
        exit_code: int | None = None,
        duration_ms: int | None = None,
    ) -> AuditRecord | None:
        """Write the request's audit record; an audit outage is logged, never turned into a failed run."""
        final = record.model_copy(
            update={
                "decision": decision,
                "status": status,
                "reason_code": error.code if error else None,
                "reason": error.message if error else None,
                "detail_code": error.detail_code if error else None,
                "detail": error.detail if error else None,
                "error_code": error.code if error and decision == "allowed" else None,
                "exit_code": exit_code,
                "duration_ms": duration_ms,
            }
        )
        if self._audit is None:
            logger.info("audit", extra={"audit": final.model_dump(mode="json", by_alias=True)})
            return final
        try:
            self._audit.record(final)
        except Exception:
            logger.exception(
                "audit write failed", extra={"audit": final.model_dump(mode="json", by_alias=True)}
            )
        return final

    def _complete_audit(
        self,
        record: AuditRecord | None,
        *,
        status: str,
        result: DiagnosticResult | None = None,
        error: ServiceError | None = None,
    ) -> None:
        """Complete an async request's record when its job ends; an audit outage is logged, not raised."""
        if self._audit is None or record is None:
            return
        try:
            self._audit.complete(
                record,
                status=status,
                exit_code=result.exit_code if result else None,
                duration_ms=result.duration_ms if result else None,
                error_code=error.code if error else None,
                reason=error.message if error else None,
            )
        except Exception:
            logger.exception("audit completion failed", extra={"audit_id": record.id, "status": status})

    def audit_page(
        self,
        caller: Caller,
        *,
        account_id: str | None = None,
        vm_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[AuditRecord], str | None]:
        """Audit records for admins, newest first."""
        if caller.role is not Role.ADMIN:
            raise ServiceError(
                "AUDIT_ADMIN_ONLY", "Only administrators may read the audit trail.", HTTPStatus.FORBIDDEN
            )
        if self._audit is None:
            raise ServiceError(
                "AUDIT_UNAVAILABLE", "This deployment has no audit table.", HTTPStatus.SERVICE_UNAVAILABLE
            )
        try:
            return self._audit.query(
                account_id=account_id,
                vm_id=vm_id,
                since=since,
                until=until,
                limit=limit,
                next_token=next_token,
            )
        except ValueError as err:
            raise ServiceError("INVALID_AUDIT_QUERY", str(err), HTTPStatus.BAD_REQUEST) from err

    # -- listing -----------------------------------------------------------------------------------------

    @tracer.capture_method
    def list_targets(self, caller: Caller) -> SystemVmList:
        """The VMs the caller may target; a non-admin sees only interfaces on the public network and on
        networks it has (no control or management address, nothing of another tenant)."""
        topology = self._store.list_system_vms(caller.account_id)
        reach = Reach(caller, topology)
        views = []
        for vm in topology.system_vms():
            if not reach.may_target(vm):
                continue
            networks = vm_networks(vm, topology)
            shown = [
                iface
                for iface in vm.interfaces
                if iface.name in networks
                and (
                    caller.is_admin
                    or networks[iface.name].kind is NetworkKind.PUBLIC
                    or reach.has_network(networks[iface.name])
                )
            ]
            views.append(
                SystemVmView(
                    id=vm.uuid or vm.name,
                    name=vm.vm_name or vm.name,
                    kind=vm.kind.value,
                    state=vm.state,
                    interfaces=[
                        SystemVmInterface(
                            name=iface.name,
                            network=iface.network,
                            network_kind=networks[iface.name].kind.value,
                            ipv4=str(iface.ipv4) if iface.ipv4 else None,
                            ipv6=str(iface.ipv6) if iface.ipv6 else None,
                        )
                        for iface in shown
                    ],
                    allowed_egress_kinds=list(allowed_egress_kinds(caller, vm, topology)),
                )
            )
        return SystemVmList(count=len(views), systemvms=views)


STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


@contextmanager
def _dependency_errors() -> Iterator[None]:
    """Whatever goes wrong below becomes a ServiceError, so every request is answered with a code and
    audited: an AWS service failing past boto3's retries (throttling, endpoint down) is 503 with
    Retry-After; anything else unexpected is 500 INTERNAL_ERROR."""
    try:
        yield
    except ServiceError:
        raise
    except (ClientError, BotoCoreError) as exc:
        logger.exception("backing AWS service failed")
        count_by("DependencyErrors", "code", type(exc).__name__)
        raise ServiceError(
            STORE_UNAVAILABLE,
            "A backing AWS service (DynamoDB, SQS) did not answer in time, even after retries; nothing "
            "ran. Try again shortly.",
            HTTPStatus.SERVICE_UNAVAILABLE,
            retry_after=5,
        ) from exc
    except Exception as exc:
        logger.exception("unexpected error")
        raise ServiceError(
            "INTERNAL_ERROR",
            f"An internal error ({type(exc).__name__}) stopped the request; it has been logged.",
            HTTPStatus.INTERNAL_SERVER_ERROR,
        ) from exc


@contextmanager
def _limit_errors() -> Iterator[None]:
    """LimitExceeded -> 429 with Retry-After (the store knows when capacity comes back)."""
    try:
        yield
    except LimitExceeded as exc:
        count_by("Throttles", "code", exc.code)
        raise ServiceError(
            exc.code, exc.message, HTTPStatus.TOO_MANY_REQUESTS, retry_after=max(1, int(exc.retry_after))
        ) from exc
