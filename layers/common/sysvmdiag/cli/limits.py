"""``sysvmdiag limits``: the caller's quotas and current use (GET /limits; admins: ``--account``)."""

from __future__ import annotations

import argparse
import json
import urllib.parse

from sysvmdiag.cli.client import (
    ApiError,
    call_api,
    endpoint_flags,
    print_refusal,
    resolve_endpoint,
    text_lines,
)


def _quota(limit: int | None, used: int) -> str:
    return f"{used}/{limit}" if limit is not None else f"{used} (no limit known for this account's role)"


def limits_lines(view: dict) -> list[str]:
    """GET /limits for people: what is used of each quota, and when the minute's window resets."""
    requests, jobs = view["requestsPerMinute"], view["concurrentJobs"]
    enforced = "enforced" if view["enforced"] else "not enforced (this deployment has no limits table)"
    left = f", {requests['remaining']} left" if requests.get("remaining") is not None else ""
    return [
        f"account {view['accountId']} ({view.get('role') or 'role unknown'}), limits {enforced}",
        f"requests this minute: {_quota(requests['limit'], requests['used'])}{left}, "
        f"window resets in {requests['resetSeconds']} s",
        f"jobs and runs at once: {_quota(jobs['limit'], jobs['inUse'])}",
        f"runs one system VM takes at once: {view['vmConcurrentRuns']}",
    ]


def _cmd_limits(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    query = f"?{urllib.parse.urlencode({'account': args.account})}" if args.account else ""
    try:
        view = call_api("GET", f"{api}/limits{query}", key)
    except ApiError as err:
        return print_refusal(err, args.json)
    print(json.dumps(view, indent=2) if args.json else text_lines(limits_lines(view)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    limits = subparsers.add_parser("limits", help="your quotas and current use (admins: --account ID)")
    limits.add_argument("--account", help="another account's id (administrators only)")
    endpoint_flags(limits)
    limits.set_defaults(func=_cmd_limits)
