"""In-memory fakes of the pipeline's ports: the whole pipeline runs on them, without moto, lab or sockets.

Each fake keeps the contract its adapter has (the job store's transition table, the limiter's
LimitExceeded, the runner's RunnerError), so a use case cannot tell them apart from the real ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.jobs import LIVE_OUTPUT_MAX_CHARS, Job, JobStatus, LiveOutput, sources_of
from sysvmdiag.limits import LimitExceeded, SlotClaim, WindowCount, rate_window
from sysvmdiag.matrix_store import MatrixRecord
from sysvmdiag.models import DiagnosticResult
from sysvmdiag.runner.errors import RunnerError, RunOutput
from sysvmdiag.state_reads import StateReadRecord
from sysvmdiag.topology.layout import decision_slice
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Host, SshEndpoint, Topology, load_topology
from sysvmdiag.vmstate import PART_COMMANDS
from tests.conftest import GOLDEN_OUTPUTS

OUTPUTS = GOLDEN_OUTPUTS
LAB = load_topology(DEFAULT_TOPOLOGY_FILE)


class MovableClock:
    """A clock the test moves: deadlines and expiries without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class SecondsClock:
    """A monotonic-style clock in seconds the test moves (instance idle times, cache TTLs)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeTopology:
    """The topology store over a Topology in memory: a VM's slice, the listing, the bastion."""

    def __init__(self, topology: Topology = LAB) -> None:
        self.topology = topology
        self.fail_with: Exception | None = None

    def decision_context(
        self, vm_ref: str, destination: str | None = None, also: Sequence[str] = ()
    ) -> Topology | None:
        if self.fail_with is not None:
            raise self.fail_with
        try:
            self.topology.system_vm(vm_ref)
        except KeyError:
            return None
        return decision_slice(self.topology, vm_ref, destination, also)

    def fresh_context(self, vm_ref: str, destination: str | None = None) -> Topology | None:
        return self.decision_context(vm_ref, destination)

    def list_system_vms(self) -> Topology:
        return self.topology

    def bastion(self) -> Host:
        return self.topology.bastion()


def captured(name: str) -> RunOutput:
    """A tool's output captured from the lab (tests/unit/parsers/outputs), as the runner returns it."""
    data = json.loads((OUTPUTS / f"{name}.json").read_text())
    return RunOutput(data["exit_code"], data["stdout"], data["stderr"], truncated=False, duration_ms=5)


@dataclass
class FakeRunner:
    """Answers each run with the next scripted output (or raises the scripted error); records commands."""

    outputs: list[RunOutput | Exception] = field(default_factory=list)
    commands: list[tuple[str, str, float]] = field(default_factory=list)
    output_caps: list[int | None] = field(default_factory=list)  # None: the runner's own default
    connect_allowances: list[float] = field(default_factory=list)
    # stdout so far, told to a run's on_output one after the other before it returns (live output);
    # ``during_run`` is called after each, so a test can look at the job while it "runs".
    live_chunks: list[str] = field(default_factory=list)
    during_run: Callable[[], None] | None = None

    def run(
        self,
        vm: SshEndpoint,
        command: str,
        timeout: float,
        output_cap: int | None = None,
        *,
        connect_allowance: float = 0.0,
        on_output: Callable[[str], None] | None = None,
    ) -> RunOutput:
        self.commands.append((str(vm.address), command, timeout))
        self.connect_allowances.append(connect_allowance)
        self.output_caps.append(output_cap)
        for chunk in self.live_chunks if on_output is not None else ():
            on_output(chunk)
            if self.during_run is not None:
                self.during_run()
        answer = self.outputs.pop(0) if self.outputs else captured("ping_v4_ok")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def factory(self) -> Callable[[SshEndpoint], FakeRunner]:
        return lambda _bastion: self


def state_output(
    stdouts: dict[str, list[str]], logs: dict[str, str | None] | None = None, *, exit_code: int = 0
) -> RunOutput:
    """The VM side's answer to a ``state`` line: each part's commands printing the given stdouts
    (``ip -j`` parts: JSON lists as text), each log's tail (None: the file is not on the VM)."""
    parts = {
        part: [
            {"argv": list(argv), "exitStatus": 0, "stdout": out, "stderr": "", "cut": False}
            for argv, out in zip(PART_COMMANDS[part], outs, strict=True)
        ]
        for part, outs in stdouts.items()
    }
    tails = {
        name: {"path": f"/var/log/{name}.log", "present": text is not None, "text": text or "", "cut": False}
        for name, text in (logs or {}).items()
    }
    return RunOutput(
        exit_code, json.dumps({"parts": parts, "logs": tails}), "", truncated=False, duration_ms=9
    )


@dataclass
class FakeBundles:
    """The bundle bucket: objects in a dict, URLs that name the key and the TTL."""

    objects: dict[str, bytes] = field(default_factory=dict)
    available: bool = True

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def url(self, key: str, ttl_seconds: int) -> str:
        return f"https://bundles.example/{key}?expires={ttl_seconds}"


@dataclass
class InMemoryStateReads:
    """Kept VM-state reads (getDiagnosticsData), by id."""

    records: dict[str, StateReadRecord] = field(default_factory=dict)
    available: bool = True

    def put(self, record: StateReadRecord) -> None:
        assert record.id not in self.records
        self.records[record.id] = record

    def get(self, read_id: str) -> StateReadRecord | None:
        return self.records.get(read_id)


def runner_error(code: str) -> RunnerError:
    return RunnerError(code, f"{code.lower().replace('_', ' ')} (scripted)")


class InMemoryJobs:
    """The jobs table: conditional moves by the same transition table the DynamoDB store uses."""

    available = True

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.audits: dict[str, str | None] = {}
        self.fail_create: Exception | None = None
        self.batch_reads = 0
        self.live: dict[str, tuple[str, datetime]] = {}
        self.live_writes = 0

    def create(self, job: Job, audit: str | None = None) -> None:
        if self.fail_create is not None:
            raise self.fail_create
        assert job.id not in self.jobs
        self.jobs[job.id], self.audits[job.id] = job, audit

    def get(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and job.status is JobStatus.RUNNING and job_id in self.live:
            stdout, at = self.live[job_id]
            job = job.model_copy(update={"live": LiveOutput(stdout=stdout, updated_at=at)})
        return job

    def get_many(self, job_ids: list[str]) -> dict[str, Job]:
        self.batch_reads += 1
        return {job_id: self.jobs[job_id] for job_id in job_ids if job_id in self.jobs}

    def transition(self, job: Job, status: JobStatus, **changes: object) -> tuple[Job, str | None] | None:
        stored = self.jobs.get(job.id)
        if stored is None or stored.status not in sources_of(status):
            return None
        moved = job.model_copy(update={**changes, "status": status, "live": None})
        self.jobs[job.id] = moved
        if status.final:
            self.live.pop(job.id, None)
        return moved, self.audits.get(job.id)

    def record_live(self, job_id: str, stdout: str, at: datetime) -> bool:
        self.live_writes += 1
        stored = self.jobs.get(job_id)
        if stored is None or stored.status is not JobStatus.RUNNING:
            return False
        self.live[job_id] = (stdout[:LIVE_OUTPUT_MAX_CHARS], at)
        return True

    def overdue(self, now: datetime, limit: int = 100) -> list[Job]:
        return [j for j in self.jobs.values() if not j.status.final and j.deadline_at < now][:limit]


@dataclass
class FakeQueue:
    sent: list[tuple[str, int, int]] = field(default_factory=list)
    fail_with: Exception | None = None

    def send(self, job_id: str, attempt: int = 1, delay_seconds: int = 0) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((job_id, attempt, delay_seconds))


class InMemoryAudit:
    """The audit table: records by id, completed in place; a query returns them newest first."""

    def __init__(self) -> None:
        self.records: dict[str, AuditRecord] = {}
        self.fail_with: Exception | None = None

    def record(self, record: AuditRecord) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.records[record.id] = record

    def complete(self, record: AuditRecord, **changes: object) -> AuditRecord:
        if self.fail_with is not None:
            raise self.fail_with
        done = AuditRecord.model_validate(
            {**record.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        )
        self.records[record.id] = done
        return done

    def query(self, **filters: object) -> tuple[list[AuditRecord], str | None]:
        if filters.get("next_token") == "bad":
            raise ValueError("The nextToken is not one this API handed out for this query.")
        account = filters.get("account_id")
        found = [r for r in self.records.values() if account in (None, r.account_id)]
        return sorted(found, key=lambda r: r.at, reverse=True), None


class FakeLimiter:
    """Requests per fixed minute and slots as plain counters; over a limit: LimitExceeded, like the store.

    ``requests`` holds the current window's counts (a test may preset one); moving ``clock`` into the next
    minute starts a fresh window, as the store's keys do. The clock starts 42 s before a window ends.
    ``taken`` keeps every slot asked for as (key, holder, lease seconds, expected seconds)."""

    def __init__(self, clock: SecondsClock | None = None) -> None:
        self.clock = clock or SecondsClock(start=1038.0)
        self.requests: dict[str, int] = {}
        self._window_start = rate_window(self.clock())[0]
        self.slots: dict[str, set[str]] = {}
        self.taken: list[tuple[str, str, float, float]] = []
        # every expected end announced for a held slot, as (key, holder, expected seconds)
        self.expected_back: list[tuple[str, str, float]] = []
        self.at_once = 0  # slot sets taken together (a run's account and VM slots)

    def _window(self, account_id: str) -> WindowCount:
        now = self.clock()
        start, end = rate_window(now)
        if start != self._window_start:
            self._window_start, self.requests = start, {}
        return WindowCount(self.requests.get(account_id, 0), end, max(1, math.ceil(end - now)))

    def count_request(self, account_id: str, per_minute: int) -> WindowCount:
        window = self._window(account_id)
        if window.count >= per_minute:
            retry = window.reset_seconds
            raise LimitExceeded("RATE_LIMITED", f"over the requests per minute; retry in {retry} s.", retry)
        self.requests[account_id] = window.count + 1
        return WindowCount(window.count + 1, window.window_end, window.reset_seconds)

    def read_window(self, account_id: str) -> WindowCount:
        return self._window(account_id)

    def in_flight_for_account(self, account_id: str) -> int:
        return len(self.slots.get(f"ACCOUNT#{account_id}", set()))

    def _acquire(self, key: str, holder: str, limit: int, code: str, seconds: tuple[float, float]) -> None:
        self.taken.append((key, holder, *seconds))
        held = self.slots.setdefault(key, set())
        if len(held) >= limit:
            raise LimitExceeded(code, f"{key} is at its limit of {limit}; retry in 7 s.", 7)
        held.add(holder)

    def acquire_account_slot(
        self, account_id: str, holder: str, limit: int, lease: float, expected: float
    ) -> None:
        self._acquire(f"ACCOUNT#{account_id}", holder, limit, "TOO_MANY_JOBS", (lease, expected))

    def acquire_vm_slot(self, vm_id: str, holder: str, limit: int, lease: float, expected: float) -> None:
        self._acquire(f"VM#{vm_id}", holder, limit, "VM_BUSY", (lease, expected))

    def expect_account_slot_back(self, account_id: str, holder: str, expected_seconds: float) -> None:
        key = f"ACCOUNT#{account_id}"
        if holder in self.slots.get(key, set()):
            self.expected_back.append((key, holder, expected_seconds))

    def release_account_slot(self, account_id: str, holder: str) -> None:
        self.slots.get(f"ACCOUNT#{account_id}", set()).discard(holder)

    def release_vm_slot(self, vm_id: str, holder: str) -> None:
        self.slots.get(f"VM#{vm_id}", set()).discard(holder)

    def acquire_slots(
        self, claims: Sequence[SlotClaim], holder: str, lease_seconds: float, expected_seconds: float
    ) -> None:
        """All or none, as the store: a full claim gives back what the earlier ones took."""
        taken: list[str] = []
        try:
            for claim in claims:
                self._acquire(claim.pk, holder, claim.limit, claim.code, (lease_seconds, expected_seconds))
                taken.append(claim.pk)
        except LimitExceeded:
            for pk in taken:
                self.slots[pk].discard(holder)
            raise
        self.at_once += 1

    def release_slots(self, partitions: Sequence[str], holder: str) -> None:
        for pk in partitions:
            self.slots.get(pk, set()).discard(holder)

    def held(self) -> int:
        return sum(len(holders) for holders in self.slots.values())


class InMemoryMatrices:
    """The matrices' records (in the jobs table, like the store): written once, read by id."""

    available = True

    def __init__(self) -> None:
        self.records: dict[str, MatrixRecord] = {}

    def create(self, record: MatrixRecord) -> None:
        assert record.id not in self.records
        self.records[record.id] = record

    def get(self, matrix_id: str) -> MatrixRecord | None:
        return self.records.get(matrix_id)


class InMemoryResultCache:
    """The result cache's store: entries by key, never returned past their time (as the store checks
    ``fresh_until`` itself); ``fail_with`` makes every read and write raise, as a DynamoDB outage."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[DiagnosticResult, datetime, datetime]] = {}
        self.fail_with: Exception | None = None
        self.reads = 0

    def get(self, key: str, now: datetime) -> tuple[DiagnosticResult, datetime] | None:
        self.reads += 1
        if self.fail_with is not None:
            raise self.fail_with
        entry = self.entries.get(key)
        if entry is None or now >= entry[2]:
            return None
        return entry[0], entry[1]

    def put(self, key: str, result: DiagnosticResult, stored_at: datetime, ttl_seconds: float) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.entries[key] = (result, stored_at, stored_at + timedelta(seconds=ttl_seconds))
