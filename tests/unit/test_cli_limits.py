"""``sysvmdiag limits`` on GET /limits answers: readable, whether the role is known or not."""

from __future__ import annotations

from sysvmdiag.cli.limits import limits_lines

KNOWN = {
    "accountId": "acct-alice",
    "role": "user",
    "enforced": True,
    "requestsPerMinute": {"limit": 30, "used": 3, "remaining": 27, "resetSeconds": 42},
    "concurrentJobs": {"limit": 4, "inUse": 1},
    "vmConcurrentRuns": 2,
}


def test_a_known_accounts_quotas_read_as_used_over_limit() -> None:
    assert limits_lines(KNOWN) == [
        "account acct-alice (user), limits enforced",
        "requests this minute: 3/30, 27 left, window resets in 42 s",
        "jobs and runs at once: 1/4",
        "runs one system VM takes at once: 2",
    ]


def test_an_account_the_topology_does_not_name_says_its_limits_are_unknown() -> None:
    unknown = {
        **KNOWN,
        "accountId": "acct-new",
        "role": None,
        "enforced": False,
        "requestsPerMinute": {"limit": None, "used": 0, "remaining": None, "resetSeconds": 60},
        "concurrentJobs": {"limit": None, "inUse": 0},
    }
    lines = limits_lines(unknown)
    assert (
        lines[0]
        == "account acct-new (role unknown), limits not enforced (this deployment has no limits table)"
    )
    assert (
        lines[1] == "requests this minute: 0 (no limit known for this account's role), window resets in 60 s"
    )
