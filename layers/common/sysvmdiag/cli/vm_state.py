"""``sysvmdiag data``: a system VM's own state (POST /diagnostics/data), readable, and its bundle.

Prints the interfaces, routes, rules and neighbours (admins: also the firewall's size and log tails)
as :mod:`sysvmdiag.state_summary` lays them out; ``--download FILE`` saves the zip from the pre-signed
URL; ``--json`` prints the API's JSON unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from sysvmdiag.cli.client import ApiError, call_api, endpoint_flags, print_refusal, resolve_endpoint
from sysvmdiag.models import VmStateView
from sysvmdiag.state_summary import state_lines
from sysvmdiag.summaries import printable
from sysvmdiag.vmstate import LOG_NAMES, PARTS

DOWNLOAD_TIMEOUT_SECONDS = 60.0


def download(url: str, target: Path) -> int:
    """The bundle at ``url`` saved to ``target``; its size. Only http(s) URLs (the API's own)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310 - checked above
        data = response.read()
    target.write_bytes(data)
    return len(data)


def _cmd_data(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    body: dict[str, Any] = {"targetId": args.vm, "parts": args.part or [], "logs": args.log or []}
    try:
        answer = call_api("POST", f"{api}/diagnostics/data", key, body)
    except ApiError as err:
        return print_refusal(err, args.json)
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print("\n".join(state_lines(VmStateView.model_validate(answer))))
    if args.download:
        size = download(answer["bundle"]["url"], Path(args.download))
        print(printable(f"saved the bundle ({size} bytes) to {args.download}"), file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="a system VM's own state: addresses, routes, rules, neighbours (admins: iptables, logs)",
    )
    data.add_argument("vm", help="system VM uuid or name (r-4-VM)")
    data.add_argument("--part", action="append", choices=PARTS, help="a part to read (repeat; default: all)")
    data.add_argument("--log", action="append", choices=LOG_NAMES, help="a log tail to read (admins; repeat)")
    data.add_argument("--download", metavar="FILE", help="save the bundle (a zip) to FILE")
    endpoint_flags(data)
    data.set_defaults(func=_cmd_data)
