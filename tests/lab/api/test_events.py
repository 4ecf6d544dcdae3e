"""Every file in events/ goes through its handler, with the local stack behind it."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from sysvmdiag.local.gateway import LambdaContext

pytestmark = pytest.mark.lab

EVENTS = Path(__file__).resolve().parents[3] / "events"

# event file -> (status code, code in the body or None)
EXPECTED_API = {
    "post-diagnostics-ping-allowed.json": (200, None),
    "post-diagnostics-traceroute-allowed.json": (200, None),
    "post-diagnostics-arping-allowed.json": (200, None),
    "post-diagnostics-cloudstack-names.json": (200, None),
    "post-diagnostics-denied-management-range.json": (403, "DESTINATION_IN_MANAGEMENT_RANGE"),
    "post-diagnostics-bad-params.json": (400, "INVALID_OPTION"),
    "get-systemvms.json": (200, None),
    "get-openapi.json": (200, None),
    "post-diagnostics-async-traceroute.json": (202, None),
    "get-diagnostic-job-unknown.json": (404, "JOB_NOT_FOUND"),
    "get-audit-admin.json": (200, None),
    "get-audit-as-user.json": (403, "AUDIT_ADMIN_ONLY"),
    "post-matrices.json": (202, None),
    "post-matrices-too-large.json": (400, "MATRIX_TOO_LARGE"),
    "post-diagnostics-data-admin.json": (200, None),
    "post-diagnostics-data-user-iptables.json": (403, "STATE_PART_ADMIN_ONLY"),
}


def test_every_api_event_file_is_covered():
    assert {p.name for p in (EVENTS / "api").glob("*.json")} == set(EXPECTED_API)


@pytest.mark.parametrize("name", sorted(EXPECTED_API))
def test_api_event_through_handler(handler_env, name):
    from functions.api.app import lambda_handler

    event = json.loads((EVENTS / "api" / name).read_text())
    response = lambda_handler(event, LambdaContext("sysvmdiag-api"))
    status, code = EXPECTED_API[name]
    body = json.loads(response["body"])
    assert response["statusCode"] == status, body
    if code:
        assert body["code"] == code
    if name.startswith("post-diagnostics-data") and status == 200:
        assert body["parts"] == ["addresses", "routes", "iptables"] and body["bundle"]["bytes"] > 0
        assert [log["name"] for log in body["logs"]] == ["sysvmdiag"] and body["problems"] == []
    elif name.startswith("post-") and status == 200:
        assert body["success"] is True and body["exitCode"] == 0
    if status == 202 and name.startswith("post-matrices"):
        assert {cell["status"] for cell in body["cells"]} <= {"queued", "denied"}
        assert response["headers"]["Location"] == f"/matrices/{body['id']}"
    elif status == 202:
        assert body["status"] == "queued"
        assert response["headers"]["Location"] == f"/diagnostics/{body['id']}"


def test_every_worker_event_file_is_covered():
    assert {p.name for p in (EVENTS / "worker").glob("*.json")} == {
        "sqs-job-unknown.json",
        "sqs-message-malformed.json",
        "schedule-sweep.json",
    }


def test_worker_events_through_their_handlers(handler_env):
    """A message for a job that does not exist is consumed (nothing to run, nothing to retry); a
    malformed one fails the invocation so SQS retries it and, after three receives, dead-letters it."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from functions.worker import app as worker_app
    from tests.lambdas import fresh_process

    fresh_process()
    unknown = json.loads((EVENTS / "worker" / "sqs-job-unknown.json").read_text())
    assert worker_app.lambda_handler(unknown, LambdaContext("sysvmdiag-worker")) == {"batchItemFailures": []}
    malformed = json.loads((EVENTS / "worker" / "sqs-message-malformed.json").read_text())
    # Every record of the batch failed: powertools fails the invocation, so Lambda leaves the message
    # on the queue (and the redrive policy moves it to the dead-letter queue after three receives).
    with pytest.raises(BatchProcessingError, match="All records failed"):
        worker_app.lambda_handler(malformed, LambdaContext("sysvmdiag-worker"))
    sweep = json.loads((EVENTS / "worker" / "schedule-sweep.json").read_text())
    assert set(worker_app.sweep_handler(sweep, LambdaContext("sysvmdiag-sweeper"))) == {"expired"}


def test_authorizer_event_with_unknown_key_is_refused(handler_env):
    from functions.authorizer.app import lambda_handler

    event = json.loads((EVENTS / "authorizer" / "request-unknown-key.json").read_text())
    assert lambda_handler(event, LambdaContext("sysvmdiag-authorizer")) == {"isAuthorized": False}


def test_authorizer_event_with_issued_key_gives_caller_context(handler_env, api_keys):
    from functions.authorizer.app import lambda_handler

    event = json.loads((EVENTS / "authorizer" / "request-unknown-key.json").read_text())
    event["headers"]["authorization"] = f"Bearer {api_keys['alice']}"
    event["identitySource"] = [event["headers"]["authorization"]]
    verdict = lambda_handler(event, LambdaContext("sysvmdiag-authorizer"))
    assert verdict["isAuthorized"] is True
    assert verdict["context"] == {
        "accountId": "acct-alice",
        "accountName": "alice",
        "role": "user",
        "domain": "ROOT/acme/engineering",
    }


def _emitted(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_denial_is_logged_with_request_id_and_counted_by_reason(handler_env, capfd):
    from functions.api.app import lambda_handler
    from sysvmdiag.observability import logger

    # Powertools' handler holds the stdout of import time; listen with its formatter instead.
    records = io.StringIO()
    listener = logging.StreamHandler(records)
    listener.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(listener)
    try:
        event = json.loads((EVENTS / "api" / "post-diagnostics-denied-management-range.json").read_text())
        lambda_handler(event, LambdaContext("sysvmdiag-api"))
    finally:
        logging.getLogger(logger.service).removeHandler(listener)
    denials = [r for r in _emitted(capfd.readouterr().out) if "Denials" in r]
    assert denials and denials[0]["reason"] == "DESTINATION_IN_MANAGEMENT_RANGE"
    logs = [r for r in _emitted(records.getvalue()) if r.get("message") == "diagnostic denied"]
    assert logs and logs[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert logs[0]["decision"]["code"] == "DESTINATION_IN_MANAGEMENT_RANGE"


def test_run_publishes_runs_and_ssh_latency(handler_env, capfd):
    from functions.api.app import lambda_handler

    event = json.loads((EVENTS / "api" / "post-diagnostics-ping-allowed.json").read_text())
    assert lambda_handler(event, LambdaContext("sysvmdiag-api"))["statusCode"] == 200
    flushed = [r for r in _emitted(capfd.readouterr().out) if "Runs" in r]
    assert flushed and flushed[0]["Runs"] == [1.0] and flushed[0]["SshLatency"][0] > 0


EXPECTED_CLOUDSTACK = {
    "list-apis-unsigned.json": (401, "listapisresponse"),
    "run-diagnostics-unknown-key.json": (401, "rundiagnosticsresponse"),
    "get-diagnostics-data-unknown-key.json": (401, "getdiagnosticsdataresponse"),
}


def test_every_cloudstack_api_event_file_is_covered():
    assert {p.name for p in (EVENTS / "cloudstack_api").glob("*.json")} == set(EXPECTED_CLOUDSTACK)


@pytest.mark.parametrize("name", sorted(EXPECTED_CLOUDSTACK))
def test_cloudstack_api_event_through_handler(handler_env, name):
    """The sample events carry no key pair of the running stack (its keys are made at start): each is
    CloudStack's 401 envelope, under its command's response name."""
    from functions.cloudstack_api.app import lambda_handler

    event = json.loads((EVENTS / "cloudstack_api" / name).read_text())
    response = lambda_handler(event, LambdaContext("sysvmdiag-cloudstack-api"))
    status, envelope = EXPECTED_CLOUDSTACK[name]
    body = json.loads(response["body"])
    assert response["statusCode"] == status and body[envelope]["errorcode"] == status, body
