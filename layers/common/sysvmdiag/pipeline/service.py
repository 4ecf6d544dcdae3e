"""The pipeline's front door: request -> caller -> limits -> policy -> runner -> parser -> result + audit.

``DiagnosticsService`` only composes the use cases (admission, cached runs, synchronous run, job
submission, job worker, reachability matrices, audit trail, listing) over the ports it is given;
``sysvmdiag.bootstrap`` builds it from the settings. Every answer that is not a result is a coded
:class:`~sysvmdiag.errors.ServiceError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job
from sysvmdiag.limits import DEFAULT_VM_CONCURRENT_RUNS, AccountLimits
from sysvmdiag.models import (
    DiagnosticRequest,
    DiagnosticResult,
    LimitsView,
    MatrixRequest,
    MatrixView,
    SystemVmList,
    VmStateRequest,
    VmStateView,
)
from sysvmdiag.observability import tracer
from sysvmdiag.pipeline.admission import Admission
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.cached_runs import CachedRuns
from sysvmdiag.pipeline.edge import EdgeRefusals
from sysvmdiag.pipeline.execution import Execution
from sysvmdiag.pipeline.job_submission import JobSubmission
from sysvmdiag.pipeline.job_worker import JobFinishedHook, JobWorker
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.listing import Listing
from sysvmdiag.pipeline.matrices import Matrices
from sysvmdiag.pipeline.origin import SYNC_BUDGET_SECONDS, RequestOrigin
from sysvmdiag.pipeline.ports import (
    AuditLog,
    BundleStore,
    Clock,
    JobQueuePort,
    JobRepository,
    Limiter,
    LogOnlyAudit,
    MatrixRepository,
    NoBundles,
    NoJobs,
    NoLimits,
    NoMatrices,
    NoQueue,
    NoResultCache,
    ResultCache,
    RunnerFactory,
    StateReadRepository,
    TopologySource,
)
from sysvmdiag.pipeline.quota_report import QuotaReport
from sysvmdiag.pipeline.sync_run import SyncRun
from sysvmdiag.pipeline.vm_state import DEFAULT_URL_TTL_SECONDS, VmStateReads
from sysvmdiag.policy import Caller, Decision
from sysvmdiag.state_reads import StateReadRecord
from sysvmdiag.topology.model import Role, Topology


def utc_now() -> datetime:
    return datetime.now(UTC)


def _no_hook(job: Job) -> None:
    return None


class DiagnosticsService:
    """Runs one diagnostic for one caller (now or as a job), or explains why not; audits either way."""

    def __init__(
        self,
        topology: TopologySource,
        runner_for: RunnerFactory,
        sync_budget_seconds: float = SYNC_BUDGET_SECONDS,
        *,
        jobs: JobRepository | None = None,
        queue: JobQueuePort | None = None,
        audit: AuditLog | None = None,
        limits: Limiter | None = None,
        account_limits: Mapping[Role, AccountLimits] | None = None,
        vm_concurrent_runs: int = DEFAULT_VM_CONCURRENT_RUNS,
        job_finished: JobFinishedHook = _no_hook,
        clock: Clock = utc_now,
        result_cache: ResultCache | None = None,
        result_cache_seconds: float = 0.0,
        matrices: MatrixRepository | None = None,
        bundles: BundleStore | None = None,
        bundle_url_seconds: int = DEFAULT_URL_TTL_SECONDS,
        state_reads: StateReadRepository | None = None,
    ):
        """A part a deployment lacks (None) is its null object: no jobs, log-only audit, no limits, no
        matrices, no result cache (then ``result_cache_seconds`` is moot: nothing is answered from a
        stored result), no bucket (no VM-state reads)."""
        jobs = jobs or NoJobs()
        queue = queue or NoQueue()
        leases = Leases(limits or NoLimits(), account_limits, vm_concurrent_runs)
        self._audit = AuditTrail(audit or LogOnlyAudit(), clock)
        self._admission = Admission(topology, leases, self._audit)
        execution = Execution(runner_for, topology, clock)
        self._sync = SyncRun(leases, execution, self._audit)
        self._cached = CachedRuns(
            result_cache or NoResultCache(), result_cache_seconds if result_cache else 0.0, self._audit, clock
        )
        self._worker = JobWorker(
            jobs, queue, self._admission, execution, leases, self._audit, clock, job_finished
        )
        self._submission = JobSubmission(jobs, queue, leases, self._audit, self._worker, clock)
        self._listing = Listing(topology)
        self._quotas = QuotaReport(leases, topology)
        self._edge = EdgeRefusals(leases, self._audit)
        self._matrices = Matrices(
            matrices or NoMatrices(),
            jobs,
            lambda caller, request, origin: self.submit_job(caller, request, origin, deny_as_job=True),
            self._worker.expire,
            self._edge,
            clock,
        )
        self._states = VmStateReads(
            topology,
            runner_for,
            leases,
            self._audit,
            bundles or NoBundles(),
            clock,
            bundle_url_seconds,
            state_reads,
        )
        self._sync_budget = sync_budget_seconds

    def authorize(self, caller: Caller, request: DiagnosticRequest) -> tuple[Decision, Topology]:
        """Policy only: the decision and the topology slice it was made on, or a ServiceError."""
        return self._admission.authorize(caller, request)

    @tracer.capture_method
    def submit(
        self, caller: Caller, request: DiagnosticRequest, origin: RequestOrigin
    ) -> DiagnosticResult | Job:
        """One API request: a result now (run, or stored when it asks for the cache and one is fresh), or
        a queued job when it may outlast the synchronous budget."""
        record = self._audit.new_record(caller, request, origin)
        decision, context = self._admission.admit(caller, request, record)
        record = _resolved(record, context, request)
        worst_case = decision.worst_case_seconds or 0.0
        if request.run_async or worst_case > self._sync_budget:
            if not self._submission.available:
                err = ServiceError(
                    ErrorCode.SYNC_BUDGET_EXCEEDED,
                    f"This {request.type.value} may run for up to {worst_case:.0f} s, longer than the "
                    f"{self._sync_budget:.0f} s a synchronous request may take, and this deployment has no "
                    "job queue; lower its count, wait or hops.",
                    field="params",
                )
                self._audit.refused(record, err)
                raise err
            return self._submission.enqueue(caller, request, decision, origin, record)
        return self._cached.answer(
            caller,
            request,
            decision,
            record,
            lambda: self._sync.run(caller, request, decision, context, record),
        )

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
        """A job whatever its length (alarm playbooks). With ``deny_as_job`` a refusal comes back as a job
        in status denied (so a playbook run reports it) instead of being raised."""
        if not self._submission.available:
            raise RuntimeError("submit_job needs a jobs table and queue (JOBS_TABLE, JOBS_QUEUE_URL)")
        record = self._audit.new_record(caller, request, origin)
        try:
            decision, context = self._admission.admit(caller, request, record)
        except ServiceError as err:
            if not deny_as_job:
                raise
            return self._submission.denied(caller, request, origin, err, playbook_run_id)
        record = _resolved(record, context, request)
        return self._submission.enqueue(caller, request, decision, origin, record, playbook_run_id)

    def submit_matrix(self, caller: Caller, request: MatrixRequest, origin: RequestOrigin) -> MatrixView:
        """A reachability matrix: every cell a job (denied and refused cells included), one record."""
        return self._matrices.submit(caller, request, origin)

    def matrix_for(self, caller: Caller, matrix_id: str) -> MatrixView:
        """The caller's own matrix (admins: any), each cell as its job stands now."""
        return self._matrices.read(caller, matrix_id)

    def read_vm_state(
        self, caller: Caller, request: VmStateRequest, origin: RequestOrigin, *, keep: bool = False
    ) -> VmStateView:
        """A system VM's own state (addresses, routes, rules, neighbours; for admins iptables and logs),
        cut to the caller's networks, bundled to S3 with a pre-signed URL; ``keep``: kept under its id
        for :meth:`state_read_for` (getDiagnosticsData's queryAsyncJobResult)."""
        return self._states.read(caller, request, origin, keep=keep)

    def state_read_for(self, caller: Caller, read_id: str) -> StateReadRecord | None:
        """A kept state read the caller may see, with a freshly signed URL; None when there is none."""
        return self._states.recall(caller, read_id)

    def refused_at_the_edge(
        self, caller: Caller | None, origin: RequestOrigin, error: ServiceError
    ) -> ServiceError:
        """A request the API refused before it reached a use case (validation, JSON, media type, route,
        a bug): counted toward the caller's minute (or, without a caller, its source address's) and
        audited with its code. Returns the error to answer with: ``error``, or RATE_LIMITED over the
        minute. Never raises."""
        return self._edge.refuse(caller, origin, error)

    def process_job(self, job_id: str, attempt: int = 1) -> Job | None:
        """The worker's half: run a queued job once. Safe to call again for the same job and attempt."""
        return self._worker.process(job_id, attempt)

    def sweep_overdue(self) -> list[Job]:
        return self._worker.sweep_overdue()

    def job_for(self, caller: Caller, job_id: str) -> Job:
        return self._worker.job_for(caller, job_id)

    def audit_page(self, caller: Caller, **filters: object) -> tuple[list[AuditRecord], str | None]:
        return self._audit.page(caller, **filters)  # type: ignore[arg-type]

    def list_targets(self, caller: Caller) -> SystemVmList:
        return self._listing.targets(caller)

    def limits_view(self, caller: Caller, account_id: str | None = None) -> LimitsView:
        """The caller's quotas and use (administrators: ``account_id``'s); counts toward no minute."""
        return self._quotas.view(caller, account_id)


def _resolved(record: AuditRecord, context: Topology, request: DiagnosticRequest) -> AuditRecord:
    """The record names the VM the request resolved to (its uuid and CloudStack name)."""
    vm = context.system_vm(request.target_id)
    return record.model_copy(update={"vm_uuid": vm.uuid, "vm_name": vm.vm_name})
