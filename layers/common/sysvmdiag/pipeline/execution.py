"""Execution: SSH through the bastion to the VM, run the decided command line, parse what it printed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.observability import count_by, logger, metrics, tracer
from sysvmdiag.parsers import parse_output
from sysvmdiag.pipeline.origin import RunTimes
from sysvmdiag.pipeline.ports import Clock, RunnerFactory, RunOutputLike, TopologySource
from sysvmdiag.policy import Decision
from sysvmdiag.topology.model import Host, Topology


class Execution:
    def __init__(self, runner_for: RunnerFactory, topology: TopologySource, clock: Clock) -> None:
        self._runner_for = runner_for
        self._topology = topology
        self._clock = clock

    @tracer.capture_method
    def run(
        self,
        request: DiagnosticRequest,
        decision: Decision,
        context: Topology,
        on_output: Callable[[str], None] | None = None,
    ) -> DiagnosticResult:
        """One run of what the policy allowed; a runner failure is a coded ServiceError (nothing ran).
        ``on_output`` hears stdout so far while the tool runs (a job's live output)."""
        from sysvmdiag.runner import RunnerError  # paramiko stays off the import path of the policy

        if decision.invocation is None:
            raise ServiceError(ErrorCode.TOPOLOGY_INCOMPLETE, "The decision names no command; nothing ran.")
        command = decision.invocation.command_line()
        started = self._clock()
        clock = time.monotonic()
        times = RunTimes(decision.worst_case_seconds or 0.0)
        try:
            output, vm = self._output(request, context, command, times, on_output)
        except RunnerError as exc:
            count_by("RunnerErrors", "code", str(exc.code))
            logger.warning("runner failed", extra={"code": exc.code, "vm": request.target_id})
            raise ServiceError(ErrorCode(exc.code.value), exc.message) from exc
        elapsed_ms = int((time.monotonic() - clock) * 1000)
        metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SshLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        parsed = parse_output(request.type.value, output.stdout, output.stderr, output.exit_code)
        # Exit 0 is success, except a traceroute that ended short of its destination (!N, !H, * * *).
        success = output.exit_code == 0 and not parsed.ended_short
        # No verdict given: DiagnosticResult judges it from parsed, exit code, truncation (sysvmdiag.judge).
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
            finished_at=self._clock(),
            duration_ms=elapsed_ms,
        )

    def _output(
        self,
        request: DiagnosticRequest,
        context: Topology,
        command: str,
        times: RunTimes,
        on_output: Callable[[str], None] | None,
    ) -> tuple[RunOutputLike, Host]:
        """The run's output and the VM it ran on. A host key that differs from the pin in a context kept
        a few seconds (sysvmdiag.pipeline.topology_cache) is checked against a fresh read: a key re-pinned
        meanwhile runs again with the new pin (nothing ran: the key exchange failed); else it stands."""
        from sysvmdiag.runner import RunnerError, RunnerErrorCode

        vm, bastion = self._endpoints(request, context)
        try:
            return self._send(vm, bastion, command, times, on_output), vm
        except RunnerError as exc:
            if exc.code is not RunnerErrorCode.HOST_KEY_MISMATCH:
                raise
            fresh = self._topology.fresh_context(request.target_id, request.ip_address)
            if fresh is None:
                raise
            vm_now, bastion_now = self._endpoints(request, fresh)
            if (vm_now.ssh, bastion_now.ssh) == (vm.ssh, bastion.ssh):
                raise
            return self._send(vm_now, bastion_now, command, times, on_output), vm_now

    def _endpoints(self, request: DiagnosticRequest, context: Topology) -> tuple[Host, Host]:
        vm = context.system_vm(request.target_id)
        bastion = self._bastion(context)
        if vm.ssh is None or bastion.ssh is None:
            raise ServiceError(
                ErrorCode.TOPOLOGY_INCOMPLETE,
                f"The topology has no SSH endpoint for {vm.vm_name or vm.name} or the bastion; reload it.",
            )
        return vm, bastion

    def _send(
        self, vm: Host, bastion: Host, command: str, times: RunTimes, on_output: Callable[[str], None] | None
    ) -> RunOutputLike:
        assert vm.ssh is not None and bastion.ssh is not None
        runner = self._runner_for(bastion.ssh)
        budget = {"timeout": times.budget, "connect_allowance": times.connect_allowance}
        if on_output is None:
            return runner.run(vm.ssh, command, **budget)
        return runner.run(vm.ssh, command, **budget, on_output=on_output)

    def _bastion(self, context: Topology) -> Host:
        try:
            return context.bastion()
        except KeyError:
            return self._topology.bastion()
