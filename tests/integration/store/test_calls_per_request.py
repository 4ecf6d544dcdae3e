"""DynamoDB calls of one synchronous request (issue 17: at most 4, the authorizer's included), counted on
moto's server with botocore's ``before-call`` hook around the composition root's service (the runner is
a fake: the calls, not the SSH, are measured). The authorizer's GetItem is kept by API Gateway (and the
local stand-in) for ReauthorizeEvery, so a warm request makes none."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Topology
from tests.unit.fakes import FakeRunner

GOAL = 4


@pytest.fixture
def calls() -> Iterator[Counter]:
    counted: Counter = Counter()

    def count(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    boto3.DEFAULT_SESSION or boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-call.dynamodb", count)
    yield counted
    session.events.unregister("before-call.dynamodb", count)


def ping(service: Any, caller: Caller) -> DiagnosticResult:
    origin = RequestOrigin(request_id=str(uuid.uuid4()), source_ip="192.0.2.9", user_agent="calls")
    request = DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address="198.51.100.80", params="-c 1")
    result = service.submit(caller, request, origin)
    assert isinstance(result, DiagnosticResult) and result.success
    return result


def test_a_warm_synchronous_request_makes_at_most_four_calls(
    settings: Settings, topology: Topology, calls: Counter
) -> None:
    account = topology.account("alice")
    alice = Caller(account_id=account.id, role=account.role, domain=account.domain)
    service = bootstrap.service(settings, runner_for=FakeRunner().factory())
    ping(service, alice)  # cold: the decision context is read
    cold = sum(calls.values())
    calls.clear()
    ping(service, alice)  # warm: the same VM and destination bucket within TOPOLOGY_CACHE_SECONDS
    assert calls == Counter({"UpdateItem": 1, "TransactWriteItems": 2, "PutItem": 1}), calls
    assert sum(calls.values()) <= GOAL and cold == sum(calls.values()) + 1  # + the BatchGetItem
