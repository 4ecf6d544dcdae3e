"""Connect the bastion (and fetch the SSH key) during Init, in a thread, vs on the first request.

``python -m benchmarks.experiments.prewarm_bastion [--runs 6] [--state DIR]``: cold requests of
plain Lambda-like processes and of ones that start that thread before importing the function,
interleaved; medians of spawn-to-answer, Init and the first invoke.

Run as ``python -m benchmarks.experiments.prewarm_bastion --child --spawned-at-ns N``, it is the
prewarming Lambda-like process itself (it uses the runner's private connect step: an experiment).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from benchmarks.common import add_state_argument


def _prewarm() -> None:
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings
    from sysvmdiag.runner import get_runner, load_private_key
    from sysvmdiag.runner.deadline import Deadline

    endpoint = bootstrap.topology_store(Settings.from_env()).bastion().ssh
    runner = get_runner(endpoint, lambda: load_private_key(os.environ["SSH_KEY_SECRET_ID"]))
    runner._tunnel.live(Deadline(10))


def _child(argv: list[str]) -> int:
    threading.Thread(target=_prewarm, name="prewarm-bastion", daemon=True).start()
    from benchmarks.lambda_process import main as lambda_process_main

    return lambda_process_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments.prewarm_bastion")
    parser.add_argument("--runs", type=int, default=6)
    add_state_argument(parser)
    args = parser.parse_args(argv)

    from benchmarks.common import REPO_ROOT, configure_functions_environment, lab_topology, running_stack
    from benchmarks.common import target as lab_target
    from benchmarks.latency import diagnostic_event

    configure_functions_environment(running_stack(args.state))
    topology = lab_topology()
    body = lab_target(topology, "r-4-VM").request_body()
    variants = {
        "plain": ["-m", "benchmarks.lambda_process"],
        "bastion connected during Init": ["-m", "benchmarks.experiments.prewarm_bastion", "--child"],
    }
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, module_args in variants.items():
            spawned_at = time.monotonic_ns()
            completed = subprocess.run(
                [sys.executable, *module_args, "--spawned-at-ns", str(spawned_at)],
                cwd=REPO_ROOT,
                input=json.dumps(diagnostic_event(topology, "admin", body)) + "\n",
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            answer = json.loads(completed.stdout.splitlines()[0])
            if answer["statusCode"] != 200:
                raise RuntimeError(answer)
            rows[name].append((answer["sinceSpawnMs"], answer["initMs"], answer["invokeMs"]))
    for name, values in rows.items():
        total, init, invoke = (statistics.median(row[i] for row in values) for i in range(3))
        print(f"{name:32s} spawn-to-answer {total:6.0f} ms   Init {init:6.0f} ms   invoke {invoke:6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
