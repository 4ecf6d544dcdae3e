"""``sysvmdiag topology load``: put a topology file (and the lab's pinned host keys) into DynamoDB.

Table names come from TOPOLOGY_TABLE / ACCOUNTS_TABLE (as on Lambda); the endpoint from
``--endpoint-url`` or boto3's own AWS_ENDPOINT_URL, so the same command loads moto or AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings, SettingsError
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology
from sysvmdiag.topology.store import create_tables, table_names_from_env


def _read_lab_status(source: str) -> dict[str, Any]:
    """The JSON of ``simvms status --json``, from a file or ``-`` for stdin."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return json.loads(text)


def _cmd_load(args: argparse.Namespace) -> int:
    dynamodb = boto3.resource("dynamodb", endpoint_url=args.endpoint_url)
    try:
        store = bootstrap.topology_store(Settings.from_env(), dynamodb)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    topology = load_topology(args.topology)
    lab_status = _read_lab_status(args.lab_status) if args.lab_status else None
    if args.create_tables:
        create_tables(dynamodb, table_names_from_env())
    report = load_topology_into_tables(topology, store, lab_status)
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``topology load`` to the ``sysvmdiag`` command."""
    topology = subparsers.add_parser("topology", help="the zone topology in DynamoDB")
    verbs = topology.add_subparsers(dest="topology_command", required=True)
    load = verbs.add_parser("load", help="load a topology file into the topology and accounts tables")
    load.add_argument(
        "--topology",
        type=Path,
        default=DEFAULT_TOPOLOGY_FILE,
        help=f"topology file (default {DEFAULT_TOPOLOGY_FILE})",
    )
    load.add_argument(
        "--lab-status",
        metavar="FILE",
        help="`simvms status --json` output (or - for stdin): pinned host keys, bastion",
    )
    load.add_argument("--endpoint-url", help="DynamoDB endpoint (default: boto3's, e.g. $AWS_ENDPOINT_URL)")
    load.add_argument(
        "--create-tables",
        action="store_true",
        help="create missing tables first, as template.yaml declares them (local stacks)",
    )
    load.set_defaults(func=_cmd_load)
