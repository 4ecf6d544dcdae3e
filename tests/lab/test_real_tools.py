"""The argv toolargs produces is accepted by this machine's real ping, traceroute and arping.

Every run targets loopback only (127.0.0.1, ::1 on ``lo``), never the host's real network.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from sysvmdiag.toolargs import parse_params

PACKAGES = {"ping": "iputils-ping", "traceroute": "traceroute", "arping": "arping"}


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: apt-get install {PACKAGES[tool]}")


@pytest.mark.parametrize(
    ("tool", "params", "destination"),
    [
        ("ping", None, "127.0.0.1"),
        ("ping", "-c 2 -i 0.2 -W 1 -s 1472 -t 64 -4 -I lo", "127.0.0.1"),
        ("ping", "-c 2 -i 0.2 -s 1452 -6 -I lo", "::1"),
        ("ping", "-c1 -w1 -n", "::ffff:127.0.0.1"),
        ("traceroute", "-m 2 -q 1 -w 1", "127.0.0.1"),
        ("traceroute", "-f 1 -m 3 -q 3 -w 1.5 -I -4 -i lo", "127.0.0.1"),
        ("traceroute", "-m 2 -q 2 -w 1 -T -p 22", "127.0.0.1"),
        ("traceroute", "-m 2 -q 1 -w 1 -U -p 53 -6", "::1"),
    ],
)
def test_ping_and_traceroute_accept_the_argv(tool: str, params: str | None, destination: str) -> None:
    _require(tool)
    invocation = parse_params(tool, params, destination)
    started = time.monotonic()
    result = subprocess.run(invocation.argv(), capture_output=True, text=True, timeout=90, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, (invocation.argv(), result.stderr)
    assert result.stderr == ""
    assert elapsed <= invocation.worst_case_seconds + 1


def test_arping_accepts_the_argv_and_its_deadline_ends_the_run() -> None:
    _require("arping")
    invocation = parse_params("arping", "-c 20 -w 2", "127.0.0.1").with_interface("lo")
    started = time.monotonic()
    # lo answers no ARP, so only the -w deadline can end this run (exit 1: no replies)
    result = subprocess.run(invocation.argv(), capture_output=True, text=True, timeout=30, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "usage" not in (result.stdout + result.stderr).lower()
    assert elapsed <= invocation.worst_case_seconds + 1


def test_ping_deadline_ends_the_run_before_the_count() -> None:
    _require("ping")
    invocation = parse_params("ping", "-c 20 -i 0.2 -w 1", "127.0.0.1")
    started = time.monotonic()
    result = subprocess.run(invocation.argv(), capture_output=True, text=True, timeout=30, check=False)
    assert time.monotonic() - started <= invocation.worst_case_seconds + 1
    assert "20 received" not in result.stdout
