"""Cold-start import cost of each Lambda function (``functions/*/app.py``), as ``-X importtime`` sees it.

For each function: the median time of ``import functions.<name>.app`` measured inside a new process
(what Lambda's Init spends on the handler module; the goal applies to it), the median wall time of the
whole ``python -c`` minus the bare interpreter's (it also counts the interpreter's teardown, which no
Lambda Init pays), the total of ``-X importtime``'s self times, the heaviest top-level packages, and
whether paramiko (only the runner needs it) or boto3 are loaded at import.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import REPO_ROOT, BenchmarkError

GOAL_MS = 400.0
WATCHED_PACKAGES = (
    "paramiko",
    "cryptography",
    "boto3",
    "botocore",
    "pydantic",
    "aws_lambda_powertools",
    "jc",
)


def function_modules(root: Path = REPO_ROOT) -> list[str]:
    """Every Lambda function of the repository, as an importable module name."""
    return sorted(f"functions.{path.parent.name}.app" for path in (root / "functions").glob("*/app.py"))


def _python(code: str, *flags: str, env: dict[str, str]) -> tuple[float, str, str]:
    """Wall ms, stdout and stderr of ``python [flags] -c code``."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise BenchmarkError(f"python -c {code!r} failed: {completed.stderr[-600:]}")
    return elapsed, completed.stdout, completed.stderr


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """``import time: self [us] | cumulative | imported package`` lines as (module, self, cumulative)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append((name.strip(), int(self_us), int(cumulative_us)))
    return rows


def by_top_package(rows: list[tuple[str, int, int]]) -> dict[str, float]:
    """Self time (ms) summed per top-level package: where an import's time goes."""
    totals: dict[str, float] = defaultdict(float)
    for name, self_us, _ in rows:
        totals[name.split(".")[0]] += self_us / 1000
    return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True))


def measure(runs: int = 5, progress=print) -> dict:
    """Import cost of every function; the environment is the one the functions get (already set)."""
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    baseline = statistics.median(_python("pass", env=env)[0] for _ in range(runs))
    results = {}
    for module in function_modules():
        progress(f"imports: {module} x{runs} ...")
        walls = [_python(f"import {module}", env=env)[0] for _ in range(runs)]
        timed = f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
        in_process = [float(_python(timed, env=env)[1]) * 1000 for _ in range(runs)]
        _, _, stderr = _python(f"import {module}", "-X", "importtime", env=env)
        rows = parse_importtime(stderr)
        loaded = {name.split(".")[0] for name, _, _ in rows}
        packages = by_top_package(rows)
        results[module] = {
            "wallMedianMs": statistics.median(walls),
            "wallMinusInterpreterMs": statistics.median(walls) - baseline,
            "importMedianMs": statistics.median(in_process),
            "importtimeTotalMs": sum(self_us for _, self_us, _ in rows) / 1000,
            "heaviestPackagesMs": dict(list(packages.items())[:8]),
            "loads": {package: package in loaded for package in WATCHED_PACKAGES},
            "goalMs": GOAL_MS,
            "meetsGoal": statistics.median(in_process) < GOAL_MS,
        }
    return {"interpreterBaselineMs": baseline, "runs": runs, "functions": results}
