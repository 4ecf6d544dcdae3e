"""``python -m benchmarks.run``: every benchmark in one run against the running local stack and lab.

Writes benchmarks/results/{results.json, results.md, results.png} and prints the markdown table.
Needs the local stack up (``make bench`` brings it up first) and root (namespaces, the lab's keys).
Only lab addresses (inside the lab's namespaces, through its bastion) and loopback are contacted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    authorizer_calls,
    concurrency,
    imports,
    latency,
    machine,
    policy_rate,
    report,
    scale_requests,
)
from benchmarks.common import (
    BenchmarkError,
    add_state_argument,
    stack_for_functions,
    target,
)
from simvms.lab import Lab

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOAD_VMS = ("r-4-VM", "r-7-VM", "r-9-VM", "s-1-VM", "v-2-VM")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--cold", type=int, default=9, help="cold requests (each a new process)")
    parser.add_argument("--warm", type=int, default=21, help="warm requests")
    parser.add_argument("--import-runs", type=int, default=7, help="imports timed per function")
    parser.add_argument(
        "--per-vm", type=int, default=20, help="concurrent requests per system VM (5 VMs: 100 requests)"
    )
    parser.add_argument(
        "--environments",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the load as one cold Lambda-like process per request (one process per request); "
        "--no-environments skips it",
    )
    parser.add_argument(
        "--scale-networks",
        type=int,
        default=scale_requests.DEFAULT_NETWORKS,
        help="warm requests on the lab zone plus a generated zone of this many networks (0 skips it)",
    )
    parser.add_argument("--scale-runs", type=int, default=11, help="warm requests per zone and series")
    parser.add_argument("--vm", default="r-4-VM", help="the VM of the latency benchmarks")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if min(args.cold, args.warm, args.import_runs, args.per_vm) < 1 or args.per_vm > 20:
        parser.error("counts must be at least 1, and --per-vm at most 20 (the load stays bounded)")

    prepared = stack_for_functions(args.state)
    if prepared is None:
        return 2
    stack, topology = prepared
    started = time.monotonic()
    results: dict = {
        "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine.describe(),
        "limits": stack.get("limits") or machine.server_limits_env(stack.get("pid")),
        "apiUrl": stack["apiUrl"],
    }
    try:
        results["imports"] = imports.measure(args.import_runs, progress=_progress)
        results["policy"] = policy_rate.measure(topology, progress=_progress)
        results["authorizerDynamodbCalls"] = authorizer_calls.measure(stack)
        results["latency"] = latency.measure(
            topology, stack, target(topology, args.vm), args.cold, args.warm, progress=_progress
        )
        load_targets = [target(topology, name) for name in LOAD_VMS]
        results["concurrency"] = concurrency.measure(stack, load_targets, args.per_vm, progress=_progress)
        if args.environments:
            results["concurrencyEnvironments"] = concurrency.measure_environments(
                topology, load_targets, args.per_vm, progress=_progress
            )
        if args.scale_networks:
            results["scaleRequests"] = scale_requests.measure(
                topology,
                Lab().status(),
                stack,
                target(topology, args.vm),
                args.scale_networks,
                args.scale_runs,
                progress=_progress,
            )
    except BenchmarkError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 1
    results["loadAverageAtEnd"] = machine.load_average()
    results["durationSeconds"] = round(time.monotonic() - started, 1)
    results["goals"] = report.goals(results)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = report.markdown(results)
    (args.out / "results.md").write_text(table)
    report.plot(results, args.out / "results.png")
    print(table)
    _progress(f"benchmarks: {results['durationSeconds']} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
