"""``sysvmdiag matrix``: several VMs x destinations x tests as one reachability matrix, printed as a grid.

It posts the matrix, and with ``--wait`` polls ``GET /matrices/{id}`` until every cell is final (bounded
by the wait; progress on stderr), then prints the grid (:mod:`sysvmdiag.matrix_grid`); ``--json`` prints
the API's JSON unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from sysvmdiag.cli.client import ApiError, call_api, endpoint_flags, print_refusal, resolve_endpoint
from sysvmdiag.matrix_grid import matrix_grid
from sysvmdiag.models import MatrixView
from sysvmdiag.summaries import printable
from sysvmdiag.toolargs import TOOLS

DEFAULT_WAIT_SECONDS = 600.0
POLL_SECONDS = 2.0


def wait_for_matrix(
    fetch: Callable[[], dict[str, Any]],
    matrix: dict[str, Any],
    timeout: float,
    *,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, Any]:
    """Poll until the matrix is complete; TimeoutError past ``timeout`` seconds. ``sleep`` and ``clock``
    default to the time module's, looked up when called."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    started = clock()
    while not matrix["complete"]:
        elapsed = clock() - started
        if elapsed > timeout:
            raise TimeoutError(f"matrix {matrix['id']} is not complete after {timeout:.0f} s")
        final = sum(cell["status"] not in ("queued", "running") for cell in matrix["cells"])
        progress(
            printable(f"matrix {matrix['id']}: {final}/{len(matrix['cells'])} cells final ({elapsed:.0f} s)")
        )
        sleep(POLL_SECONDS)
        matrix = fetch()
    return matrix


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``--params ping="-c 3"`` (TEST=OPTIONS, repeatable) as the request's params."""
    params: dict[str, str] = {}
    for pair in pairs:
        test, sep, options = pair.partition("=")
        if not sep or test not in TOOLS:
            raise SystemExit(f"sysvmdiag: --params takes TEST=OPTIONS with TEST one of {', '.join(TOOLS)}")
        params[test] = options
    return params


def _cmd_matrix(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    body: dict[str, Any] = {"targets": args.vm, "destinations": args.dest, "tests": args.test}
    if args.params:
        body["params"] = parse_params(args.params)
    return _show(args, lambda: call_api("POST", f"{api}/matrices", key, body), api, key)


def _cmd_show(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    return _show(args, lambda: call_api("GET", _matrix_url(api, args.matrix_id), key), api, key)


def _matrix_url(api: str, matrix_id: str) -> str:
    return f"{api}/matrices/{urllib.parse.quote(matrix_id, safe='')}"


def _show(args: argparse.Namespace, first: Callable[[], dict], api: str, key: str) -> int:
    """The matrix ``first`` answers, waited for with --wait, as a grid (or JSON); refusals as run's."""
    try:
        matrix = first()
        if args.wait is not None:
            url = _matrix_url(api, matrix["id"])
            matrix = wait_for_matrix(lambda: call_api("GET", url, key), matrix, args.wait)
    except ApiError as err:
        return print_refusal(err, args.json)
    except TimeoutError as err:
        print(printable(f"sysvmdiag: {err}"), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(matrix, indent=2))
        return 0
    print("\n".join(matrix_grid(MatrixView.model_validate(matrix))))
    if not matrix["complete"]:
        print(printable(f"poll with: sysvmdiag matrix-show {matrix['id']}"), file=sys.stderr)
    return 0


def _wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=DEFAULT_WAIT_SECONDS,
        default=None,
        metavar="S",
        help=f"poll until every cell is final, at most S seconds ({DEFAULT_WAIT_SECONDS:.0f} without S)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    matrix = subparsers.add_parser(
        "matrix", help="a reachability matrix: VMs x destinations x tests, one job per cell, as a grid"
    )
    matrix.add_argument("--vm", action="append", required=True, help="system VM uuid or name (repeat)")
    matrix.add_argument("--dest", action="append", required=True, help="destination IP address (repeat)")
    matrix.add_argument("--test", action="append", required=True, choices=TOOLS, help="a test (repeat)")
    matrix.add_argument("--params", action="append", metavar="TEST=OPTIONS", help='e.g. ping="-c 3" (repeat)')
    _wait_flag(matrix)
    endpoint_flags(matrix)
    matrix.set_defaults(func=_cmd_matrix)
    show = subparsers.add_parser(
        "matrix-show", help="show a reachability matrix (and wait for it with --wait)"
    )
    show.add_argument("matrix_id")
    _wait_flag(show)
    endpoint_flags(show)
    show.set_defaults(func=_cmd_show)
