"""Issue 17's cold-start steps, each put back in turn: what each one gains on a cold request.

``python -m benchmarks.experiments.cold_steps [--runs 7] [--vm r-4-VM] [--state DIR]`` against the
running local stack. A cold request is a new Lambda-like process (``benchmarks.lambda_process``) that
imports the API function and answers one ping; the variants run interleaved (a busy neighbour slows
all alike) and each prints its median spawn-to-answer, Init and first invoke:

* as is;
* X-Ray SDK at Init: ``aws_xray_sdk.core`` imported inside the timed Init, as ``Tracer()`` did
  before step 1 (``sysvmdiag.tracing_off``);
* Swagger at Init: the route registered at import, as before step 2 (``sysvmdiag.lazy_swagger``);
* bastion connected at Init: ``BASTION_WARM_AT_INIT=true`` (step 3, ``sysvmdiag.warmup``; off by
  default since this experiment measured it a loss);
* before issue 17: X-Ray SDK and Swagger at Init, no warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from benchmarks.common import (
    add_state_argument,
    stack_for_functions,
    target,
)
from benchmarks.latency import LambdaProcess, diagnostic_event

XRAY_AT_INIT = "import aws_xray_sdk.core\n"
SWAGGER_AT_INIT = (
    "from sysvmdiag.lazy_swagger import LazySwaggerResolver\n"
    "LazySwaggerResolver.defer_swagger = lambda self, path, **o: self.enable_swagger(path=path, **o)\n"
)
NO_WARMUP = {"BASTION_WARM_AT_INIT": "false"}
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "as is": ("", NO_WARMUP),
    "X-Ray SDK at Init (before step 1)": (XRAY_AT_INIT, NO_WARMUP),
    "Swagger at Init (before step 2)": (SWAGGER_AT_INIT, NO_WARMUP),
    "bastion connected at Init (step 3 on)": ("", {"BASTION_WARM_AT_INIT": "true"}),
    "before issue 17 (X-Ray and Swagger at Init)": (XRAY_AT_INIT + SWAGGER_AT_INIT, NO_WARMUP),
}


def cold_request(event: dict, prelude: str, env: dict[str, str]) -> dict:
    process = LambdaProcess(env={**os.environ, **env}, prelude=prelude)
    try:
        return process.invoke(event)
    finally:
        process.close()


def summarise(samples: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Medians per variant, and each variant's difference from "as is" (what the step gains)."""
    medians = {
        name: {key: statistics.median(s[key] for s in runs) for key in ("sinceSpawnMs", "initMs", "invokeMs")}
        for name, runs in samples.items()
    }
    base = medians["as is"]["sinceSpawnMs"]
    for values in medians.values():
        values["gainMs"] = values["sinceSpawnMs"] - base
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments.cold_steps", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--vm", default="r-4-VM")
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 30:
        parser.error("--runs must be 1 to 30")
    prepared = stack_for_functions(args.state)
    if prepared is None:
        return 2
    _stack, topology = prepared
    event = diagnostic_event(topology, "admin", target(topology, args.vm).request_body())
    samples: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for run in range(args.runs):
        print(f"cold_steps: round {run + 1} of {args.runs} ...", file=sys.stderr, flush=True)
        for name, (prelude, env) in VARIANTS.items():
            samples[name].append(cold_request(event, prelude, env))
    for name, values in summarise(samples).items():
        print(json.dumps({"variant": name, "runs": args.runs, **{k: round(v, 1) for k, v in values.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
