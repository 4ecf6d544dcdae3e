"""The audit trail: one record per request, allowed or not, written whatever else fails.

An audit outage is logged, never turned into a failed run; the outcome of a refusal comes from the error
catalogue (denied, rejected, failed), so no call site decides it again.
"""

from __future__ import annotations

from datetime import datetime

from sysvmdiag.audit_record import AuditDecision, AuditRecord, AuditStatus
from sysvmdiag.errors import ErrorCode, Outcome, ServiceError
from sysvmdiag.identity import is_system_caller
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.observability import logger
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.pipeline.ports import AuditLog, Clock
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role

_REFUSED = {
    Outcome.DENIED: (AuditDecision.DENIED, AuditStatus.DENIED),
    Outcome.REJECTED: (AuditDecision.REJECTED, AuditStatus.REJECTED),
    Outcome.FAILED: (AuditDecision.ALLOWED, AuditStatus.FAILED),
}


class AuditTrail:
    """Writes, completes and pages through audit records."""

    def __init__(self, log: AuditLog, clock: Clock) -> None:
        self._log = log
        self._clock = clock

    def new_record(self, caller: Caller, request: DiagnosticRequest, origin: RequestOrigin) -> AuditRecord:
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
            decision=AuditDecision.ALLOWED,
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
            alarm_name=origin.alarm_name,
            playbook=origin.playbook,
        )

    def edge_record(self, caller: Caller, origin: RequestOrigin) -> AuditRecord:
        """A request refused before it became a diagnostic request (body, JSON, media type, route, bug):
        who sent it and from where; no VM, test or destination is known."""
        return AuditRecord(
            id=origin.request_id,
            at=self._clock(),
            account_id=caller.account_id,
            role=caller.role.value,
            domain=caller.domain,
            actor=origin.actor,
            system=is_system_caller(caller),
            decision=AuditDecision.REJECTED,
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
        )

    def refused(self, record: AuditRecord, error: ServiceError, *, admitted: bool = True) -> AuditRecord:
        """A request answered with an error code; before admission a failure counts as a rejection."""
        outcome = error.outcome if admitted or error.outcome is not Outcome.FAILED else Outcome.REJECTED
        decision, status = _REFUSED[outcome]
        return self.write(record, decision=decision, status=status, error=error)

    def write(
        self,
        record: AuditRecord,
        *,
        decision: AuditDecision,
        status: AuditStatus,
        error: ServiceError | None = None,
        result: DiagnosticResult | None = None,
    ) -> AuditRecord:
        """Write the request's record as it stands now."""
        final = record.updated(  # validated again: the error's sentences are bounded like the rest
            decision=decision,
            status=status,
            reason_code=error.code.value if error else None,
            reason=error.message if error else None,
            detail_code=error.detail_code if error else None,
            detail=error.detail if error else None,
            error_code=error.code.value if error and decision is AuditDecision.ALLOWED else None,
            exit_code=result.exit_code if result else None,
            duration_ms=result.duration_ms if result else None,
        )
        try:
            self._log.record(final)
        except Exception:
            logger.exception("audit write failed", extra={"audit": final.as_log()})
        return final

    def complete(
        self,
        record: AuditRecord,
        status: AuditStatus,
        *,
        result: DiagnosticResult | None = None,
        error: ServiceError | None = None,
    ) -> None:
        """Complete an async request's record when its job ends."""
        try:
            self._log.complete(
                record,
                status=status,
                exit_code=result.exit_code if result else None,
                duration_ms=result.duration_ms if result else None,
                error_code=error.code.value if error else None,
                reason=error.message if error else None,
            )
        except Exception:
            logger.exception("audit completion failed", extra={"audit_id": record.id, "status": status})

    def page(
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
        """Records for admins, newest first."""
        if caller.role is not Role.ADMIN:
            raise ServiceError(ErrorCode.AUDIT_ADMIN_ONLY, "Only administrators may read the audit trail.")
        try:
            return self._log.query(
                account_id=account_id,
                vm_id=vm_id,
                since=since,
                until=until,
                limit=limit,
                next_token=next_token,
            )
        except ValueError as err:
            raise ServiceError(ErrorCode.INVALID_AUDIT_QUERY, str(err)) from err
