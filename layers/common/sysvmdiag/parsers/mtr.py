"""``mtr -j`` (Debian mtr-tiny 0.95): its JSON report, normalised. jc has no mtr parser.

The report::

    {"report": {"mtr": {"src": "vm", "dst": "10.99.2.2", "tos": 0, "tests": 5, ...},
                "hubs": [{"count": 1, "host": "10.99.1.1", "Loss%": 0.0, "Snt": 5, "Last": 0.09,
                          "Avg": 0.095, "Best": 0.084, "Wrst": 0.132, "StDev": 0.019}, ...]}}

A hop nobody answered is ``"host": "???"`` with 100% loss and times of 0.0: not measurements, so
they become null. mtr prints no count of replies; it is derived from Snt and Loss%. A report cut
short (the runner's size cap) is still read, hop by hop, up to the cut.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sysvmdiag.parsers.common import same_address, stderr_errors
from sysvmdiag.results import MtrHop, MtrResult

UNANSWERED_HOST = "???"
# MtrHop's time fields and the report's keys for them.
TIME_KEYS = {"last_ms": "Last", "avg_ms": "Avg", "best_ms": "Best", "worst_ms": "Wrst", "stdev_ms": "StDev"}
HUBS_START = re.compile(r'"hubs"\s*:\s*\[')
DESTINATION = re.compile(r'"dst"\s*:\s*"(?P<value>[^"\\]*)"')
CYCLES = re.compile(r'"tests"\s*:\s*(?P<value>\d{1,9})\b')
BETWEEN_HUBS = " \t\r\n,"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    """An integer as mtr writes it (older versions quote some: ``"count": "1"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    return None


def _received(sent: int | None, loss: float | None) -> int | None:
    if sent is None or loss is None:
        return None
    return max(0, min(sent, round(sent * (100.0 - loss) / 100.0)))


def _hop(hub: Any) -> MtrHop | None:
    """One hub of the report; None when it lacks its hop number or host."""
    if not isinstance(hub, dict):
        return None
    hop, host = _count(hub.get("count")), hub.get("host")
    if hop is None or not isinstance(host, str):
        return None
    sent, loss = _count(hub.get("Snt")), _number(hub.get("Loss%"))
    received = _received(sent, loss)
    times = {field: _number(hub.get(key)) if received else None for field, key in TIME_KEYS.items()}
    address = None if host == UNANSWERED_HOST else host
    return MtrHop(hop=hop, address=address, loss_percent=loss, sent=sent, received=received, **times)


def _salvage(stdout: str) -> dict[str, Any]:
    """What a report that is not whole JSON still says: its header values and every whole hub."""
    header: dict[str, Any] = {}
    if match := DESTINATION.search(stdout):
        header["dst"] = match["value"]
    if match := CYCLES.search(stdout):
        header["tests"] = int(match["value"])
    hubs: list[Any] = []
    start = HUBS_START.search(stdout)
    position = start.end() if start else len(stdout)
    decoder = json.JSONDecoder()
    while position < len(stdout):
        while position < len(stdout) and stdout[position] in BETWEEN_HUBS:
            position += 1
        try:
            hub, position = decoder.raw_decode(stdout, position)
        except (ValueError, RecursionError):
            break
        hubs.append(hub)
    return {"mtr": header, "hubs": hubs}


def _report(stdout: str) -> tuple[dict[str, Any], str | None]:
    """The report object, and why it is not whole when it is not."""
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as exc:
        return _salvage(stdout), f"mtr output is not whole JSON ({exc.msg}, character {exc.pos})"
    except (ValueError, RecursionError) as exc:
        return _salvage(stdout), f"mtr output is not JSON ({type(exc).__name__})"
    report = document.get("report") if isinstance(document, dict) else None
    if not isinstance(report, dict):
        return {}, "mtr output has no report object"
    return report, None


def parse_mtr(stdout: str, stderr: str, exit_code: int | None) -> MtrResult:
    """Destination, cycles, every hop's loss and times, and whether the destination answered."""
    result = MtrResult(errors=stderr_errors(stderr))
    if not stdout.strip():
        result.parse_error = f"mtr produced no output (exit code {exit_code})"
        return result
    report, parse_error = _report(stdout)
    header = report.get("mtr") if isinstance(report.get("mtr"), dict) else {}
    destination = header.get("dst")
    result.destination = destination if isinstance(destination, str) and destination else None
    result.cycles = _count(header.get("tests"))
    hubs = report.get("hubs") if isinstance(report.get("hubs"), list) else []
    hops = [_hop(hub) for hub in hubs]
    result.hops = [hop for hop in hops if hop is not None]
    last = result.hops[-1] if result.hops else None
    result.reached = bool(last and last.received and same_address(last.address, result.destination))
    if parse_error is None and result.destination is None:
        parse_error = "mtr's report names no destination"
    elif parse_error is None and len(result.hops) != len(hops):
        parse_error = f"{len(hops) - len(result.hops)} hop(s) of mtr's report were not understood"
    result.parse_error = parse_error
    return result
