"""``sysvmdiag playbooks load|list|trigger``: alarm playbooks in DynamoDB, and firing an alarm locally.

``load`` and ``list`` take the table from TOPOLOGY_TABLE and the endpoint from ``--endpoint-url`` or
boto3's AWS_ENDPOINT_URL, like ``sysvmdiag topology load``. ``trigger`` is what ``sam local invoke
AlarmFunction -e FILE`` would do against the local stack: the alarm function runs in this process with
the stack's environment (from its server.json); the stack's worker runs the jobs it submits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sysvmdiag.playbooks.model import DEFAULT_PLAYBOOKS_FILE, PlaybookFileError

ENDPOINT_HELP = "DynamoDB endpoint (default: boto3's, e.g. $AWS_ENDPOINT_URL)"


def _store(endpoint_url: str | None):
    import boto3

    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings

    return bootstrap.playbook_store(
        Settings.from_env(), boto3.resource("dynamodb", endpoint_url=endpoint_url)
    )


def _cmd_load(args: argparse.Namespace) -> int:
    from sysvmdiag.playbooks.model import load_playbook_file

    try:
        playbook_file = load_playbook_file(args.file)
        store = _store(args.endpoint_url)
    except (PlaybookFileError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 2
    print(json.dumps(store.load(playbook_file).to_dict(), indent=2))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    try:
        store = _store(args.endpoint_url)
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 2
    playbooks = store.list_playbooks()
    if args.json:
        print(
            json.dumps(
                [p.model_dump(mode="json", by_alias=True, exclude_defaults=True) for p in playbooks], indent=2
            )
        )
        return 0
    for playbook in playbooks:
        match = playbook.match
        matches = [f"alarm {name}" for name in match.alarm_names]
        if match.tags:
            matches.append("tags " + ", ".join(f"{k}={v}" for k, v in sorted(match.tags.items())))
        print(f"{playbook.id}: {'; '.join(matches)}")
        for request in playbook.diagnostics:
            params = f" {request.params}" if request.params else ""
            print(f"    {request.type.value} {request.ip_address} on {request.target_id}{params}")
    return 0


def local_stack_environment(state_dir: Path | None) -> dict[str, Any]:
    """Point this process at the local stack as its server process is (tables, endpoint, queue, topic)."""
    from sysvmdiag.local.server import configure_from_status
    from sysvmdiag.local.stack import DEFAULT_STATE_DIR

    server_file = (state_dir or DEFAULT_STATE_DIR) / "server.json"
    if not server_file.exists():
        raise RuntimeError(f"no local stack at {server_file}: run `sysvmdiag local up` first")
    status = json.loads(server_file.read_text())
    configure_from_status(status)
    return status


def _wait_for_notifications(summary: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """The message each run published (read back from its record) once all runs ended, or what ended."""
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings

    runs = bootstrap.playbook_runs(Settings.from_env())
    pending = [run["playbookRunId"] for run in summary.get("playbookRuns", [])]
    done: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            record = runs.record(run_id)
            if record is not None and "published_at" in record:
                subject, message = runs.notification(run_id)
                done.append({"subject": subject, "message": message, "messageId": record["message_id"]})
                pending.remove(run_id)
        if pending:
            time.sleep(0.5)
    return done


def _cmd_trigger(args: argparse.Namespace) -> int:
    try:
        local_stack_environment(args.state)
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except (RuntimeError, OSError, json.JSONDecodeError) as err:
        print(err, file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
    from functions.alarm.app import lambda_handler
    from sysvmdiag.local.gateway import LambdaContext

    summary = lambda_handler(event, LambdaContext(function_name="AlarmFunction"))
    print(json.dumps(summary, indent=2))
    if args.wait and summary.get("playbookRuns"):
        notifications = _wait_for_notifications(summary, args.wait)
        print(json.dumps({"notifications": notifications}, indent=2))
        if len(notifications) != len(summary["playbookRuns"]):
            print(f"not every run ended within {args.wait:g} s", file=sys.stderr)
            return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``playbooks load|list|trigger`` to the ``sysvmdiag`` command."""
    playbooks = subparsers.add_parser("playbooks", help="alarm playbooks: load, list, trigger locally")
    verbs = playbooks.add_subparsers(dest="playbooks_command", required=True)
    load = verbs.add_parser("load", help="load a playbook file into the topology table (prunes the rest)")
    load.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=DEFAULT_PLAYBOOKS_FILE,
        help=f"playbook file (default {DEFAULT_PLAYBOOKS_FILE})",
    )
    load.add_argument("--endpoint-url", help=ENDPOINT_HELP)
    load.set_defaults(func=_cmd_load)
    listing = verbs.add_parser("list", help="the loaded playbooks")
    listing.add_argument("--endpoint-url", help=ENDPOINT_HELP)
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(func=_cmd_list)
    trigger = verbs.add_parser(
        "trigger", help="invoke the alarm function in process on the local stack with an event file"
    )
    trigger.add_argument(
        "--event", required=True, type=Path, help="a CloudWatch Alarm State Change event (see events/alarm/)"
    )
    trigger.add_argument(
        "--state", type=Path, default=None, help="local stack state folder (default /run/sysvmdiag-local)"
    )
    trigger.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the runs to end and print their notifications",
    )
    trigger.set_defaults(func=_cmd_trigger)
