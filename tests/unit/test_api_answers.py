"""The API handler's own answers, in process on HTTP API events (no sockets): every one a coded JSON body
from the error catalogue, and the pipeline's answers passed through with their status and Retry-After."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sysvmdiag.local.gateway import LambdaContext, http_api_event
from tests.unit.conftest import World

ALICE = {"accountId": "acct-alice", "accountName": "alice", "role": "user", "domain": "ROOT/acme/engineering"}
BODY = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80", "params": "-c 1"}


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API handler with the pipeline on fakes behind it (its composition root swapped out)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from functions.api import app

    service = world.service()
    monkeypatch.setattr(app, "_service", lambda: service)
    yield app


def call(api: Any, method: str, path: str, body: bytes = b"", content_type: str = "application/json") -> Any:
    event = http_api_event(method, path, {"content-type": content_type}, body, "192.0.2.7")
    event["requestContext"]["authorizer"] = {"lambda": ALICE}
    answer = api.app.resolve(event, LambdaContext("api"))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers") or {}


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("GET", "/nope", b"", "application/json", 404, "ROUTE_NOT_FOUND"),
        ("POST", "/diagnostics", b"{not json", "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b"[" * 5000 + b"]" * 5000, "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b"\xff\xfe\x00", "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b'{"type": "ping"}', "application/json", 400, "INVALID_REQUEST"),
        ("POST", "/diagnostics", b"a=b", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", b"--x--", "multipart/form-data", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_the_handlers_own_answers_are_coded(
    api: Any, method: str, path: str, body: bytes, content_type: str, status: int, code: str
) -> None:
    got_status, got, _headers = call(api, method, path, body, content_type)
    assert (got_status, got["code"]) == (status, code) and got["message"]


def test_a_result_and_a_refusal_come_through_with_their_status(api: Any, world: World) -> None:
    status, result, _ = call(api, "POST", "/diagnostics", json.dumps(BODY).encode())
    assert status == 200 and result["success"] is True and result["result"]["received"] == 3
    hidden = json.dumps({**BODY, "targetId": "r-9-VM"}).encode()
    status, refusal, _ = call(api, "POST", "/diagnostics", hidden)
    assert (status, refusal["code"], refusal["field"]) == (404, "TARGET_NOT_FOUND", "targetId")


def test_a_limit_answers_429_with_retry_after(api: Any, world: World) -> None:
    world.limiter.requests["acct-alice"] = 5
    status, refusal, headers = call(api, "POST", "/diagnostics", json.dumps(BODY).encode())
    assert (status, refusal["code"], headers.get("Retry-After")) == (429, "RATE_LIMITED", "42")


def test_a_bug_is_a_coded_500(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(api, "_service", broken)
    status, answer, _ = call(api, "GET", "/systemvms")
    assert (status, answer["code"]) == (500, "INTERNAL_ERROR")
