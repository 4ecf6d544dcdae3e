"""What each piece of the API function's import costs: variants timed interleaved, in fresh interpreters.

``python -m benchmarks.experiments.import_variants [--runs 9] [--state DIR]``: min and median of each
variant minus the bare interpreter's. Variants patch only the child interpreter they run in.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from benchmarks.common import REPO_ROOT, add_state_argument, configure_functions_environment, running_stack

VARIANTS = {
    "interpreter": "pass",
    "functions.api.app as is": "import functions.api.app",
    "without app.enable_swagger": (
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "APIGatewayHttpResolver.enable_swagger = lambda self, **kwargs: None\n"
        "import functions.api.app"
    ),
    "powertools + boto3": "import aws_lambda_powertools, boto3",
    "powertools + boto3 + aws_xray_sdk.core": "import aws_lambda_powertools, boto3\nimport aws_xray_sdk.core",
    "functions.api.app + paramiko (runner at Init)": (
        "import functions.api.app\nimport sysvmdiag.runner.bastion"
    ),
}


def _wall_ms(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, capture_output=True, timeout=60)
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments.import_variants")
    parser.add_argument("--runs", type=int, default=9)
    add_state_argument(parser)
    args = parser.parse_args(argv)
    configure_functions_environment(running_stack(args.state))  # powertools reads it at import
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, code in VARIANTS.items():
            samples[name].append(_wall_ms(code))
    base_min = min(samples["interpreter"])
    base_median = statistics.median(samples["interpreter"])
    for name, values in samples.items():
        print(
            f"{name:50s} min {min(values) - base_min:6.0f} ms   "
            f"median {statistics.median(values) - base_median:6.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
