"""The unit tier: no moto, no lab, no sockets. The whole pipeline runs here on in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import pytest_socket

from sysvmdiag.limits import AccountLimits
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role
from tests.unit.fakes import (
    LAB,
    FakeBundles,
    FakeLimiter,
    FakeQueue,
    FakeRunner,
    FakeTopology,
    InMemoryAudit,
    InMemoryJobs,
    InMemoryMatrices,
    InMemoryStateReads,
    MovableClock,
)

TIGHT = {
    Role.USER: AccountLimits(concurrent_jobs=2, requests_per_minute=5),
    Role.DOMAIN_ADMIN: AccountLimits(concurrent_jobs=2, requests_per_minute=5),
    Role.ADMIN: AccountLimits(concurrent_jobs=4, requests_per_minute=50),
}


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """pytest-socket: any network socket a unit test opens fails it (socketpairs for in-process SSH
    servers stay allowed: they never leave the process)."""
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


def caller(name: str) -> Caller:
    account = LAB.account(name)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


@dataclass
class World:
    """The service on fakes, and the fakes themselves for the test to script and inspect."""

    topology: FakeTopology = field(default_factory=FakeTopology)
    runner: FakeRunner = field(default_factory=FakeRunner)
    jobs: InMemoryJobs = field(default_factory=InMemoryJobs)
    matrices: InMemoryMatrices = field(default_factory=InMemoryMatrices)
    bundles: FakeBundles = field(default_factory=FakeBundles)
    state_reads: InMemoryStateReads = field(default_factory=InMemoryStateReads)
    queue: FakeQueue = field(default_factory=FakeQueue)
    audit: InMemoryAudit = field(default_factory=InMemoryAudit)
    limiter: FakeLimiter = field(default_factory=FakeLimiter)
    clock: MovableClock = field(default_factory=MovableClock)
    finished: list = field(default_factory=list)
    requests: int = 0

    def service(self, **overrides: object) -> DiagnosticsService:
        parts: dict[str, object] = {
            "jobs": self.jobs,
            "matrices": self.matrices,
            "bundles": self.bundles,
            "state_reads": self.state_reads,
            "queue": self.queue,
            "audit": self.audit,
            "limits": self.limiter,
            "account_limits": TIGHT,
            "vm_concurrent_runs": 1,
            "job_finished": self.finished.append,
            "clock": self.clock,
        }
        parts.update(overrides)
        return DiagnosticsService(self.topology, self.runner.factory(), 25.0, **parts)  # type: ignore[arg-type]

    def origin(self) -> RequestOrigin:
        self.requests += 1
        return RequestOrigin(request_id=f"req-{self.requests}", source_ip="192.0.2.9", user_agent="unit")


@pytest.fixture
def world() -> World:
    return World()
