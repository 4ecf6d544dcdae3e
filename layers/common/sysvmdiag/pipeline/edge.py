"""Refusals decided at the edge, before a request became a diagnostic request: a body that fails
validation, a body that is not JSON, a media type other than JSON, an unknown route or method, a bug.

Each is counted toward the caller's minute (so probing is not free) and audited with its code; a request
without a valid caller is logged with its source and counted toward that source address's minute. Over
the minute, the answer is RATE_LIMITED (the audit keeps the refusal it replaced as its detail).
"""

from __future__ import annotations

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.observability import count_by, logger
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.policy import Caller


class EdgeRefusals:
    def __init__(self, leases: Leases, audit: AuditTrail) -> None:
        self._leases = leases
        self._audit = audit

    def refuse(self, caller: Caller | None, origin: RequestOrigin, error: ServiceError) -> ServiceError:
        """Count and audit one refusal; the error to answer with (``error``, or RATE_LIMITED)."""
        answer = self._counted(caller, origin, error)
        count_by("EdgeRefusals", "code", answer.code.value)
        if caller is None:
            logger.warning(
                "refused without a caller",
                extra={
                    "request_id": origin.request_id,
                    "source_ip": origin.source_ip,
                    "user_agent": origin.user_agent,
                    "code": answer.code.value,
                    "detail_code": answer.detail_code,
                },
            )
        else:
            self._audit.refused(self._audit.edge_record(caller, origin), answer, admitted=False)
        return answer

    def _counted(self, caller: Caller | None, origin: RequestOrigin, error: ServiceError) -> ServiceError:
        try:
            if caller is None:
                self._leases.count_source(origin.source_ip)
            else:
                self._leases.count_request(caller)
        except ServiceError as over:
            if over.code is not ErrorCode.RATE_LIMITED:
                logger.exception("edge refusal not counted", extra={"request_id": origin.request_id})
                return error
            return ServiceError(
                ErrorCode.RATE_LIMITED,
                over.message,
                retry_after=over.retry_after,
                detail_code=error.code.value,
                detail=error.message,
            )
        except Exception:
            # The answer is already decided; a limits store that fails cannot make it worse.
            logger.exception("edge refusal not counted", extra={"request_id": origin.request_id})
        return error
