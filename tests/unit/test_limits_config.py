"""The one config place of the limits: defaults per role, account overrides and LIMITS_JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from sysvmdiag.config import Settings
from sysvmdiag.limits import (
    DEFAULT_ACCOUNT_LIMITS,
    DEFAULT_VM_CONCURRENT_RUNS,
    AccountLimits,
    LimitExceeded,
    limits_for,
    parse_limits,
)
from sysvmdiag.topology.model import Role


def test_defaults_give_admins_more() -> None:
    expected = {
        Role.USER: AccountLimits(concurrent_jobs=4, requests_per_minute=30),
        Role.DOMAIN_ADMIN: AccountLimits(concurrent_jobs=8, requests_per_minute=60),
        Role.ADMIN: AccountLimits(concurrent_jobs=32, requests_per_minute=600),
    }
    assert expected == DEFAULT_ACCOUNT_LIMITS
    assert DEFAULT_VM_CONCURRENT_RUNS == 8
    assert DEFAULT_VM_CONCURRENT_RUNS < 10  # OpenSSH's MaxStartups starts dropping at 10


@pytest.mark.parametrize(
    ("role", "overrides", "expected"),
    [
        (Role.USER, None, AccountLimits(4, 30)),
        (Role.USER, {}, AccountLimits(4, 30)),
        ("domain_admin", None, AccountLimits(8, 60)),
        (Role.USER, {"concurrentJobs": 2}, AccountLimits(2, 30)),
        (Role.USER, {"requestsPerMinute": 100}, AccountLimits(4, 100)),
        (Role.ADMIN, {"concurrentJobs": 1, "requestsPerMinute": 5}, AccountLimits(1, 5)),
        (Role.USER, {"concurrentJobs": None, "requestsPerMinute": 7}, AccountLimits(4, 7)),
        # an account item read back from DynamoDB holds Decimals
        (Role.USER, {"concurrentJobs": Decimal(3)}, AccountLimits(3, 30)),
    ],
)
def test_limits_for(role: Role, overrides: dict[str, Any] | None, expected: AccountLimits) -> None:
    assert limits_for(role, overrides) == expected


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"concurrentjobs": 2}, "unknown key(s) concurrentjobs"),
        ({"concurrentJobs": 0}, "concurrentJobs must be a whole number of at least 1"),
        ({"requestsPerMinute": -3}, "requestsPerMinute must be a whole number"),
        ({"requestsPerMinute": 2.5}, "requestsPerMinute must be a whole number"),
        ({"concurrentJobs": "4"}, "concurrentJobs must be a whole number"),
        ({"concurrentJobs": True}, "concurrentJobs must be a whole number"),
    ],
)
def test_limits_for_refuses_bad_overrides(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match="account limits") as raised:
        limits_for(Role.USER, overrides)
    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "user", "domain_admin", "admin", "vm_runs"),
    [
        ({}, AccountLimits(4, 30), AccountLimits(8, 60), AccountLimits(32, 600), 8),
        ({"LIMITS_JSON": "  "}, AccountLimits(4, 30), AccountLimits(8, 60), AccountLimits(32, 600), 8),
        (
            {
                "LIMITS_JSON": json.dumps(
                    {"user": {"concurrentJobs": 2, "requestsPerMinute": 100}, "vmConcurrentRuns": 4}
                )
            },
            AccountLimits(2, 100),
            AccountLimits(8, 60),
            AccountLimits(32, 600),
            4,
        ),
        (
            {"LIMITS_JSON": json.dumps({"admin": {"requestsPerMinute": 1000}, "domain_admin": {}})},
            AccountLimits(4, 30),
            AccountLimits(8, 60),
            AccountLimits(32, 1000),
            8,
        ),
    ],
)
def test_parse_limits_merges_over_defaults(
    environ: dict[str, str],
    user: AccountLimits,
    domain_admin: AccountLimits,
    admin: AccountLimits,
    vm_runs: int,
) -> None:
    by_role, vm_concurrent_runs = parse_limits(environ.get("LIMITS_JSON"))
    assert by_role == {Role.USER: user, Role.DOMAIN_ADMIN: domain_admin, Role.ADMIN: admin}
    assert vm_concurrent_runs == vm_runs


def test_settings_carry_limits_json_to_the_parser() -> None:
    environ = {"TOPOLOGY_TABLE": "topo", "ACCOUNTS_TABLE": "acc", "LIMITS_JSON": '{"vmConcurrentRuns": 3}'}
    assert parse_limits(Settings.from_env(environ).limits_json)[1] == 3
    assert DEFAULT_ACCOUNT_LIMITS[Role.USER] == AccountLimits(4, 30)  # the defaults are not mutated


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("{not json", "LIMITS_JSON is not valid JSON"),
        ("[1, 2]", "LIMITS_JSON must be a JSON object"),
        ('{"users": {"concurrentJobs": 2}}', "LIMITS_JSON: unknown key(s) users"),
        ('{"user": {"maxJobs": 2}}', "LIMITS_JSON.user: unknown key(s) maxJobs"),
        ('{"user": 3}', "LIMITS_JSON.user must be an object"),
        ('{"vmConcurrentRuns": 0}', "LIMITS_JSON.vmConcurrentRuns must be a whole number of at least 1"),
        ('{"admin": {"requestsPerMinute": "lots"}}', "LIMITS_JSON.admin.requestsPerMinute must be"),
    ],
)
def test_parse_limits_refuses_bad_json(raw: str, complaint: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_limits(raw)
    assert complaint in str(raised.value)


def test_limit_exceeded_carries_code_message_and_whole_retry_after() -> None:
    error = LimitExceeded("VM_BUSY", "busy; retry in 1 s.", 0)
    assert (error.code, error.message, error.retry_after, str(error)) == (
        "VM_BUSY",
        "busy; retry in 1 s.",
        1,
        "busy; retry in 1 s.",
    )
