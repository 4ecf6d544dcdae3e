"""Fixtures of the sync function's tests: its tables and secret on the session's moto server, the lab's
CloudStack API on loopback, the environment set as template.yaml sets it, and its logs and metrics."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology
from sysvmdiag.topology.store import TopologyStore
from tests.conftest import aim_boto3_at
from tests.integration.labapi import LabApi, serving
from tests.lambdas import fresh_process


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(DEFAULT_TOPOLOGY_FILE)


@pytest.fixture
def lab_api(topology: Topology) -> Iterator[LabApi]:
    with serving(topology) as api:
        yield api


@dataclass
class SyncDeployment:
    """What the function reads: its tables, its secret (``put_keys`` changes it), its environment."""

    store: TopologyStore
    secret_name: str
    secrets: Any
    api: LabApi

    def put_keys(self, value: dict[str, Any] | str) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.secrets.put_secret_value(SecretId=self.secret_name, SecretString=text)

    def good_keys(self) -> dict[str, str]:
        return {"apiKey": self.api.keys.api_key, "secretKey": self.api.keys.secret_key}


@pytest.fixture
def deployment(
    moto_server: Any,
    make_store: Callable[[], TopologyStore],
    lab_api: LabApi,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SyncDeployment]:
    """Empty tables, a secret holding the lab API's key pair, and the function fresh as a new process."""
    aim_boto3_at(moto_server, monkeypatch)
    for var in ("POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    store = make_store()
    secrets = boto3.client("secretsmanager")
    secret_name = f"sysvmdiag/test/cloudstack-api-keys-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(
        Name=secret_name,
        SecretString=json.dumps({"apiKey": lab_api.keys.api_key, "secretKey": lab_api.keys.secret_key}),
    )
    monkeypatch.setenv("TOPOLOGY_TABLE", store.topology_table.name)
    monkeypatch.setenv("ACCOUNTS_TABLE", store.accounts_table.name)
    monkeypatch.setenv("CLOUDSTACK_URL", lab_api.url)
    monkeypatch.setenv("CLOUDSTACK_ZONE", "lab-zone-1")
    monkeypatch.setenv("CLOUDSTACK_SECRET_NAME", secret_name)
    fresh_process()
    yield SyncDeployment(store=store, secret_name=secret_name, secrets=secrets, api=lab_api)
    fresh_process()


class Emitted:
    """What the handler printed: powertools' log records and its EMF metric blobs."""

    def __init__(self, logs: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
        self._logs = logs
        self._capsys = capsys

    def logs(self, message: str | None = None) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self._logs.getvalue().splitlines() if line.startswith("{")]
        return [r for r in records if message is None or r.get("message") == message]

    def metrics(self) -> list[dict[str, Any]]:
        out = self._capsys.readouterr().out
        blobs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [blob for blob in blobs if "_aws" in blob]


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Iterator[Emitted]:
    """Logs through powertools' own formatter (its handler holds the stdout of import time), metrics from
    stdout (powertools prints the EMF blob when log_metrics flushes)."""
    from sysvmdiag.observability import logger

    records = io.StringIO()
    listener = logging.StreamHandler(records)
    listener.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(listener)
    try:
        yield Emitted(records, capsys)
    finally:
        logging.getLogger(logger.service).removeHandler(listener)
