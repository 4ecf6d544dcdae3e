"""Fixtures of the limits tests: a limits table of their own on the session's moto server."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from sysvmdiag.topology.store import create_tables


class FakeClock:
    """A clock the test moves by hand, so windows and leases end exactly when the test says."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def dynamodb(moto_server: Any) -> Any:
    return boto3.resource("dynamodb", endpoint_url=moto_server.endpoint_url)


@pytest.fixture
def limits_table(dynamodb: Any, request: pytest.FixtureRequest) -> Any:
    """A fresh, uniquely named limits table per test (tests never see each other's counters)."""
    name = f"limits-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    return create_tables(dynamodb, {"limits": name})["limits"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def instance_stores(limits_table: Any, moto_server: Any) -> list[Any]:
    """Twenty LimitStores on resources of their own, as twenty Lambda instances would have."""
    from sysvmdiag.limits import LimitStore

    endpoint = moto_server.endpoint_url
    return [
        LimitStore(boto3.resource("dynamodb", endpoint_url=endpoint).Table(limits_table.name))
        for _ in range(20)
    ]
