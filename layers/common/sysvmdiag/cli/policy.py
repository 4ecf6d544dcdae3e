"""``sysvmdiag policy check``: ask the access policy offline, against a topology file.

Exit codes: 0 allowed, 3 denied, 2 bad input (unreadable file, unknown caller account).
Imports only the topology model and the policy: no boto3, no paramiko.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError

from sysvmdiag.toolargs import TOOLS

if TYPE_CHECKING:
    from sysvmdiag.topology.model import Topology

EXIT_ALLOWED = 0
EXIT_BAD_INPUT = 2
EXIT_DENIED = 3


class BadInput(Exception):
    """Input the policy cannot even be asked about; reported on stderr with exit code 2."""


def load_topology_or_status(path: Path) -> Topology:
    """Read a topology YAML, or a ``simvms status --json`` file naming its topology under "topology"."""
    from sysvmdiag.topology.model import Topology, load_topology

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"cannot read {path}: {err}") from None
    try:
        if isinstance(data, dict) and "zone" in data:
            return Topology.model_validate(data)
        if isinstance(data, dict) and isinstance(data.get("topology"), str):
            topology_path = Path(data["topology"])
            if not topology_path.is_absolute():
                topology_path = path.parent / topology_path
            return load_topology(topology_path)
    except (OSError, yaml.YAMLError, ValidationError) as err:
        raise BadInput(f"cannot load the topology from {path}: {err}") from None
    raise BadInput(f"{path} is neither a topology file nor a 'simvms status --json' file")


def _cmd_check(args: argparse.Namespace) -> int:
    from sysvmdiag.policy import Caller, decide

    try:
        topology = load_topology_or_status(args.topology)
        try:
            account = topology.account(args.caller)
        except KeyError:
            known = ", ".join(a.name for a in topology.accounts)
            raise BadInput(f"unknown caller account {args.caller!r} (known: {known})") from None
    except BadInput as err:
        print(f"sysvmdiag policy check: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    caller = Caller(account_id=account.id, role=account.role, domain=account.domain)
    decision = decide(caller, args.vm, args.test, args.dest, args.params, topology)
    print(json.dumps(decision.to_dict(), indent=2))
    return EXIT_ALLOWED if decision.allowed else EXIT_DENIED


def register(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser("policy", help="the access policy, offline")
    verbs = policy.add_subparsers(dest="verb", required=True, metavar="VERB")
    check = verbs.add_parser(
        "check",
        help="would this caller be allowed this test? prints the decision as JSON (exit 0/3/2)",
        description="Exit 0 when allowed, 3 when denied, 2 on bad input.",
    )
    check.add_argument(
        "--topology", required=True, type=Path, help="topology YAML, or a 'simvms status --json' file"
    )
    check.add_argument("--caller", required=True, help="account id or name")
    check.add_argument("--vm", required=True, help="system VM uuid, CloudStack name (r-4-VM) or lab name")
    check.add_argument("--test", required=True, help=", ".join(TOOLS))
    check.add_argument("--dest", required=True, help="destination IP address")
    check.add_argument("--params", default=None, help='tool options, e.g. "-c 5" (or --params=-c5)')
    check.set_defaults(func=_cmd_check)
