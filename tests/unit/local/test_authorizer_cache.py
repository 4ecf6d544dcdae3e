"""The local API Gateway keeps the authorizer's answers per Authorization header for the template's
ReauthorizeEvery, as API Gateway does: a warm caller costs the authorizer (and its GetItem) nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from sysvmdiag.local.gateway import AUTHORIZER_CACHE_SECONDS, AuthorizerCache, LocalGateway
from tests.unit.fakes import SecondsClock

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


class Counting:
    """An authorizer that allows one key and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: dict, _context: Any) -> dict:
        self.calls += 1
        allowed = event["headers"].get("authorization") == "Bearer good"
        return {"isAuthorized": allowed, "context": {"accountId": "acct-alice"} if allowed else None}


def api(event: dict, _context: Any) -> dict:
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"]["lambda"])}


def gateway(clock: SecondsClock, authorizer: Counting, entries: int = 16) -> LocalGateway:
    return LocalGateway(api, authorizer, authorizations=AuthorizerCache(clock=clock, max_entries=entries))


def get(gw: LocalGateway, key: str) -> int:
    return gw.invoke("GET", "/systemvms", {"Authorization": f"Bearer {key}"}, b"", "192.0.2.7").status


def test_an_answer_is_kept_for_reauthorize_every_seconds() -> None:
    clock, authorizer = SecondsClock(), Counting()
    gw = gateway(clock, authorizer)
    assert [get(gw, "good"), get(gw, "good")] == [200, 200] and authorizer.calls == 1
    clock.now += AUTHORIZER_CACHE_SECONDS - 1
    assert get(gw, "good") == 200 and authorizer.calls == 1
    clock.now += 1
    assert get(gw, "good") == 200 and authorizer.calls == 2


def test_a_refusal_is_kept_too_and_keys_are_kept_apart() -> None:
    clock, authorizer = SecondsClock(), Counting()
    gw = gateway(clock, authorizer)
    assert [get(gw, "bad"), get(gw, "bad"), get(gw, "good")] == [403, 403, 200]
    assert authorizer.calls == 2


def test_the_oldest_answers_go_past_the_bound() -> None:
    clock, authorizer = SecondsClock(), Counting()
    gw = gateway(clock, authorizer, entries=2)
    for key in ("a", "b", "c", "a"):
        get(gw, key)
    assert authorizer.calls == 4  # "a" was dropped when "c" came


def test_the_stand_in_keeps_answers_as_long_as_the_template_says() -> None:
    template = cfn_yaml.load(str(TEMPLATE))
    authorizer = template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["ApiKeyAuthorizer"]
    assert authorizer["Identity"]["ReauthorizeEvery"] == AUTHORIZER_CACHE_SECONDS
