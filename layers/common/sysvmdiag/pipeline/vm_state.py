"""Reading a VM's own state (POST /diagnostics/data): limits -> policy -> runner -> scope -> S3 -> audit.

The same footing as a diagnostic run: the request counts toward the caller's minute, holds one of the
account's and one of the VM's slots while it runs, goes through the bastion to the VM's forced command
(the read-only ``state`` verb), and is audited whatever its fate (type ``state``, the parts as params).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import timedelta

from sysvmdiag.audit_record import AuditDecision, AuditStatus
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import StateBundle, StateLog, VmStateRequest, VmStateView
from sysvmdiag.observability import count_by, logger
from sysvmdiag.pipeline.admission import NO_ZONE, denial
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.origin import RequestOrigin, RunTimes
from sysvmdiag.pipeline.ports import (
    BundleStore,
    Clock,
    NoStateReads,
    RunnerFactory,
    StateReadRepository,
    TopologySource,
)
from sysvmdiag.pipeline.visibility import may_read
from sysvmdiag.policy import Caller
from sysvmdiag.policy.vm_state import StateDecision, decide_state, scope_state
from sysvmdiag.state_bundle import bundle_files, inline_parts, log_inline, zip_bundle
from sysvmdiag.state_document import UnreadableState, VmState, read_state_document
from sysvmdiag.state_reads import StateReadRecord
from sysvmdiag.topology.model import Host, Topology
from sysvmdiag.vmstate import STATE_MAX_SECONDS

STATE_OUTPUT_CAP = 1024 * 1024  # every part and log at the VM side's own cuts, JSON-escaped, fits
DEFAULT_URL_TTL_SECONDS = 900
# A state read's budget, connect allowance, lease and expected end: one worst case, figured once.
STATE_RUN = RunTimes(STATE_MAX_SECONDS)


class VmStateReads:
    def __init__(
        self,
        topology: TopologySource,
        runner_for: RunnerFactory,
        leases: Leases,
        audit: AuditTrail,
        bundles: BundleStore,
        clock: Clock,
        url_ttl_seconds: int = DEFAULT_URL_TTL_SECONDS,
        kept: StateReadRepository | None = None,
    ) -> None:
        self._topology = topology
        self._runner_for = runner_for
        self._leases = leases
        self._audit = audit
        self._bundles = bundles
        self._clock = clock
        self._ttl = url_ttl_seconds
        self._kept = kept or NoStateReads()

    def read(
        self, caller: Caller, request: VmStateRequest, origin: RequestOrigin, *, keep: bool = False
    ) -> VmStateView:
        """The state as the caller may see it, bundled to S3; every outcome audited. ``keep``: the read
        is also kept under its id for a later :meth:`recall` (getDiagnosticsData's async answer)."""
        record = self._audit.edge_record(caller, origin).updated(
            target_id=request.target_id,
            type="state",
            params=" ".join([*request.parts, *(f"log:{name}" for name in request.logs)]) or None,
        )
        try:
            with dependency_errors():
                decision, context = self._admit(caller, request, keep)
        except ServiceError as err:
            self._audit.refused(record, err, admitted=False)
            raise
        vm = context.system_vm(request.target_id)
        assert decision.request is not None
        record = record.updated(
            vm_uuid=vm.uuid, vm_name=vm.vm_name, mode="sync", params=decision.request.names()
        )
        started = time.monotonic()
        try:
            with dependency_errors():
                view = self._held(caller, decision, vm, context, record.id)
                if keep:
                    self._keep(caller, view)
        except ServiceError as err:
            self._audit.refused(record, err)
            raise
        record = record.updated(duration_ms=int((time.monotonic() - started) * 1000), exit_code=0)
        self._audit.write(record, decision=AuditDecision.ALLOWED, status=AuditStatus.SUCCEEDED)
        return view

    def recall(self, caller: Caller, read_id: str) -> StateReadRecord | None:
        """A kept read its owner (admins, the owner's domain admins) may see, its URL signed again;
        None when there is none (expired, another's, never kept)."""
        with dependency_errors():
            record = self._kept.get(read_id)
            if record is None or not may_read(caller, record.account_id, record.domain):
                return None
            bundle = record.view.bundle
            url = self._bundles.url(bundle.key, self._ttl)
        fresh = bundle.model_copy(
            update={"url": url, "expires_at": self._clock() + timedelta(seconds=self._ttl)}
        )
        return record.model_copy(update={"view": record.view.model_copy(update={"bundle": fresh})})

    def _keep(self, caller: Caller, view: VmStateView) -> None:
        self._kept.put(
            StateReadRecord(
                id=view.id,
                account_id=caller.account_id,
                domain=caller.domain,
                created_at=view.collected_at,
                view=view,
            )
        )

    def _admit(self, caller: Caller, request: VmStateRequest, keep: bool) -> tuple[StateDecision, Topology]:
        self._leases.count_request(caller)
        if not self._bundles.available or (keep and not self._kept.available):
            raise ServiceError(
                ErrorCode.STATE_BUNDLES_UNAVAILABLE,
                "This deployment cannot keep VM-state bundles (no DATA_BUCKET, or no jobs table to keep "
                "the read for queryAsyncJobResult); nothing ran.",
            )
        context = self._topology.decision_context(request.target_id) or Topology(zone=NO_ZONE)
        decision = decide_state(caller, request.target_id, request.parts, request.logs, context)
        if not decision.allowed:
            raise denial(decision)
        return decision, context

    def _held(
        self, caller: Caller, decision: StateDecision, vm: Host, context: Topology, holder: str
    ) -> VmStateView:
        """Run with the account's and the VM's slots held, then scope and store."""
        vm_id = vm.uuid or vm.name
        with ExitStack() as held:
            self._leases.take_run_slots(caller, vm_id, holder, STATE_RUN.lease, STATE_RUN.expected)
            held.callback(self._leases.free_run_slots, caller.account_id, vm_id, holder)
            state = self._collect(decision, vm, context)
        state = self._scoped(caller, vm, context, state)
        return self._stored(caller, decision, vm, state, holder)

    def _collect(self, decision: StateDecision, vm: Host, context: Topology) -> VmState:
        from sysvmdiag.runner import RunnerError  # paramiko stays off the import path of the policy

        assert decision.request is not None
        try:
            bastion = context.bastion()
        except KeyError:
            bastion = self._topology.bastion()
        if vm.ssh is None or bastion.ssh is None:
            raise ServiceError(
                ErrorCode.TOPOLOGY_INCOMPLETE,
                f"The topology has no SSH endpoint for {vm.vm_name or vm.name} or the bastion; reload it.",
            )
        request = decision.request
        try:
            output = self._runner_for(bastion.ssh).run(
                vm.ssh,
                request.command_line(),
                timeout=STATE_RUN.budget,
                connect_allowance=STATE_RUN.connect_allowance,
                output_cap=STATE_OUTPUT_CAP,
            )
        except RunnerError as exc:
            count_by("RunnerErrors", "code", str(exc.code))
            raise ServiceError(ErrorCode(exc.code.value), exc.message) from exc
        try:
            if output.exit_code != 0 or output.truncated:
                raise UnreadableState(
                    f"the VM side exited {output.exit_code}{' (answer cut)' if output.truncated else ''}: "
                    f"{output.stderr.strip()[:300]}"
                )
            return read_state_document(output.stdout, request.parts, request.logs)
        except UnreadableState as err:
            logger.warning("unreadable VM state", extra={"vm": vm.name, "why": str(err)})
            raise ServiceError(
                ErrorCode.VM_STATE_UNREADABLE,
                f"{vm.vm_name or vm.name} did not answer with its state: {err}.",
            ) from err

    def _scoped(self, caller: Caller, vm: Host, context: Topology, state: VmState) -> VmState:
        """A non-admin's neighbours are judged by the probing policy, which needs their tenants' spaces."""
        if caller.is_admin:
            return state
        neighbours = [str(n.get("dst")) for n in state.neighbours or () if n.get("dst")]
        wide = self._topology.decision_context(vm.uuid or vm.name, None, neighbours) or context
        return scope_state(caller, vm, wide, state)

    def _stored(
        self, caller: Caller, decision: StateDecision, vm: Host, state: VmState, request_id: str
    ) -> VmStateView:
        assert decision.request is not None
        parts = decision.request.parts
        now = self._clock()
        manifest = {
            "vm": vm.uuid,
            "vmName": vm.vm_name,
            "collectedAt": now.isoformat(),
            "parts": list(parts),
            "logs": [
                {"name": t.name, "path": t.path, "present": t.present, "cut": t.cut} for t in state.logs
            ],
            "problems": list(state.problems),
            "scoped": not caller.is_admin,
        }
        data = zip_bundle(bundle_files(state, parts, manifest))
        key = f"vm-state/{caller.account_id}/{vm.uuid or vm.name}/{request_id}.zip"
        self._bundles.put(key, data)
        inline, too_large = inline_parts(state, parts)
        return VmStateView(
            id=request_id,
            target_id=vm.uuid or vm.name,
            target_name=vm.vm_name,
            collected_at=now,
            parts=list(parts),
            inline=inline,
            not_inline=too_large,
            logs=[
                StateLog(name=t.name, path=t.path, present=t.present, cut=t.cut, text=log_inline(t.text))
                for t in state.logs
            ],
            problems=list(state.problems),
            scoped=not caller.is_admin,
            bundle=StateBundle(
                url=self._bundles.url(key, self._ttl),
                expires_at=now + timedelta(seconds=self._ttl),
                key=key,
                bytes=len(data),
            ),
        )
