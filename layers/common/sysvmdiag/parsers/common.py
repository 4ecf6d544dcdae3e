"""Small helpers shared by the tool parsers."""

from __future__ import annotations

import ipaddress

from sysvmdiag.results import ToolMessage


def stderr_errors(stderr: str) -> list[ToolMessage]:
    """Each non-blank stderr line as an error entry: tools report their own failures there."""
    return [ToolMessage(message=line.strip()) for line in stderr.splitlines() if line.strip()]


def same_address(left: str | None, right: str | None) -> bool:
    """Compare two IP literals by value, so ``2001:db8::0:1`` equals ``2001:db8::1``."""
    if not left or not right:
        return False
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return left == right


def loss_percent(transmitted: int | None, received: int | None) -> float | None:
    """Loss computed from counts, for outputs whose summary line is missing."""
    if not transmitted or received is None:
        return None
    return round(100.0 * (transmitted - min(received, transmitted)) / transmitted, 1)
