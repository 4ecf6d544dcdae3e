"""Keep one authenticated VM Transport per VM (as a ControlMaster on the VM would) vs one per run.

``python -m benchmarks.experiments.runner_reuse {baseline|reuse} {warm|load} [--backlog N] [--state DIR]``

warm: 10 warm invokes of the API handler in this process (median ms). load: 50 concurrent requests
(10 per VM) through a gateway of this process's own on a free loopback port, with a listen backlog
of ``--backlog`` (socketserver's default is 5). The ``reuse`` runner is a subclass patched into
``sysvmdiag.runner.bastion`` for this process: it reuses the parent's private steps, so it is an
experiment, not the change itself (no watchdog, no reconnect on a dead VM Transport).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import paramiko

from benchmarks import concurrency
from benchmarks.common import configure_functions_environment, lab_topology, running_stack, target
from benchmarks.latency import diagnostic_event
from benchmarks.run import LOAD_VMS
from sysvmdiag.runner import bastion


class VmReusingRunner(bastion.BastionRunner):
    """BastionRunner that keeps the VM Transport of each VM endpoint between runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._vm_transports: dict[tuple, paramiko.Transport] = {}
        self._vm_locks: dict[tuple, threading.Lock] = {}
        self._vm_locks_guard = threading.Lock()

    def run(self, vm, command, timeout, output_cap=bastion.DEFAULT_OUTPUT_CAP, *, vm_label=None):
        deadline = bastion._Deadline(timeout)
        vm_name = bastion._describe(vm, "system VM", vm_label)
        transport = self._vm_transport(vm, vm_name, deadline)
        return self._execute(transport, command, output_cap, vm_name, deadline)

    def _vm_transport(self, vm, vm_name: str, deadline) -> paramiko.Transport:
        key = (str(vm.address), vm.port, vm.user, vm.host_key)
        with self._vm_locks_guard:
            lock = self._vm_locks.setdefault(key, threading.Lock())
        with lock:
            current = self._vm_transports.get(key)
            if current is not None and current.is_active():
                return current
            pinned = bastion._pinned_key(vm, vm_name)
            transport = paramiko.Transport(self._open_tunnel(vm, vm_name, deadline))
            self._handshake(transport, pinned, vm_name, deadline, bastion.RunnerErrorCode.VM_UNREACHABLE)
            self._authenticate(transport, vm.user, vm_name, deadline)
            self._vm_transports[key] = transport
            return transport


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments.runner_reuse")
    parser.add_argument("runner", choices=("baseline", "reuse"))
    parser.add_argument("what", choices=("warm", "load"))
    parser.add_argument("--backlog", type=int, default=128)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args(argv)
    stack = running_stack(args.state)
    configure_functions_environment(stack)
    if args.runner == "reuse":
        bastion.BastionRunner = VmReusingRunner  # get_runner builds the module's BastionRunner
    from functions.api.app import lambda_handler as api_handler
    from functions.authorizer.app import lambda_handler as authorizer_handler
    from sysvmdiag.local.gateway import LambdaContext, LocalGateway, serve
    from sysvmdiag.local.motoserver import free_loopback_port

    topology = lab_topology()
    if args.what == "warm":
        body = target(topology, "r-4-VM").request_body()
        times = []
        for index in range(11):
            started = time.perf_counter()
            response = api_handler(diagnostic_event(topology, "admin", body), LambdaContext("experiment"))
            if response["statusCode"] != 200:
                raise RuntimeError(response)
            if index:  # the first one is cold
                times.append((time.perf_counter() - started) * 1000)
        result = {"runner": args.runner, "warmMedianMs": statistics.median(times), "warmMinMs": min(times)}
    else:
        ThreadingHTTPServer.request_queue_size = args.backlog
        port = free_loopback_port()
        server = serve(LocalGateway(api_handler, authorizer_handler), "127.0.0.1", port)
        try:
            own = dict(stack, apiUrl=f"http://127.0.0.1:{port}")
            targets = [target(topology, name) for name in LOAD_VMS]
            concurrency.measure(own, targets, 1, progress=lambda _line: None)  # connections warm
            load = concurrency.measure(own, targets, 10, progress=lambda _line: None)
        finally:
            server.shutdown()
        result = {key: value for key, value in load.items() if key != "outcomes"}
        result.update(runner=args.runner, backlog=args.backlog)
    # The handlers log to stdout: the result goes to stderr, on its own last line.
    print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
