"""The opt-in result cache end to end: the local stack keeps identical answers for 60 s, and only a
request that asks (``cache: true``) is answered from it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
ARPING_GUEST = ("--vm", "r-4-VM", "--test", "arping", "--dest", "10.1.1.11", "--params", "-c 1")


def post(stack: dict, key: str, body: dict) -> dict:
    response = requests.post(
        f"{stack['apiUrl']}/diagnostics", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_an_identical_request_that_asks_is_answered_from_the_stored_run(local_stack, api_keys):
    key = api_keys["alice"]
    request = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1", "cache": True}
    first = post(local_stack, key, request)
    assert (first["cached"], first["cacheAgeSeconds"]) == (False, None)
    again = post(
        local_stack, key, {**request, "targetId": "4b1d5c2e-7a0f-4c1e-9d3b-000000000004", "params": "-c1"}
    )
    assert again["cached"] is True and 0 <= again["cacheAgeSeconds"] < 60
    assert (again["id"], again["stdout"], again["finishedAt"]) == (
        first["id"],
        first["stdout"],
        first["finishedAt"],
    )
    fresh = post(local_stack, key, {**request, "cache": False})
    assert fresh["cached"] is False and fresh["id"] != first["id"]


def test_another_account_never_gets_an_answer_run_for_someone_else(local_stack, api_keys):
    request = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 2", "cache": True}
    alice = post(local_stack, api_keys["alice"], request)
    admin = post(local_stack, api_keys["admin"], request)
    assert admin["cached"] is False and admin["id"] != alice["id"]


def test_the_cli_asks_with_cache_and_says_when_an_answer_is_stored(local_stack, api_keys):
    api_args = ("--api", local_stack["apiUrl"], "--key", api_keys["alice"])

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sysvmdiag.cli", "run", *ARPING_GUEST, "--cache", *api_args],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[0]

    assert "(cached" not in run()
    assert re.search(r"\(cached, \d+ s old\)$", run())
