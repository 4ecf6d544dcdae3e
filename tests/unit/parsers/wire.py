"""The parse as the API writes it in ``result``: the golden assertions are about that JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sysvmdiag.parsers import parse_output


def parse_wire(tool: str, stdout: str, stderr: str, exit_code: int | None) -> dict[str, Any]:
    """``parse_output`` dumped as JSON, so tests compare the very keys and values callers read."""
    return parse_output(tool, stdout, stderr, exit_code).model_dump(mode="json")


STORED_AT = datetime(2025, 1, 1, tzinfo=UTC)


def job_doc(answer_body: dict[str, Any], status: str = "succeeded") -> str:
    """A finished job as the jobs table's ``doc`` holds it, its result being ``answer_body``."""
    return json.dumps(
        {
            "id": "j-1",
            "status": status,
            "targetId": "r-4-VM",
            "type": answer_body["type"],
            "ipAddress": answer_body["ipAddress"],
            "accountId": "acct-alice",
            "role": "user",
            "domain": "ROOT",
            "worstCaseSeconds": 10.0,
            "createdAt": STORED_AT.isoformat(),
            "deadlineAt": STORED_AT.isoformat(),
            "result": answer_body,
        }
    )
