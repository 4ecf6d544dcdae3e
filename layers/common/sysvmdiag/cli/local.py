"""``sysvmdiag local up | down | status``: the embedded local stack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sysvmdiag.local.stack import (
    COMPOSE_CLOUDSTACK_PORT,
    COMPOSE_PORT,
    DEFAULT_CLOUDSTACK_PORT,
    DEFAULT_PORT,
    LAB_KINDS,
    LocalStack,
    LocalStackError,
)


def _stack(args: argparse.Namespace) -> LocalStack:
    compose = args.lab == "compose"
    port = args.port or (COMPOSE_PORT if compose else DEFAULT_PORT)
    cloudstack_port = args.cloudstack_port or (
        COMPOSE_CLOUDSTACK_PORT if compose else DEFAULT_CLOUDSTACK_PORT
    )
    return LocalStack(state_dir=args.state, port=port, lab=args.lab, cloudstack_port=cloudstack_port)


def _print_status(status: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, indent=2))
        return
    if not status.get("up"):
        print(f"local stack: down (lab {'up' if status.get('labUp') else 'down'})")
        return
    print(f"local stack: up at {status['apiUrl']} (moto at {status['awsEndpointUrl']})")
    for account in status["accounts"]:
        print(
            f"  {account['name']:<11} {account['role']:<13} {account['domain']:<24} key {account['apiKey']}"
        )
        if account.get("cloudstack"):
            # the api key only: secret keys stay in server.json (mode 0600) and `local status --json`
            print(f"  {'':<11} CloudStack apiKey {account['cloudstack']['apiKey']}")
    if any(account.get("cloudstack") for account in status["accounts"]):
        print("  (CloudStack key pairs' secret keys and endpoint: sysvmdiag local status --json)")
    for vm in status["systemvms"]:
        print(f"  {vm['name']:<7} {vm['kind']:<6} {vm['id']}")
    print(_cloudstack_line(status))
    print(_instances_line(status))


def _instances_line(status: dict) -> str:
    """Each function's instances now (they scale out like Lambda, up to its cap)."""
    counts = status.get("instances") or {}
    parts = [
        f"{name} {c['busy']} busy, {c['idle']} idle, {c['starting']} starting, {c.get('waiting', 0)} waiting "
        f"(at most {c['max']})"
        for name, c in counts.items()
    ]
    return "function instances: " + ("; ".join(parts) or "none yet")


def _cloudstack_line(status: dict) -> str:
    """Where the lab's CloudStack-shaped API listens and where its key pair is."""
    cloudstack = status.get("cloudstackApi") or {}
    return (
        f"lab CloudStack API (signed, read-only list commands): {cloudstack.get('url')} "
        f"(keys in {cloudstack.get('credentialsFile')})"
    )


def _cloudstack_client_hint(status: dict, vms: dict[str, str]) -> list[str]:
    """CloudStack's own ``cs`` client on this stack's /client/api, with alice's key pair."""
    [alice] = [account for account in status["accounts"] if account["name"] == "alice"]
    keys = alice.get("cloudstack")
    if not keys:
        return []
    return [
        "  # CloudStack's own clients (cs, libcloud, cmk) on /client/api: runDiagnostics as alice, polled",
        f"  env CLOUDSTACK_ENDPOINT={keys['endpoint']} CLOUDSTACK_KEY={keys['apiKey']} \\",
        f"    CLOUDSTACK_SECRET={keys['secretKey']} \\",
        f"    cs runDiagnostics targetid={vms['vr']} ipaddress=198.51.100.80 type=ping",
    ]


def hints(status: dict) -> str:
    """What to try next, with this stack's real URL, keys and VM ids."""
    keys = {a["name"]: a["apiKey"] for a in status["accounts"]}
    vms = {vm["host"]: vm["id"] for vm in status["systemvms"]}
    url = status["apiUrl"]
    cloudstack = status.get("cloudstackApi") or {}
    return "\n".join(
        [
            "Try next:",
            "  # the VR's view of the internet, as alice (a user who owns the VR's network)",
            "  sysvmdiag run --as alice --vm r-4-VM --test traceroute --dest 198.51.100.80",
            "  # the gateway's MAC from the VR's public interface",
            "  sysvmdiag run --vm r-4-VM --test arping --dest 203.0.113.1 --params '-c 2'",
            "  # a refusal with its reason code: users may not probe the management range",
            "  sysvmdiag run --as alice --vm r-4-VM --test ping --dest 172.31.200.10",
            "  sysvmdiag vms --as bob",
            "  # a long traceroute as a job: queued, run by the worker, followed to its end",
            "  sysvmdiag run --as alice --vm r-4-VM --test traceroute --dest 198.51.100.80 --async",
            "  # who probed what (administrators)",
            "  sysvmdiag audit --account acct-alice --limit 5",
            "  # an alarm playbook: the alarm event runs its diagnostics, the results go to SNS",
            "  sysvmdiag playbooks trigger --event events/alarm/web-unreachable-alarm.json --wait 60",
            "  # the same over HTTP",
            f"  curl -s -X POST {url}/diagnostics -H 'Authorization: Bearer {keys['admin']}' \\",
            "    -H 'Content-Type: application/json' \\",
            f'    -d \'{{"targetId": "{vms["ssvm"]}", "type": "ping", "ipAddress": "198.51.100.80"}}\'',
            f"  curl -s {url}/systemvms -H 'Authorization: Bearer {keys['alice']}'",
            f"  open {url}/swagger (API explorer), {url}/openapi.json",
            *_cloudstack_client_hint(status, vms),
            "  # the lab's CloudStack-shaped API (signed, read-only list commands): URL and key pair",
            f"  cat {cloudstack.get('credentialsFile')}",
            "  sysvmdiag local status   # keys and VM ids;  sysvmdiag local down   # stop everything",
            "(the CLI is .venv/bin/sysvmdiag; `. .venv/bin/activate` puts it on your PATH)",
        ]
    )


def _cmd_hints(args: argparse.Namespace) -> int:
    status = _stack(args).status()
    if not status.get("up"):
        print("local stack: down (start it with: sysvmdiag local up)", file=sys.stderr)
        return 1
    print(hints(status))
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    try:
        status = _stack(args).up(progress=lambda line: print(line, file=sys.stderr))
    except LocalStackError as err:
        print(f"sysvmdiag local up: {err}", file=sys.stderr)
        return 1
    _print_status(status, args.json)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    _stack(args).down(keep_lab=args.keep_lab)
    print("local stack: down")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    status = _stack(args).status()
    _print_status(status, args.json)
    return 0 if status.get("up") else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser("local", help="the local stack: lab, embedded AWS and the API on loopback")
    verbs = local.add_subparsers(dest="verb", required=True)
    for name, func, text in (
        ("up", _cmd_up, "bring the lab, moto and the API up (idempotent)"),
        ("down", _cmd_down, "stop the API and moto, tear the lab down"),
        ("status", _cmd_status, "show the API URL, demo keys and VM ids"),
        ("hints", _cmd_hints, "print curl and CLI lines to try against the running stack"),
    ):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument(
            "--lab",
            choices=LAB_KINDS,
            default="namespace",
            help="namespace (simvms up, default) or compose (the same zone in Docker containers)",
        )
        verb.add_argument(
            "--state",
            type=Path,
            default=None,
            help="state folder (default /run/sysvmdiag-local; --lab compose: /run/sysvmdiag-local-compose)",
        )
        verb.add_argument(
            "--port",
            type=int,
            default=None,
            help=f"API port on 127.0.0.1 (default {DEFAULT_PORT}; with --lab compose {COMPOSE_PORT})",
        )
        verb.add_argument(
            "--cloudstack-port",
            type=int,
            default=None,
            help=f"the lab's CloudStack-shaped API's port on 127.0.0.1 (default {DEFAULT_CLOUDSTACK_PORT}; "
            f"with --lab compose {COMPOSE_CLOUDSTACK_PORT})",
        )
        verb.add_argument("--json", action="store_true")
        if name == "down":
            verb.add_argument("--keep-lab", action="store_true", help="leave the lab up")
        verb.set_defaults(func=func)
