"""``sysvmdiag topology load`` (a topology file and the lab's pinned host keys) and ``topology sync`` (a zone
read from CloudStack's API) into DynamoDB; ``topology pin-host-keys`` (scan and confirm host keys) is in
:mod:`sysvmdiag.cli.hostkeys`.

Table names come from TOPOLOGY_TABLE / ACCOUNTS_TABLE (as on Lambda); the endpoint from
``--endpoint-url`` or boto3's own AWS_ENDPOINT_URL, so the same command loads moto or AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

from sysvmdiag import bootstrap
from sysvmdiag.cli import hostkeys as pin_host_keys
from sysvmdiag.cloudstack.answers import CloudStackError
from sysvmdiag.cloudstack.client import CloudStackClient, PageProgress, ZoneNotFoundError
from sysvmdiag.cloudstack.mapping import MappingError
from sysvmdiag.cloudstack.sync import sync_zone
from sysvmdiag.config import Settings, SettingsError
from sysvmdiag.topology.loader import ZoneMismatch, load_topology_into_tables
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


def _cloudstack_credentials(args: argparse.Namespace) -> tuple[str, str, str]:
    """URL and keys: flags, else CLOUDSTACK_URL / CLOUDSTACK_API_KEY / CLOUDSTACK_SECRET_KEY (kept out of
    the process list), else a credentials file (``{"url", "apiKey", "secretKey"}``, as the lab writes)."""
    stored: dict[str, Any] = {}
    if args.credentials:
        stored = json.loads(Path(args.credentials).read_text(encoding="utf-8"))
    url = args.cloudstack or os.environ.get("CLOUDSTACK_URL") or stored.get("url")
    api_key = args.api_key or os.environ.get("CLOUDSTACK_API_KEY") or stored.get("apiKey")
    secret_key = args.secret_key or os.environ.get("CLOUDSTACK_SECRET_KEY") or stored.get("secretKey")
    missing = [
        name
        for name, value in (("--cloudstack", url), ("--api-key", api_key), ("--secret-key", secret_key))
        if not value
    ]
    if missing:
        raise SettingsError(
            f"topology sync needs {', '.join(missing)} (or CLOUDSTACK_* variables, or --credentials)"
        )
    return str(url), str(api_key), str(secret_key)


def _progress(page: PageProgress) -> None:
    total = f"/{page.total}" if page.total is not None else ""
    print(f"  {page.command}: page {page.page}, {page.received}{total} items", file=sys.stderr)


def _cmd_sync(args: argparse.Namespace) -> int:
    dynamodb = boto3.resource("dynamodb", endpoint_url=args.endpoint_url)
    try:
        url, api_key, secret_key = _cloudstack_credentials(args)
        store = bootstrap.topology_store(Settings.from_env(), dynamodb)
    except (SettingsError, OSError, ValueError) as err:
        print(f"sysvmdiag topology sync: {err}", file=sys.stderr)
        return 2
    client = CloudStackClient(url, api_key, secret_key, timeout=args.timeout, progress=_progress)
    host_keys = _read_lab_status(args.host_keys) if args.host_keys else None
    if args.create_tables:
        create_tables(dynamodb, table_names_from_env())
    print(f"reading zone {args.zone or '(the only one)'} from {url}", file=sys.stderr)
    try:
        report = sync_zone(
            client, store, zone=args.zone, host_keys=host_keys, dry_run=args.dry_run, replace=args.replace
        )
    except (CloudStackError, ZoneNotFoundError, MappingError, ZoneMismatch) as err:
        print(f"sysvmdiag topology sync: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(ids_shown=None if args.all_ids else 20), indent=2))
    if report.keys.unpinned:
        print(
            f"{len(report.keys.unpinned)} system VM(s) have no pinned host key and cannot be reached until "
            "one is pinned: `sysvmdiag topology pin-host-keys` (or --host-keys FILE)",
            file=sys.stderr,
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``topology load``, ``sync`` and ``pin-host-keys`` to the ``sysvmdiag`` command."""
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
    _register_sync(verbs)
    pin_host_keys.register(verbs)


def _register_sync(verbs: argparse._SubParsersAction) -> None:
    sync = verbs.add_parser(
        "sync",
        help="read the zone from a CloudStack management server (list APIs) and write it to the tables",
        description="Read a zone through CloudStack's API (signed, paged list calls with a root admin key) "
        "and write what changed to the topology and accounts tables; prints what was added, changed, "
        "removed and what could not be mapped.",
    )
    sync.add_argument(
        "--cloudstack", metavar="URL", help="the API endpoint, e.g. https://cloud.example/client/api"
    )
    sync.add_argument("--api-key", help="a root admin's API key (or CLOUDSTACK_API_KEY)")
    sync.add_argument("--secret-key", help="its secret key (or CLOUDSTACK_SECRET_KEY)")
    sync.add_argument("--credentials", metavar="FILE", help='a JSON file {"url", "apiKey", "secretKey"}')
    sync.add_argument("--zone", help="zone name or id (needed when CloudStack has several)")
    sync.add_argument(
        "--host-keys", metavar="FILE", help="pinned SSH host keys: `simvms status --json` shape"
    )
    sync.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    sync.add_argument("--replace", action="store_true", help="replace another zone the tables hold")
    sync.add_argument("--all-ids", action="store_true", help="list every changed id (default: the first 20)")
    sync.add_argument("--timeout", type=float, default=30.0, help="seconds per CloudStack call (default 30)")
    sync.add_argument("--endpoint-url", help="DynamoDB endpoint (default: boto3's, e.g. $AWS_ENDPOINT_URL)")
    sync.add_argument(
        "--create-tables", action="store_true", help="create missing tables first (local stacks)"
    )
    sync.set_defaults(func=_cmd_sync)
