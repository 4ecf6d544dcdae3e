"""The parse as the API writes it in ``result``: the golden assertions are about that JSON."""

from __future__ import annotations

from typing import Any

from sysvmdiag.parsers import parse_output


def parse_wire(tool: str, stdout: str, stderr: str, exit_code: int | None) -> dict[str, Any]:
    """``parse_output`` dumped as JSON, so tests compare the very keys and values callers read."""
    return parse_output(tool, stdout, stderr, exit_code).model_dump(mode="json")
