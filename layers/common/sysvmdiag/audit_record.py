"""One audit record: who asked what of which VM, what was decided and how it ended.

Apart from :mod:`sysvmdiag.audit` (the DynamoDB store) because the API models show records
(GET /audit) and must not import boto3; ``sysvmdiag.audit.AuditRecord`` still names it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

# The longest text each free-text field keeps (what a client sent, or what the service said about it);
# longer text is cut where the record is built, so no caller can fill the table or an admin's terminal.
# The request's own bounds (targetId 64, ipAddress 64, params 256) hold only for a request that passed
# validation; a refused one is recorded too, so the record bounds them again. Text is stored as sent,
# control characters included: the CLI escapes them when it prints (sysvmdiag.summaries.printable).
USER_AGENT_MAX_CHARS = 512
FIELD_MAX_CHARS: dict[str, int] = {
    "account_name": 128,
    "domain": 256,
    "target_id": 128,
    "vm_name": 128,
    "type": 32,
    "ip_address": 128,
    "params": 512,
    "reason": 1024,
    "detail": 1024,
    "source_ip": 64,
    "user_agent": USER_AGENT_MAX_CHARS,
    "alarm_name": 256,
    "playbook": 256,
}
TRUNCATION_MARK = "…"


def bounded(text: str | None, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` characters, its last one ``…`` when it was cut (idempotent)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


class AuditDecision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"  # the policy said no
    REJECTED = "rejected"  # invalid request, over a limit, a backing service down: nothing ran


class AuditStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    REJECTED = "rejected"


class AuditRecord(BaseModel):
    """Who asked what of which VM, what was decided and how it ended."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str  # the request id (API Gateway request id) or the job id for alarm runs
    at: datetime  # UTC, when the request arrived
    account_id: str
    account_name: str | None = None
    role: str
    domain: str | None = None
    actor: str = "api"  # "api" | "alarm" (a system identity acting for an alarm playbook)
    system: bool = False  # True for system identities (alarm playbooks)
    target_id: str | None = None
    vm_uuid: str | None = None
    vm_name: str | None = None
    type: str | None = None
    ip_address: str | None = None
    params: str | None = None
    decision: AuditDecision
    reason_code: str | None = None
    reason: str | None = None
    detail_code: str | None = None  # the precise reason when the caller was told less (admins only)
    detail: str | None = None
    mode: str | None = None  # "sync" | "async"
    cached: bool = False  # answered from a stored result of an identical request: nothing ran
    job_id: str | None = None
    status: AuditStatus | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    error_code: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    alarm_name: str | None = None
    playbook: str | None = None

    @field_validator(*FIELD_MAX_CHARS, mode="after")
    @classmethod
    def _bounded(cls, value: str | None, info: ValidationInfo) -> str | None:
        return bounded(value, FIELD_MAX_CHARS[str(info.field_name)])

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return in_utc(value)

    def updated(self, **changes: Any) -> AuditRecord:
        """A copy with ``changes``, validated again (``model_copy`` would skip the bounds)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @property
    def vm_key(self) -> str | None:
        """The VM this record is about, as the by_vm index knows it (uuid when resolved)."""
        vm = self.vm_uuid or self.target_id
        return f"VM#{vm}" if vm else None

    def as_log(self) -> dict[str, Any]:
        """The record as the JSON the logs and the API show (camelCase, nothing unset left out)."""
        return self.model_dump(mode="json", by_alias=True)


def in_utc(moment: datetime) -> datetime:
    """Every time is UTC (a naive one is taken as UTC): the audit table's keys sort by their text."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
