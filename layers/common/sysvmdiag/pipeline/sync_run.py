"""A synchronous run: the account's and the VM's slots held around one execution, then the audit."""

from __future__ import annotations

from contextlib import ExitStack

from sysvmdiag.audit_record import AuditDecision, AuditRecord, AuditStatus
from sysvmdiag.errors import ServiceError
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.execution import Execution
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.origin import RunTimes
from sysvmdiag.policy import Caller, Decision
from sysvmdiag.topology.model import Topology


class SyncRun:
    def __init__(self, leases: Leases, execution: Execution, audit: AuditTrail) -> None:
        self._leases = leases
        self._execution = execution
        self._audit = audit

    def run(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        decision: Decision,
        context: Topology,
        record: AuditRecord,
    ) -> DiagnosticResult:
        """Run now, holding the account's and the VM's slots (taken and given back together, whatever
        happens); nothing runs over a limit."""
        holder = record.id
        times = RunTimes(decision.worst_case_seconds or 0.0)
        vm_id = decision.vm_uuid or request.target_id
        record = record.model_copy(update={"mode": "sync"})
        try:
            with dependency_errors(), ExitStack() as held:
                self._leases.take_run_slots(caller, vm_id, holder, times.lease, times.expected)
                held.callback(self._leases.free_run_slots, caller.account_id, vm_id, holder)
                result = self._execution.run(request, decision, context)
        except ServiceError as err:
            self._audit.refused(record, err)
            raise
        self._audit.write(
            record, decision=AuditDecision.ALLOWED, status=AuditStatus(result.status), result=result
        )
        return result
