"""The local stack under concurrent requests: each request keeps its own caller, request id and answer.

Lambda gives an instance one event at a time; the local stack runs each function in instance processes
for the same reason (powertools' resolver holds the current event per process).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sysvmdiag.local.processes import process_group_members

pytestmark = pytest.mark.lab


def test_concurrent_callers_never_see_each_others_answers(local_stack, api_keys):
    def listing(account: str) -> tuple[str, set[str], str]:
        response = requests.get(
            f"{local_stack['apiUrl']}/systemvms",
            timeout=60,
            headers={"Authorization": f"Bearer {api_keys[account]}"},
        )
        assert response.status_code == 200, response.text
        return account, {vm["name"] for vm in response.json()["systemvms"]}, response.headers["x-request-id"]

    alone = {account: listing(account)[1] for account in ("alice", "bob", "admin")}
    assert len({frozenset(names) for names in alone.values()}) == 3  # three different views
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(listing, ["alice", "bob", "admin"] * 12))
    for account, names, _request_id in answers:
        assert names == alone[account], account
    assert len({request_id for *_rest, request_id in answers}) == len(answers)


def test_the_api_runs_in_instance_processes_of_the_server(local_stack):
    """Function instances live in the server's process group, so stopping the stack stops them."""
    members = process_group_members(local_stack["pid"])
    assert local_stack["pid"] in members and len(members) > 1
