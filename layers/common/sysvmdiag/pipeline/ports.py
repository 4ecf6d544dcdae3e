"""The ports of the pipeline: what each use case needs from the outside, and the null objects that stand
in when a deployment has no such part (no jobs table, no limits table, no audit table, no result cache,
no matrices).

Adapters (DynamoDB stores, the SQS queue, the paramiko runner) satisfy these Protocols structurally;
tests use in-memory fakes of the same shape (``tests/unit/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.limits import SlotClaim, WindowCount
from sysvmdiag.matrix_store import MatrixRecord
from sysvmdiag.models import DiagnosticResult
from sysvmdiag.observability import logger
from sysvmdiag.state_reads import StateReadRecord
from sysvmdiag.topology.model import Host, SshEndpoint, Topology

Clock = Callable[[], datetime]


class TopologySource(Protocol):
    def decision_context(
        self, vm_ref: str, destination: str | None = None, also: Sequence[str] = ()
    ) -> Topology | None: ...
    def fresh_context(self, vm_ref: str, destination: str | None = None) -> Topology | None: ...
    def list_system_vms(self) -> Topology: ...
    def bastion(self) -> Host: ...


class RunOutputLike(Protocol):
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int


class Runner(Protocol):
    def run(
        self,
        vm: SshEndpoint,
        command: str,
        timeout: float,
        output_cap: int = ...,
        *,
        connect_allowance: float = ...,
        on_output: Callable[[str], None] | None = None,
    ) -> RunOutputLike: ...


RunnerFactory = Callable[[SshEndpoint], Runner]  # a runner for the bastion at this endpoint


class JobRepository(Protocol):
    available: bool

    def create(self, job: Job, audit: str | None = None) -> None: ...
    def get(self, job_id: str) -> Job | None: ...
    def get_many(self, job_ids: list[str]) -> dict[str, Job]: ...
    def transition(self, job: Job, status: JobStatus, **changes: object) -> tuple[Job, str | None] | None: ...
    def overdue(self, now: datetime, limit: int = 100) -> list[Job]: ...
    def record_live(self, job_id: str, stdout: str, at: datetime) -> bool: ...


class MatrixRepository(Protocol):
    available: bool

    def create(self, record: MatrixRecord) -> None: ...
    def get(self, matrix_id: str) -> MatrixRecord | None: ...


class BundleStore(Protocol):
    """Where VM-state bundles go: an object per request and a pre-signed URL to download it."""

    available: bool

    def put(self, key: str, data: bytes) -> None: ...
    def url(self, key: str, ttl_seconds: int) -> str: ...


class NoBundles:
    """No bucket: reading a VM's state is refused before anything runs (STATE_BUNDLES_UNAVAILABLE)."""

    available = False

    def put(self, key: str, data: bytes) -> None:
        raise RuntimeError("this deployment has no bucket for VM-state bundles (DATA_BUCKET)")

    def url(self, key: str, ttl_seconds: int) -> str:
        raise RuntimeError("this deployment has no bucket for VM-state bundles (DATA_BUCKET)")


class StateReadRepository(Protocol):
    """Finished VM-state reads kept for getDiagnosticsData's queryAsyncJobResult."""

    available: bool

    def put(self, record: StateReadRecord) -> None: ...
    def get(self, read_id: str) -> StateReadRecord | None: ...


class NoStateReads:
    """No jobs table: no read is kept, so getDiagnosticsData is refused (STATE_BUNDLES_UNAVAILABLE)."""

    available = False

    def put(self, record: StateReadRecord) -> None:
        raise RuntimeError("this deployment has no jobs table (JOBS_TABLE)")

    def get(self, read_id: str) -> StateReadRecord | None:
        return None


class JobQueuePort(Protocol):
    def send(self, job_id: str, attempt: int = 1, delay_seconds: int = 0) -> None: ...


class AuditLog(Protocol):
    def record(self, record: AuditRecord) -> None: ...
    def complete(self, record: AuditRecord, **changes: object) -> AuditRecord: ...
    def query(self, **filters: object) -> tuple[list[AuditRecord], str | None]: ...


class ResultCache(Protocol):
    """Stored results by key; an entry past its ``ttl_seconds`` is never returned (TTL deletion is lazy)."""

    def get(self, key: str, now: datetime) -> tuple[DiagnosticResult, datetime] | None: ...
    def put(self, key: str, result: DiagnosticResult, stored_at: datetime, ttl_seconds: float) -> None: ...


class Limiter(Protocol):
    def count_request(self, account_id: str, per_minute: int) -> WindowCount | None: ...
    def read_window(self, account_id: str) -> WindowCount | None: ...
    def in_flight_for_account(self, account_id: str) -> int: ...
    def acquire_account_slot(
        self, account_id: str, holder: str, limit: int, lease_seconds: float, expected_seconds: float
    ) -> None: ...
    def acquire_vm_slot(
        self, vm_id: str, holder: str, limit: int, lease_seconds: float, expected_seconds: float
    ) -> None: ...
    def expect_account_slot_back(self, account_id: str, holder: str, expected_seconds: float) -> None: ...
    def release_account_slot(self, account_id: str, holder: str) -> None: ...
    def release_vm_slot(self, vm_id: str, holder: str) -> None: ...
    def acquire_slots(
        self, claims: Sequence[SlotClaim], holder: str, lease_seconds: float, expected_seconds: float
    ) -> None: ...
    def release_slots(self, partitions: Sequence[str], holder: str) -> None: ...


# -- null objects: a deployment without the part behaves as documented, with no None checks ----------


class NoJobs:
    """No jobs table: long runs are refused (SYNC_BUDGET_EXCEEDED), job reads find nothing."""

    available = False

    def create(self, job: Job, audit: str | None = None) -> None:
        raise RuntimeError("this deployment has no jobs table (JOBS_TABLE)")

    def get(self, job_id: str) -> Job | None:
        return None

    def get_many(self, job_ids: list[str]) -> dict[str, Job]:
        return {}

    def transition(self, job: Job, status: JobStatus, **changes: object) -> tuple[Job, str | None] | None:
        return None

    def overdue(self, now: datetime, limit: int = 100) -> list[Job]:
        return []

    def record_live(self, job_id: str, stdout: str, at: datetime) -> bool:
        return False


class NoMatrices:
    """No jobs table: no matrix can be stored (submitting one is refused), none is found."""

    available = False

    def create(self, record: MatrixRecord) -> None:
        raise RuntimeError("this deployment has no jobs table (JOBS_TABLE)")

    def get(self, matrix_id: str) -> MatrixRecord | None:
        return None


class NoQueue:
    """No jobs queue: a job cannot be handed to a worker."""

    def send(self, job_id: str, attempt: int = 1, delay_seconds: int = 0) -> None:
        raise RuntimeError("this deployment has no jobs queue (JOBS_QUEUE_URL)")


class LogOnlyAudit:
    """No audit table: records go to the log only, and the trail cannot be read back."""

    def record(self, record: AuditRecord) -> None:
        logger.info("audit", extra={"audit": record.as_log()})

    def complete(self, record: AuditRecord, **changes: object) -> AuditRecord:
        done = AuditRecord.model_validate(
            {**record.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        )
        logger.info("audit", extra={"audit": done.as_log()})
        return done

    def query(self, **filters: object) -> tuple[list[AuditRecord], str | None]:
        raise ServiceError(ErrorCode.AUDIT_UNAVAILABLE, "This deployment has no audit table.")


class NoResultCache:
    """No cache (RESULT_CACHE_SECONDS 0, or no jobs table): nothing is found, nothing is kept."""

    def get(self, key: str, now: datetime) -> tuple[DiagnosticResult, datetime] | None:
        return None

    def put(self, key: str, result: DiagnosticResult, stored_at: datetime, ttl_seconds: float) -> None:
        return None


class NoLimits:
    """No limits table: nothing is limited, nothing is counted (no window to report)."""

    def count_request(self, account_id: str, per_minute: int) -> WindowCount | None:
        return None

    def read_window(self, account_id: str) -> WindowCount | None:
        return None

    def in_flight_for_account(self, account_id: str) -> int:
        return 0

    def acquire_account_slot(
        self, account_id: str, holder: str, limit: int, lease_seconds: float, expected_seconds: float
    ) -> None:
        return None

    def acquire_vm_slot(
        self, vm_id: str, holder: str, limit: int, lease_seconds: float, expected_seconds: float
    ) -> None:
        return None

    def expect_account_slot_back(self, account_id: str, holder: str, expected_seconds: float) -> None:
        return None

    def release_account_slot(self, account_id: str, holder: str) -> None:
        return None

    def release_vm_slot(self, vm_id: str, holder: str) -> None:
        return None

    def acquire_slots(
        self, claims: Sequence[SlotClaim], holder: str, lease_seconds: float, expected_seconds: float
    ) -> None:
        return None

    def release_slots(self, partitions: Sequence[str], holder: str) -> None:
        return None
