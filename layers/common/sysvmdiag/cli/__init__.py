"""The ``sysvmdiag`` command: one argparse parser, one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` and sets ``func`` (returning the exit
code) on its parsers. Only the module of the subcommand being run is imported, so a light
command (``policy check``) never pulls in boto3 or paramiko. Adding a subcommand is one line
in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# subcommand name -> module exposing register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "policy": "sysvmdiag.cli.policy",
    "local": "sysvmdiag.cli.local",
    "run": "sysvmdiag.cli.client",
    "vms": "sysvmdiag.cli.client",
    "job": "sysvmdiag.cli.client",
    "audit": "sysvmdiag.cli.client",
    "matrix": "sysvmdiag.cli.matrix",
    "matrix-show": "sysvmdiag.cli.matrix",
    "data": "sysvmdiag.cli.vm_state",
    "limits": "sysvmdiag.cli.limits",
    "topology": "sysvmdiag.cli.topology",
    "accounts": "sysvmdiag.cli.accounts",
    "playbooks": "sysvmdiag.cli.playbooks",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or only ``only``'s module when it is known."""
    parser = argparse.ArgumentParser(
        prog="sysvmdiag",
        description="Network diagnostics (ping, traceroute, arping, mtr, pmtu, ndisc) on system VMs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [SUBCOMMANDS[only]] if only in SUBCOMMANDS else list(dict.fromkeys(SUBCOMMANDS.values()))
    for module in modules:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list else None
    args = build_parser(command).parse_args(args_list)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Python's docs advise (no traceback at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
