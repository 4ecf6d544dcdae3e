"""Where a request's time goes: pyinstrument profiles of Init, a cold invoke and a warm invoke.

``python -m benchmarks.profile_request [--vm r-4-VM] [--html DIR]`` against the running local stack;
prints each profile as text (wall-clock: waits on the network and on paramiko's thread included).
Needs pyinstrument in the venv (pinned in requirements-dev.txt when the benchmarks use it:
pyinstrument==5.1.3).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import (
    BenchmarkError,
    add_state_argument,
    stack_for_functions,
    target,
)
from benchmarks.latency import diagnostic_event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_request", description=__doc__)
    parser.add_argument("--vm", default="r-4-VM")
    parser.add_argument("--warm", type=int, default=3, help="warm invokes profiled together")
    parser.add_argument("--html", type=Path, help="also write HTML profiles into this folder")
    add_state_argument(parser)
    args = parser.parse_args(argv)
    try:
        from pyinstrument import Profiler
    except ImportError:
        print(
            "benchmarks: pyinstrument is missing: .venv/bin/pip install pyinstrument==5.1.3", file=sys.stderr
        )
        return 2
    prepared = stack_for_functions(args.state)
    if prepared is None:
        return 2
    _stack, topology = prepared
    body = target(topology, args.vm).request_body()
    from sysvmdiag.local.gateway import LambdaContext

    phases = {}
    profiler = Profiler(interval=0.0005)
    with profiler:
        from functions.api.app import lambda_handler
    phases["init"] = profiler
    for phase, count in (("cold invoke", 1), (f"{args.warm} warm invokes", args.warm)):
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(count):
                response = lambda_handler(diagnostic_event(topology, "admin", body), LambdaContext("bench"))
                if response["statusCode"] != 200 or not json.loads(response["body"]).get("success"):
                    raise BenchmarkError(f"the diagnostic failed: {response}")
        phases[phase] = profiler
    for phase, profiler in phases.items():
        print(f"===== {phase} =====")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        if args.html:
            args.html.mkdir(parents=True, exist_ok=True)
            (args.html / f"{phase.replace(' ', '-')}.html").write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
