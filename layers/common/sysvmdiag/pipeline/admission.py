"""Admission: the request-rate limit, then the policy on the VM's slice of the topology.

A refusal is audited (denied or rejected, as the catalogue says) and raised; an admitted request comes
back with the decision and the slice it was made on, for the run or the job that follows.
"""

from __future__ import annotations

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.observability import count_by, logger, tracer
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.ports import TopologySource
from sysvmdiag.policy import Caller, Decision, ReasonCode, decide
from sysvmdiag.policy.vm_state import StateDecision
from sysvmdiag.topology.model import Topology, Zone

NO_ZONE = Zone(id="-", name="-")  # what the policy sees when the store has no such VM


class Admission:
    def __init__(self, topology: TopologySource, leases: Leases, audit: AuditTrail) -> None:
        self._topology = topology
        self._leases = leases
        self._audit = audit

    def admit(
        self, caller: Caller, request: DiagnosticRequest, record: AuditRecord
    ) -> tuple[Decision, Topology]:
        """Rate limit, then policy; a refusal is audited and raised."""
        try:
            with dependency_errors():
                self._leases.count_request(caller)
                return self.authorize(caller, request)
        except ServiceError as err:
            self._audit.refused(record, err, admitted=False)
            raise

    @tracer.capture_method
    def authorize(self, caller: Caller, request: DiagnosticRequest) -> tuple[Decision, Topology]:
        """Policy only. A VM missing from the store is refused by the policy itself (on an empty zone),
        so it is answered exactly like a VM the caller may not use: same code, sentence and field."""
        context = self._topology.decision_context(request.target_id, request.ip_address)
        context = context or Topology(zone=NO_ZONE)
        decision = decide(
            caller, request.target_id, request.type.value, request.ip_address, request.params, context
        )
        if not decision.allowed:
            logger.info("diagnostic denied", extra={"decision": decision.to_dict()})
            raise denial(decision)
        return decision, context


def denial(decision: Decision | StateDecision) -> ServiceError:
    """A policy refusal as the API answers it (a VM the caller may not use names the targetId field),
    counted by its reason."""
    assert decision.code is not None
    count_by("Denials", "reason", decision.code.value)
    return ServiceError(
        ErrorCode(decision.code.value),
        decision.message,
        field="targetId" if decision.code is ReasonCode.TARGET_NOT_FOUND else None,
        detail_code=decision.detail_code.value if decision.detail_code else None,
        detail=decision.detail,
    )
