"""What every benchmark shares: the running stack's state, the lab's topology, timing and statistics."""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sysvmdiag.local.stack import LocalStack
from sysvmdiag.toolargs import parse_params
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Host, Topology, load_topology

REPO_ROOT = Path(__file__).resolve().parents[1]
LAB_SSH_CONFIG = Path("/run/simvms/ssh_config")
# The web server "on the internet" of the lab: every system VM reaches it, all inside namespaces.
DEFAULT_DESTINATION = "198.51.100.80"
DEFAULT_PARAMS = "-c 1 -W 1"


class BenchmarkError(RuntimeError):
    """A prerequisite is missing or a measured run did not do what it should have."""


def add_state_argument(parser: argparse.ArgumentParser) -> None:
    """``--state DIR``: the local stack to measure (every benchmark entry point takes it)."""
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="the local stack's state folder (default: `sysvmdiag local`'s)",
    )


def running_stack(state_dir: Path | None = None) -> dict:
    """The local stack's status (server.json); the benchmarks never start or stop it themselves."""
    status = LocalStack(state_dir=state_dir).status()
    if not status.get("up"):
        raise BenchmarkError(
            "the local stack is not up: run `.venv/bin/sysvmdiag local up` (or `make bench`, which does)"
        )
    if not LAB_SSH_CONFIG.exists():
        raise BenchmarkError(f"{LAB_SSH_CONFIG} is missing: the lab (`.venv/bin/simvms up`) writes it")
    return status


def stack_for_functions(state_dir: Path | None = None) -> tuple[dict, Topology] | None:
    """The running stack, the functions' environment pointed at it, and the lab's zone; None (after
    saying why on stderr) when the stack is not up: the start of every benchmark against the stack."""
    try:
        stack = running_stack(state_dir)
    except BenchmarkError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return None
    configure_functions_environment(stack)
    return stack, lab_topology()


@dataclass(frozen=True)
class Target:
    """One system VM of the lab and the diagnostic the latency benchmarks run on it."""

    vm: Host
    namespace: str
    destination: str
    params: str

    @property
    def name(self) -> str:
        return self.vm.vm_name or self.vm.name

    @property
    def ssh_alias(self) -> str:
        """The lab ssh_config's alias for the VM (its topology host name)."""
        return self.vm.name

    def argv(self) -> list[str]:
        """The tool's argv exactly as the policy normalises it (what the VM execs)."""
        return parse_params("ping", self.params, self.destination).argv()

    def command_line(self) -> str:
        """What our runner sends as the SSH command (SSH_ORIGINAL_COMMAND on the VM)."""
        return parse_params("ping", self.params, self.destination).command_line()

    def request_body(self) -> dict:
        return {
            "targetId": self.vm.uuid,
            "type": "ping",
            "ipAddress": self.destination,
            "params": self.params,
        }


def configure_functions_environment(stack: dict) -> None:
    """The environment the functions get from the template, pointed at the running stack.

    A stack started before the jobs queue existed has no queue URLs in its status; its functions
    then run with the base variables only (what its own server process gives them).
    """
    from sysvmdiag.local import server

    configure_from_status = getattr(server, "configure_from_status", None)
    if configure_from_status is not None and "jobsQueueUrl" in stack:
        configure_from_status(stack)
    else:
        server.configure_environment(stack["awsEndpointUrl"])


def lab_topology() -> Topology:
    return load_topology(DEFAULT_TOPOLOGY_FILE)


def target(topology: Topology, vm_name: str, destination: str = DEFAULT_DESTINATION) -> Target:
    vm = topology.system_vm(vm_name)
    prefix = topology.lab.prefix if topology.lab else "svd"
    return Target(vm=vm, namespace=f"{prefix}-{vm.name}", destination=destination, params=DEFAULT_PARAMS)


def timed_run(argv: Sequence[str], timeout: float = 30.0, env: dict[str, str] | None = None) -> float:
    """Wall time (ms) of one process run to completion; a non-zero exit is an error, not a sample."""
    started = time.perf_counter()
    completed = subprocess.run(list(argv), capture_output=True, timeout=timeout, env=env, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace")[-400:]
        raise BenchmarkError(f"{' '.join(argv)} exited {completed.returncode}: {stderr}")
    return elapsed


def summary(samples: Sequence[float]) -> dict:
    """Median (what the tables compare), p95, min, max and the sample count."""
    if not samples:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {
        "n": len(samples),
        "median": statistics.median(samples),
        "p95": percentile(samples, 95),
        "min": min(samples),
        "max": max(samples),
    }


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a latency someone saw)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return ours / theirs


def dump(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
