"""The X-Ray SDK is loaded only when powertools has tracing on (issue 17: cold start)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sysvmdiag.tracing_off import NoSegment, NoTracing

PROBE = (
    "import sys\n"
    "import functions.api.app as api\n"
    "from sysvmdiag.observability import tracer\n"
    "print(type(tracer.provider).__name__, tracer.disabled, 'aws_xray_sdk.core' in sys.modules)\n"
)


def _probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_SAM"))}
    base.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "env",
    [
        {},  # outside Lambda: the local stack, the CLI, tests
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
    ],
)
def test_tracing_off_loads_no_xray_sdk(env: dict[str, str]) -> None:
    assert _probe(**env) == "NoTracing True False"


def test_tracing_on_in_lambda_uses_xray() -> None:
    assert _probe(LAMBDA_TASK_ROOT="/var/task") == "AsyncAWSXRayRecorder False True"


def test_the_stand_in_records_nothing_and_lets_the_handler_answer() -> None:
    provider = NoTracing()
    with provider.in_subsegment(name="## handler") as segment:
        assert isinstance(segment, NoSegment)
        segment.put_annotation("ColdStart", True)
        segment.put_metadata("response", {"a": 1}, namespace="sysvmdiag")
        segment.add_exception(ValueError("x"), [])
    provider.patch(["botocore"])
    provider.patch_all()
