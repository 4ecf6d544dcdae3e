"""The CLI client against the local stack: readable summaries and raw JSON."""

from __future__ import annotations

import json

import pytest

from tests.lab.api.calls import cli

pytestmark = pytest.mark.lab


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


def test_run_refused_exits_3_with_the_reason(local_stack, api_keys):
    done = cli(
        local_stack, api_keys["alice"], "run", "--vm", "s-1-VM", "--test", "ping", "--dest", "198.51.100.80"
    )
    assert done.returncode == 3
    assert "TARGET_NOT_FOUND" in done.stderr  # a VM alice may not use answers like a missing one


def test_vms_lists_targets(local_stack, api_keys):
    done = cli(local_stack, api_keys["alice"], "vms")
    assert done.returncode == 0, done.stderr
    assert "r-4-VM" in done.stdout and "s-1-VM" not in done.stdout


def test_run_async_waits_for_the_job_and_prints_its_hops(local_stack, api_keys):
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
        "--async",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "queued" in done.stderr
    assert "succeeded" in done.stdout and "198.51.100.80" in done.stdout
    hops = [line for line in done.stdout.splitlines() if line.strip()[:2].strip().isdigit()]
    assert len(hops) >= 3, done.stdout


def test_job_and_audit_commands(local_stack, api_keys):
    queued = cli(
        local_stack,
        api_keys["alice"],
        "run",
        "--vm",
        "r-4-VM",
        "--test",
        "ping",
        "--dest",
        "198.51.100.80",
        "--params",
        "-c 1",
        "--async",
        "--no-wait",
        "--json",
    )
    assert queued.returncode == 0, queued.stderr
    job_id = json.loads(queued.stdout)["id"]
    shown = cli(local_stack, api_keys["alice"], "job", job_id, "--wait", "60")
    assert shown.returncode == 0 and f"job {job_id} succeeded" in shown.stdout, shown.stdout + shown.stderr
    trail = cli(local_stack, api_keys["admin"], "audit", "--account", "acct-alice", "--limit", "20")
    assert trail.returncode == 0, trail.stderr
    assert "acct-alice" in trail.stdout and "allowed" in trail.stdout
    refused = cli(local_stack, api_keys["alice"], "audit")
    assert refused.returncode == 3 and "AUDIT_ADMIN_ONLY" in refused.stderr


def test_limits_shows_the_callers_quotas_and_an_admin_reads_anothers(local_stack, api_keys):
    own = cli(local_stack, api_keys["alice"], "limits")
    assert own.returncode == 0, own.stderr
    assert own.stdout.startswith("account acct-alice (user), limits enforced")
    assert "requests this minute: " in own.stdout and "jobs and runs at once: " in own.stdout
    other = cli(local_stack, api_keys["admin"], "limits", "--account", "acct-bob", "--json")
    assert other.returncode == 0 and json.loads(other.stdout)["accountId"] == "acct-bob"
    refused = cli(local_stack, api_keys["alice"], "limits", "--account", "acct-bob")
    assert refused.returncode == 3 and "LIMITS_ADMIN_ONLY" in refused.stderr
