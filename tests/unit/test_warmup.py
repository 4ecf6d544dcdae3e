"""The bastion warm-up at Init: off unless configured, never raising, connecting the service's runner."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from sysvmdiag.topology.model import SshEndpoint
from sysvmdiag.warmup import WARM_CONNECT_SECONDS, connect, start_bastion_warmup, warm_bastion

TABLES = {"TOPOLOGY_TABLE": "topology", "ACCOUNTS_TABLE": "accounts", "AWS_DEFAULT_REGION": "us-east-1"}
BASTION = SshEndpoint(address="192.0.2.10", port=22, user="diag", host_key="ssh-ed25519 AAAA")


@dataclass
class Host:
    ssh: SshEndpoint


@dataclass
class Topology:
    reads: int = 0

    def bastion(self) -> Host:
        self.reads += 1
        return Host(BASTION)


@dataclass
class Runner:
    warmed: list[float] = field(default_factory=list)

    def warm(self, seconds: float) -> None:
        self.warmed.append(seconds)


def test_connect_warms_the_runner_of_the_zones_bastion() -> None:
    runner, asked = Runner(), []

    def runner_for(endpoint: SshEndpoint) -> Runner:
        asked.append(endpoint)
        return runner

    topology = Topology()
    connect(topology, runner_for)
    assert (topology.reads, asked, runner.warmed) == (1, [BASTION], [WARM_CONNECT_SECONDS])


def test_off_unless_configured(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sysvmdiag.warmup"):
        assert warm_bastion(TABLES) is False
        assert warm_bastion({**TABLES, "BASTION_WARM_AT_INIT": "false"}) is False
    assert not caplog.records  # nothing was tried


@pytest.mark.parametrize(
    "environ",
    [
        {"BASTION_WARM_AT_INIT": "true"},  # not a configuration (no tables)
        {**TABLES, "BASTION_WARM_AT_INIT": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # no AWS
    ],
)
def test_a_failed_warm_up_is_logged_never_raised(environ: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sysvmdiag.warmup"):
        assert warm_bastion(environ) is False
    assert "not connected at Init" in caplog.text


def test_the_thread_never_holds_up_the_process() -> None:
    thread = start_bastion_warmup(TABLES)
    thread.join(timeout=10)
    assert thread.daemon and not thread.is_alive()
