"""Live output end to end: a running job's GET /diagnostics/{id} carries the output so far (written
from the VM session into the job at most once a second) and what it says so far; the CLI prints the
lines as they come. The run lasts about 7 s and is polled every 0.25 s, so it is seen running."""

from __future__ import annotations

import time

import pytest
import requests

from tests.lab.api.calls import cli, post

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
LONG_PING = {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 8 -i 1", "async": True}


def job_views(stack: dict, key: str, job_id: str, within: float = 90.0) -> list[dict]:
    """Every read of the job until it ends."""
    views, deadline = [], time.monotonic() + within
    while time.monotonic() < deadline:
        response = requests.get(
            f"{stack['apiUrl']}/diagnostics/{job_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert response.status_code == 200, response.text
        views.append(response.json())
        if views[-1]["status"] in ("succeeded", "failed", "denied"):
            return views
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not end within {within:.0f} s")


def test_a_running_job_shows_its_replies_so_far(local_stack, api_keys):
    key = api_keys["alice"]
    queued = post(local_stack, key, LONG_PING)
    assert queued.status_code == 202, queued.text
    views = job_views(local_stack, key, queued.json()["id"])
    live = [view["live"] for view in views if view["status"] == "running" and view["live"]]
    assert live, "an 8-reply ping ran for 7 s and never showed its output so far"
    final = views[-1]
    assert final["status"] == "succeeded" and final["live"] is None
    for seen in live:
        assert final["result"]["stdout"].startswith(seen["stdout"])  # a prefix of what it printed
        assert seen["result"]["tool"] == "ping"
    assert any("icmp_seq=" in seen["stdout"] for seen in live)
    assert live[0]["stdout"] != final["result"]["stdout"]  # seen before the end


def test_the_cli_prints_the_replies_as_they_come(local_stack, api_keys):
    done = cli(
        local_stack,
        api_keys["alice"],
        "run",
        "--vm",
        "r-4-VM",
        "--test",
        "ping",
        "--dest",
        WEB,
        "--params",
        "-c 6 -i 1",
        "--async",
    )
    assert done.returncode == 0, done.stderr
    streamed = [line for line in done.stderr.splitlines() if "icmp_seq=" in line]
    assert streamed and "queued" in done.stderr  # printed while it ran, before the summary on stdout
