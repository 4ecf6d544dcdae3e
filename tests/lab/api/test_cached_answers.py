"""The opt-in result cache end to end: the local stack keeps identical answers for 60 s, and only a
request that asks (``cache: true``) is answered from it."""

from __future__ import annotations

import re

import pytest

from tests.lab.api.calls import cli, post

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
ARPING_GUEST = ("--vm", "r-4-VM", "--test", "arping", "--dest", "10.1.1.11", "--params", "-c 1")


def answer(stack: dict, key: str, body: dict) -> dict:
    response = post(stack, key, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_identical_request_that_asks_is_answered_from_the_stored_run(local_stack, api_keys):
    key = api_keys["alice"]
    request = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1", "cache": True}
    first = answer(local_stack, key, request)
    assert (first["cached"], first["cacheAgeSeconds"]) == (False, None)
    again = answer(
        local_stack, key, {**request, "targetId": "4b1d5c2e-7a0f-4c1e-9d3b-000000000004", "params": "-c1"}
    )
    assert again["cached"] is True and 0 <= again["cacheAgeSeconds"] < 60
    assert (again["id"], again["stdout"], again["finishedAt"]) == (
        first["id"],
        first["stdout"],
        first["finishedAt"],
    )
    fresh = answer(local_stack, key, {**request, "cache": False})
    assert fresh["cached"] is False and fresh["id"] != first["id"]


def test_another_account_never_gets_an_answer_run_for_someone_else(local_stack, api_keys):
    request = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 2", "cache": True}
    alice = answer(local_stack, api_keys["alice"], request)
    admin = answer(local_stack, api_keys["admin"], request)
    assert admin["cached"] is False and admin["id"] != alice["id"]


def test_the_cli_asks_with_cache_and_says_when_an_answer_is_stored(local_stack, api_keys):
    def run() -> str:
        done = cli(local_stack, api_keys["alice"], "run", *ARPING_GUEST, "--cache")
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[0]

    assert "(cached" not in run()
    assert re.search(r"\(cached, \d+ s old\)$", run())
