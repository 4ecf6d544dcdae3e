"""Fixtures of the limits tests: a limits table of their own on the session's moto server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
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


@pytest.fixture
def race(instance_stores: list[Any]) -> Callable[[Callable[[int, Any], None]], dict[int, str]]:
    """``race(take)``: every instance store calls ``take(index, store)`` at once (behind a barrier);
    each one's outcome, "acquired" or the refusal's code. The outcomes, not their order, are checked."""
    from sysvmdiag.limits import LimitExceeded

    def run(take: Callable[[int, Any], None]) -> dict[int, str]:
        start = threading.Barrier(len(instance_stores))
        outcomes: dict[int, str] = {}

        def contend(index: int, store: Any) -> None:
            start.wait()
            try:
                take(index, store)
            except LimitExceeded as exc:
                outcomes[index] = exc.code
            else:
                outcomes[index] = "acquired"

        threads = [threading.Thread(target=contend, args=pair) for pair in enumerate(instance_stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return outcomes

    return run
