"""Where a request came from and how long it may take: small values every use case shares."""

from __future__ import annotations

from dataclasses import dataclass

# API Gateway gives up at 30 s; keep room for the SSH handshake and the answer.
SYNC_BUDGET_SECONDS = 25.0
SSH_OVERHEAD_SECONDS = 3.0
# A lease outlives its run by this much, so a slow release never frees a slot under a live run.
LEASE_MARGIN_SECONDS = 5.0
# How long a queued job is expected to wait before a worker takes it: SQS hands a message to the worker
# Lambda within a second or two, a cold start adds a few more. Only the Retry-After of a refusal uses
# it (a job's expected end = now + this + worst case + SSH overhead); the job's deadline (10-minute
# queue allowance, jobs.QUEUE_ALLOWANCE_SECONDS) stays the lease, the bound that frees a lost job's slot.
EXPECTED_QUEUE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, for the audit trail (API Gateway's request context, or an alarm)."""

    request_id: str
    source_ip: str | None = None
    user_agent: str | None = None
    actor: str = "api"
    alarm_name: str | None = None
    playbook: str | None = None
