"""The local stack (lab + moto + API on loopback) for end-to-end API tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.local.stack import LocalStack

SUITE_LIMITS_JSON = json.dumps(
    {
        role: {"concurrentJobs": 64, "requestsPerMinute": 100_000}
        for role in ("user", "domain_admin", "admin")
    }
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
    from aws_lambda_powertools.utilities import parameters

    from sysvmdiag.local.server import configure_from_status
    from sysvmdiag.runner import clear_runners

    saved = dict(os.environ)
    configure_from_status(local_stack)
    from functions.api import app as api_app
    from functions.authorizer import app as authorizer_app

    def fresh_process() -> None:
        """What a new Lambda process starts with: no cached service, secret provider or SSH runner."""
        api_app._service.cache_clear()
        authorizer_app._store.cache_clear()
        parameters.clear_caches()
        clear_runners()

    fresh_process()
    yield
    fresh_process()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def local_store(local_stack: dict):
    """The local stack's topology store, as an operator with DynamoDB access would reach it."""
    import boto3

    from sysvmdiag.topology.store import TopologyStore

    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=local_stack["awsEndpointUrl"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return TopologyStore(
        dynamodb.Table(local_stack["tables"]["TOPOLOGY_TABLE"]),
        dynamodb.Table(local_stack["tables"]["ACCOUNTS_TABLE"]),
    )
