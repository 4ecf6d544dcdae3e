"""The result cache through the API handler, in process on HTTP API events (pipeline on fakes): the wire
names, a cached answer's age, its place in the minute's count, and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sysvmdiag.local.gateway import LambdaContext, http_api_event
from tests.unit.conftest import World
from tests.unit.fakes import InMemoryResultCache

ALICE = {"accountId": "acct-alice", "accountName": "alice", "role": "user", "domain": "ROOT/acme/engineering"}
BODY = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80", "params": "-c 1", "cache": True}


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API handler on a pipeline with a 60-second result cache (its composition root swapped out)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from functions.api import app

    service = world.service(result_cache=InMemoryResultCache(), result_cache_seconds=60)
    monkeypatch.setattr(app, "_service", lambda: service)
    yield app


def post(api: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    event = http_api_event(
        "POST", "/diagnostics", {"content-type": "application/json"}, json.dumps(body).encode(), "192.0.2.7"
    )
    event["requestContext"]["authorizer"] = {"lambda": ALICE}
    answer = api.app.resolve(event, LambdaContext("api"))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers") or {}


def test_a_repeat_is_answered_cached_with_its_age_in_camel_case(api: Any, world: World) -> None:
    status, first, headers = post(api, BODY)
    assert status == 200 and first["cached"] is False and first["cacheAgeSeconds"] is None
    world.clock.advance(7)
    status, again, again_headers = post(api, BODY)
    assert status == 200 and again["cached"] is True and again["cacheAgeSeconds"] == 7
    assert again["id"] == first["id"] and again["finishedAt"] == first["finishedAt"]
    assert len(world.runner.commands) == 1
    # the cached answer was counted toward the minute like the first
    assert int(again_headers["X-RateLimit-Remaining"]) == int(headers["X-RateLimit-Remaining"]) - 1


def test_without_the_field_the_request_runs_each_time(api: Any, world: World) -> None:
    plain = {name: value for name, value in BODY.items() if name != "cache"}
    post(api, BODY)
    status, body, _ = post(api, plain)
    assert status == 200 and body["cached"] is False and len(world.runner.commands) == 2


def test_cache_must_be_a_boolean(api: Any) -> None:
    status, body, _ = post(api, {**BODY, "cache": "sometimes"})
    assert (status, body["code"]) == (400, "INVALID_REQUEST")


def test_the_openapi_document_shows_the_request_field_and_the_result_fields(api: Any) -> None:
    schemas = json.loads(api.app.get_openapi_json_schema())["components"]["schemas"]
    cache = schemas["DiagnosticRequest"]["properties"]["cache"]
    assert cache["type"] == "boolean" and cache["default"] is False
    assert "RESULT_CACHE_SECONDS" in cache["description"] and "never" in cache["description"]
    result = schemas["DiagnosticResult"]["properties"]
    assert result["cached"]["type"] == "boolean"
    assert {"type": "number"} in result["cacheAgeSeconds"]["anyOf"]
    assert not {"cached", "cacheAgeSeconds"} & set(schemas["DiagnosticResult"]["required"])
