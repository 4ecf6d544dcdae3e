"""The pipeline behind the API: caller -> policy (topology) -> runner (SSH via bastion) -> parser -> result.

Handlers stay thin and call :class:`DiagnosticsService`; it raises :class:`ServiceError` for every
answer that is not a result, so each handler maps errors the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from sysvmdiag.config import Settings
from sysvmdiag.errors import RUNNER_STATUS, ServiceError
from sysvmdiag.models import (
    DiagnosticRequest,
    DiagnosticResult,
    SystemVmInterface,
    SystemVmList,
    SystemVmView,
)
from sysvmdiag.observability import count_by, logger, metrics, tracer
from sysvmdiag.parsers import parse_output
from sysvmdiag.policy import Caller, Decision, allowed_egress_kinds, decide, may_target
from sysvmdiag.topology.model import Host, SshEndpoint, Topology

# API Gateway gives up at 30 s; keep room for the SSH handshake and the answer.
SYNC_BUDGET_SECONDS = 25.0
SSH_OVERHEAD_SECONDS = 3.0


class RunOutputLike(Protocol):
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int


class Runner(Protocol):
    def run(self, vm: SshEndpoint, command: str, timeout: float) -> RunOutputLike: ...


class TopologySource(Protocol):
    def decision_context(self, vm_ref: str) -> Topology | None: ...
    def list_system_vms(self, caller_account_id: str | None = None) -> Topology: ...
    def bastion(self) -> Host: ...


def _now() -> datetime:
    return datetime.now(UTC)


class DiagnosticsService:
    """Runs one diagnostic for one caller, or explains why not."""

    def __init__(
        self,
        store: TopologySource,
        runner_for: Callable[[SshEndpoint], Runner],
        sync_budget_seconds: float = SYNC_BUDGET_SECONDS,
    ):
        self._store = store
        self._runner_for = runner_for
        self._sync_budget = sync_budget_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> DiagnosticsService:
        """Wire the real store and SSH runner (imported here: the policy path stays light)."""
        from sysvmdiag.runner import get_runner, load_private_key
        from sysvmdiag.topology.store import TopologyStore

        def runner_for(bastion: SshEndpoint) -> Runner:
            return get_runner(bastion, lambda: load_private_key(settings.ssh_key_secret_id))

        return cls(TopologyStore.from_env(), runner_for, settings.sync_budget_seconds)

    @tracer.capture_method
    def authorize(self, caller: Caller, request: DiagnosticRequest) -> tuple[Decision, Topology]:
        """Policy only: the decision and the topology slice it was made on, or a ServiceError."""
        context = self._store.decision_context(request.target_id)
        if context is None:
            raise ServiceError(
                "TARGET_NOT_FOUND",
                f"No system VM {request.target_id!r} exists.",
                HTTPStatus.NOT_FOUND,
                field="targetId",
            )
        decision = decide(
            caller, request.target_id, request.type.value, request.ip_address, request.params, context
        )
        if not decision.allowed:
            code = str(decision.code)
            count_by("Denials", "reason", code)
            logger.info("diagnostic denied", extra={"decision": decision.to_dict()})
            raise ServiceError(code, decision.message, decision.code.http_status)
        return decision, context

    @tracer.capture_method
    def run(self, caller: Caller, request: DiagnosticRequest) -> DiagnosticResult:
        decision, context = self.authorize(caller, request)
        worst_case = decision.worst_case_seconds or 0.0
        if worst_case > self._sync_budget:
            raise ServiceError(
                "SYNC_BUDGET_EXCEEDED",
                f"This {request.type.value} may run for up to {worst_case:.0f} s, longer than the "
                f"{self._sync_budget:.0f} s a synchronous request may take; lower its count, wait or hops.",
                HTTPStatus.UNPROCESSABLE_ENTITY,
                field="params",
            )
        vm = context.system_vm(request.target_id)
        bastion = self._bastion(context)
        if decision.invocation is None or vm.ssh is None or bastion.ssh is None:
            raise ServiceError(
                "TOPOLOGY_INCOMPLETE",
                f"The topology has no SSH endpoint for {vm.vm_name or vm.name} or the bastion; reload it.",
                HTTPStatus.INTERNAL_SERVER_ERROR,
            )
        command = decision.invocation.command_line()
        started = _now()
        clock = time.monotonic()
        from sysvmdiag.runner import RunnerError  # paramiko stays off the import path of the policy

        try:
            output = self._runner_for(bastion.ssh).run(
                vm.ssh, command, timeout=worst_case + SSH_OVERHEAD_SECONDS
            )
        except RunnerError as exc:
            count_by("RunnerErrors", "code", str(exc.code))
            logger.warning("runner failed", extra={"code": exc.code, "vm": vm.name})
            raise ServiceError(
                exc.code, exc.message, RUNNER_STATUS.get(exc.code, HTTPStatus.BAD_GATEWAY)
            ) from exc
        elapsed_ms = int((time.monotonic() - clock) * 1000)
        metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SshLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        parsed = parse_output(request.type.value, output.stdout, output.stderr, output.exit_code)
        # Exit 0 is success, except a traceroute that ended short of its destination (!N, !H, * * *).
        success = output.exit_code == 0 and parsed.get("reached") is not False
        return DiagnosticResult(
            id=str(uuid.uuid4()),
            target_id=vm.uuid or request.target_id,
            target_name=vm.vm_name,
            type=request.type,
            ip_address=request.ip_address,
            params=request.params,
            status="succeeded" if success else "failed",
            success=success,
            exit_code=output.exit_code,
            stdout=output.stdout,
            stderr=output.stderr,
            truncated=output.truncated,
            result=parsed,
            egress_interface=decision.egress_interface,
            egress_kind=decision.egress_kind,
            command=command,
            started_at=started,
            finished_at=_now(),
            duration_ms=elapsed_ms,
        )

    def _bastion(self, context: Topology) -> Host:
        try:
            return context.bastion()
        except KeyError:
            return self._store.bastion()

    @tracer.capture_method
    def list_targets(self, caller: Caller) -> SystemVmList:
        topology = self._store.list_system_vms(caller.account_id)
        views = []
        for vm in topology.system_vms():
            if not may_target(caller, vm, topology):
                continue
            views.append(
                SystemVmView(
                    id=vm.uuid or vm.name,
                    name=vm.vm_name or vm.name,
                    kind=vm.kind.value,
                    state=vm.state,
                    interfaces=[
                        SystemVmInterface(
                            name=iface.name,
                            network=iface.network,
                            network_kind=topology.network(iface.network).kind.value,
                            ipv4=str(iface.ipv4) if iface.ipv4 else None,
                            ipv6=str(iface.ipv6) if iface.ipv6 else None,
                        )
                        for iface in vm.interfaces
                    ],
                    allowed_egress_kinds=list(allowed_egress_kinds(caller, vm, topology)),
                )
            )
        return SystemVmList(count=len(views), systemvms=views)
