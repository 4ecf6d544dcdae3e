"""Where a request came from and how long it may take: small values every use case shares."""

from __future__ import annotations

from dataclasses import dataclass

# API Gateway gives up at 30 s; keep room for the SSH handshake and the answer.
SYNC_BUDGET_SECONDS = 25.0
# The SSH part of a run (bastion and VM handshakes, the answer) a run's budget has beside its tool's
# worst case; also what a refused caller's Retry-After counts on.
SSH_OVERHEAD_SECONDS = 3.0
# How much longer a run may take when its connect was slow (the runner moves its deadline back by the
# time connecting took, up to this): handshakes in a process starved of CPU (many cold starts on few
# cores) take seconds, and a run that merely connected slowly should answer, not time out (benchmarks
# README, issue 17 D). A tool that hangs once connected is stopped as soon as before.
CONNECT_ALLOWANCE_SECONDS = 10.0
# A lease outlives its run by this much, so a slow release never frees a slot under a live run.
LEASE_MARGIN_SECONDS = 5.0
# How long a queued job is expected to wait before a worker takes it: SQS hands a message to the worker
# Lambda within a second or two, a cold start adds a few more. Only the Retry-After of a refusal uses
# it (a job's expected end = now + this + worst case + SSH overhead); the job's deadline (10-minute
# queue allowance, jobs.QUEUE_ALLOWANCE_SECONDS) stays the lease, the bound that frees a lost job's slot.
EXPECTED_QUEUE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class RunTimes:
    """A run's times from its tool's worst case, in one place: the budget the runner holds it to, the
    allowance a slow connect adds, the lease that outlives both, and the end a refused caller expects."""

    worst_case: float

    @property
    def budget(self) -> float:
        """The runner's budget: the tool's worst case plus the usual SSH part."""
        return self.worst_case + SSH_OVERHEAD_SECONDS

    @property
    def connect_allowance(self) -> float:
        """How far a slow connect may move the budget back: CONNECT_ALLOWANCE_SECONDS, less for a tool
        so long that a synchronous run would then end past SYNC_BUDGET + SSH_OVERHEAD (28 s)."""
        return max(0.0, min(CONNECT_ALLOWANCE_SECONDS, SYNC_BUDGET_SECONDS - self.worst_case))

    @property
    def longest(self) -> float:
        """The longest the run can take: its budget and the whole connect allowance."""
        return self.budget + self.connect_allowance

    @property
    def lease(self) -> float:
        """How long the run's slots are held at most: past its longest, so no slot frees under a live run."""
        return self.longest + LEASE_MARGIN_SECONDS

    @property
    def expected(self) -> float:
        """When the run is expected to end (Retry-After): its budget, a connect taking the usual time."""
        return self.budget


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, for the audit trail (API Gateway's request context, or an alarm)."""

    request_id: str
    source_ip: str | None = None
    user_agent: str | None = None
    actor: str = "api"
    alarm_name: str | None = None
    playbook: str | None = None
