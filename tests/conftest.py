"""Shared fixtures. The lab fixture lives here too (see the lab section below)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simvms.lab import Lab, prerequisite_problems
from sysvmdiag.local.motoserver import EmbeddedAws, start_moto_server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedAws]:
    """One moto server on loopback for the session; tests isolate by table/secret names."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    aws = start_moto_server()
    yield aws
    aws.stop()


# -- the namespace lab (simvms) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def lab_prerequisites() -> None:
    """Lab tests fail (never skip) when the machine cannot host the lab, saying what to install."""
    problems = prerequisite_problems(with_diagnostic_tools=True)
    if problems:
        pytest.fail("the lab tests cannot run: " + "; ".join(problems))


@pytest.fixture(scope="session")
def lab(lab_prerequisites: None) -> Iterator[Lab]:
    """The shared lab, brought up once (idempotent). A lab this session started is torn down at the
    end, so the suite leaves the machine as it found it; one that was already up stays up."""
    shared = Lab()
    was_up = bool(shared.status().get("up"))
    shared.up()
    yield shared
    if not was_up:
        shared.down()


@pytest.fixture(scope="session")
def lab_status(lab: Lab) -> dict[str, Any]:
    """`simvms status --json` of the shared lab, as `Lab.up()` returned it."""
    status = lab.status()
    assert status["up"], f"lab degraded: {status['problems']}"
    return status


@pytest.fixture(autouse=True)
def _fresh_lab_status(request: pytest.FixtureRequest) -> None:
    """Keep the session's `lab_status` dict current: tests rekey VMs or stop sshds during the session
    (through `simvms`/`Lab`, which rewrite status.json), so a test sees the host keys and pids of now."""
    if "lab_status" not in request.fixturenames:
        return
    status = request.getfixturevalue("lab_status")
    path = Path(status["state_dir"]) / "status.json"
    if path.exists():
        fresh = json.loads(path.read_text())
        if fresh != status:
            status.clear()
            status.update(fresh)


# -- hypothesis budgets ---------------------------------------------------------------------------
# `pytest --hypothesis-profile=long` (hypothesis' own option) or SYSVMDIAG_HYPOTHESIS_PROFILE=long runs
# the fuzz suites (tests/fuzz) with many more examples; the default run keeps them bounded so the
# whole suite stays fast. Tests that set no max_examples of their own follow the profile too.

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("SYSVMDIAG_HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["SYSVMDIAG_HYPOTHESIS_PROFILE"])
