"""Reachability matrices end to end: real HTTP to the local stack, each cell a job the local worker runs
through the bastion on the lab's VMs, read back as one matrix, and the CLI's grid."""

from __future__ import annotations

import time

import pytest
import requests

from tests.lab.api.calls import cli

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
BOB_SHARED = "10.3.0.21"  # on a shared network alice does not have: refused for her, cell by cell
WAIT_SECONDS = 120  # a generous bound for a handful of short jobs, not a timing the test depends on


def call(stack: dict, key: str, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method, f"{stack['apiUrl']}{path}", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def finished(stack: dict, key: str, matrix_id: str) -> dict:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        view = call(stack, key, "GET", f"/matrices/{matrix_id}")
        assert view.status_code == 200, view.text
        if view.json()["complete"] or time.monotonic() > deadline:
            return view.json()
        time.sleep(0.5)


def test_a_matrix_runs_each_allowed_cell_and_refuses_the_others_on_their_own(local_stack, api_keys):
    key = api_keys["alice"]
    body = {
        "targets": ["r-4-VM", "r-7-VM"],
        "destinations": [WEB, BOB_SHARED],
        "tests": ["ping", "mtr"],
        "params": {"ping": "-c 1", "mtr": "-c 1 -G 1"},
    }
    posted = call(local_stack, key, "POST", "/matrices", body)
    assert posted.status_code == 202, posted.text
    matrix = finished(local_stack, key, posted.json()["id"])
    assert matrix["complete"] is True, matrix
    cells = {(c["target"], c["test"], c["destination"]): c for c in matrix["cells"]}
    assert len(cells) == 8
    for target in ("r-4-VM", "r-7-VM"):
        ping, mtr = cells[target, "ping", WEB], cells[target, "mtr", WEB]
        assert (ping["status"], ping["verdict"], ping["lossPercent"]) == ("succeeded", "reachable", 0), ping
        assert (mtr["status"], mtr["reached"], mtr["hops"]) == ("succeeded", True, 3), mtr
        for test in ("ping", "mtr"):
            refused = cells[target, test, BOB_SHARED]
            assert (refused["status"], refused["code"]) == ("denied", "DESTINATION_NOT_ALLOWED"), refused


def test_another_account_cannot_read_the_matrix(local_stack, api_keys):
    body = {"targets": ["r-4-VM"], "destinations": [WEB], "tests": ["ping"], "params": {"ping": "-c 1"}}
    posted = call(local_stack, api_keys["alice"], "POST", "/matrices", body)
    assert posted.status_code == 202, posted.text
    other = call(local_stack, api_keys["bob"], "GET", f"/matrices/{posted.json()['id']}")
    assert (other.status_code, other.json()["code"]) == (404, "MATRIX_NOT_FOUND")


def test_too_many_cells_is_refused_before_anything_runs(local_stack, api_keys):
    body = {
        "targets": ["r-4-VM", "r-7-VM"],
        "destinations": [f"198.51.100.{n}" for n in range(80, 90)],
        "tests": ["ping", "traceroute", "mtr"],
    }
    response = call(local_stack, api_keys["alice"], "POST", "/matrices", body)
    assert (response.status_code, response.json()["code"]) == (400, "MATRIX_TOO_LARGE")


def test_the_cli_waits_and_prints_the_grid(local_stack, api_keys):
    done = cli(
        local_stack,
        api_keys["alice"],
        "matrix",
        "--vm",
        "r-4-VM",
        "--dest",
        WEB,
        "--dest",
        BOB_SHARED,
        "--test",
        "ping",
        "--params",
        "ping=-c 1",
        "--wait",
        str(WAIT_SECONDS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(": complete"), done.stdout
    assert WEB in lines[1] and BOB_SHARED in lines[1]  # a column per destination
    row = next(line for line in lines if line.startswith("r-4-VM ping"))
    assert "ok 0%" in row and "denied" in row
    assert any("DESTINATION_NOT_ALLOWED" in line for line in lines[2:])  # why the denied cell did not run
