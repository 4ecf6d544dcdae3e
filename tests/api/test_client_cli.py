"""The CLI client against the local stack: readable summaries and raw JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab


def cli(local_stack: dict, key: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sysvmdiag.cli", *args, "--api", local_stack["apiUrl"], "--key", key],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_run_prints_a_readable_ping_summary(local_stack, api_keys):
    done = cli(
        local_stack,
        api_keys["admin"],
        "run",
        "--vm",
        "r-4-VM",
        "--test",
        "ping",
        "--dest",
        "198.51.100.80",
        "--params",
        "-c 2",
    )
    assert done.returncode == 0, done.stderr
    assert "2/2 received, 0% loss" in done.stdout
    assert "rtt min/avg/max/mdev" in done.stdout


def test_run_json_gives_the_raw_response(local_stack, api_keys):
    done = cli(
        local_stack,
        api_keys["alice"],
        "run",
        "--vm",
        "r-4-VM",
        "--test",
        "traceroute",
        "--dest",
        "198.51.100.80",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["type"] == "traceroute" and body["success"] is True


def test_run_denied_exits_3_with_the_reason(local_stack, api_keys):
    done = cli(
        local_stack, api_keys["alice"], "run", "--vm", "s-1-VM", "--test", "ping", "--dest", "198.51.100.80"
    )
    assert done.returncode == 3
    assert "SYSTEM_VM_KIND_ADMIN_ONLY" in done.stderr


def test_vms_lists_targets(local_stack, api_keys):
    done = cli(local_stack, api_keys["alice"], "vms")
    assert done.returncode == 0, done.stderr
    assert "r-4-VM" in done.stdout and "s-1-VM" not in done.stdout
