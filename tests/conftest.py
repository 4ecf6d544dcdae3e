"""Shared fixtures. The lab fixture lives here too (see the lab section below)."""

from __future__ import annotations

import json
import os
import shlex
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from simvms.lab import Lab, prerequisite_problems
from sysvmdiag.local.motoserver import EmbeddedAws, free_loopback_port, start_moto_server
from sysvmdiag.local.stack import LocalStack
from sysvmdiag.topology.store import TopologyStore, create_tables

# The golden tool outputs captured from the lab (tests/lab/parsers/capture.py writes them).
GOLDEN_OUTPUTS = Path(__file__).resolve().parent / "unit" / "parsers" / "outputs"


def queued_job(*, created_at: Any = None, **changes: Any) -> Any:
    """A queued job as the API stores it: alice's ping from her router, due ten minutes after it was
    created (now unless given); ``changes`` set any other field."""
    from datetime import UTC, datetime, timedelta

    from sysvmdiag.jobs import Job, JobStatus

    created = created_at or datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": JobStatus.QUEUED,
        "target_id": "r-4-VM",
        "type": "ping",
        "ip_address": "198.51.100.80",
        "account_id": "acct-alice",
        "role": "user",
        "domain": "ROOT/acme/engineering",
        "worst_case_seconds": 8.0,
        "created_at": created,
        "deadline_at": created + timedelta(minutes=10),
    }
    return Job(**{**fields, **changes})


def result_from_capture(name: str, *, at: Any, result_id: str = "d-1", target: str = "r-4-VM") -> Any:
    """A DiagnosticResult built from a golden capture, parsed by the real parser (as a run returns it)."""
    from sysvmdiag.models import DiagnosticResult, DiagnosticType
    from sysvmdiag.parsers import parse_output

    capture = json.loads((GOLDEN_OUTPUTS / f"{name}.json").read_text())
    ok = capture["exit_code"] == 0
    return DiagnosticResult(
        id=result_id,
        target_id=target,
        type=DiagnosticType(capture["tool"]),
        ip_address=shlex.split(capture["command"])[-1],  # as sent: the destination is last
        status="succeeded" if ok else "failed",
        success=ok,
        exit_code=capture["exit_code"],
        stdout=capture["stdout"],
        stderr=capture["stderr"],
        result=parse_output(capture["tool"], capture["stdout"], capture["stderr"], capture["exit_code"]),
        started_at=at,
        finished_at=at,
        duration_ms=5,
    )


def aim_boto3_at(moto_server: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every boto3 client the test (or the code under test) makes goes to the session's moto server."""
    for var, value in {
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedAws]:
    """One moto server on loopback for the session; tests isolate by table/secret names."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    aws = start_moto_server()
    yield aws
    aws.stop()


# -- DynamoDB tables of a test's own on the session's moto server (store tests, integration and lab) ---------


@pytest.fixture(scope="module")
def dynamodb(moto_server: Any) -> Any:
    return boto3.resource("dynamodb", endpoint_url=moto_server.endpoint_url)


@pytest.fixture(scope="module")
def make_store(dynamodb: Any, request: pytest.FixtureRequest) -> Callable[[], TopologyStore]:
    """Creates a store on fresh, uniquely named tables (so tests never see each other's items)."""

    def make() -> TopologyStore:
        prefix = f"{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}"
        names = {table: f"{prefix}-{table}" for table in ("topology", "accounts", "jobs", "audit")}
        tables = create_tables(dynamodb, names)
        return TopologyStore(tables["topology"], tables["accounts"])

    return make


@pytest.fixture
def store(make_store: Callable[[], TopologyStore]) -> Iterator[TopologyStore]:
    yield make_store()


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


# -- the local stack (lab + moto + API on loopback), shared by the API, fuzz and fault suites --------------

SUITE_LIMITS_JSON = json.dumps(
    {role: {"concurrentJobs": 64, "requestsPerMinute": 100_000} for role in ("user", "domain_admin", "admin")}
)


@pytest.fixture(scope="session")
def local_stack(lab_status: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A local stack of our own (own state folder and port) on the shared lab.

    The suite sends hundreds of requests a minute as the same demo accounts, so this stack raises the
    per-minute and concurrency limits; tests/api/test_limits.py checks the limits on a stack of its own.
    """
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("local-stack"),
        port=free_loopback_port(),
        lab_state_dir=Path(lab_status["state_dir"]),
        environment={"LIMITS_JSON": SUITE_LIMITS_JSON},
    )
    status = stack.up(progress=lambda _line: None)
    yield status
    stack.down(keep_lab=True)


@pytest.fixture(scope="session")
def api_keys(local_stack: dict) -> dict[str, str]:
    return {account["name"]: account["apiKey"] for account in local_stack["accounts"]}


@pytest.fixture
def handler_env(local_stack: dict) -> Iterator[None]:
    """Point in-process handlers at the local stack's moto server, as the server process does."""
    from sysvmdiag.local.server import configure_from_status
    from tests.lambdas import fresh_process

    saved = dict(os.environ)
    configure_from_status(local_stack)
    # In process, a test decides when connections are made (tests/lab/runner/test_bastion_warmup.py warms).
    os.environ["BASTION_WARM_AT_INIT"] = "false"
    fresh_process()
    yield
    fresh_process()
    os.environ.clear()
    os.environ.update(saved)


def stack_dynamodb(stack: dict) -> Any:
    """A DynamoDB resource on a local stack's moto server (its server.json), as an operator gets one."""
    import boto3

    return boto3.resource(
        "dynamodb",
        endpoint_url=stack["awsEndpointUrl"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture(scope="session")
def local_store(local_stack: dict):
    """The local stack's topology store, as an operator with DynamoDB access would reach it."""
    from sysvmdiag.topology.store import TopologyStore

    dynamodb = stack_dynamodb(local_stack)
    return TopologyStore(
        dynamodb.Table(local_stack["tables"]["TOPOLOGY_TABLE"]),
        dynamodb.Table(local_stack["tables"]["ACCOUNTS_TABLE"]),
    )


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
