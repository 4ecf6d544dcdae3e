"""The parse as the API writes it in ``result``: the golden assertions are about that JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.models import DiagnosticType
from sysvmdiag.parsers import parse_output
from tests.conftest import GOLDEN_OUTPUTS


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


def service_offers(tool: str) -> bool:
    """Whether the API's request model offers ``tool``: parsers may come before the request side does."""
    return tool in {member.value for member in DiagnosticType}


def as_answers(names: list[str]) -> list[Any]:
    """Golden outputs by name as test parameters, each skipped while the API has no type for its tool:
    a whole answer (``DiagnosticResult``) names its type."""
    params = []
    for name in names:
        tool = json.loads((GOLDEN_OUTPUTS / f"{name}.json").read_text())["tool"]
        reason = f"the API has no diagnostic type {tool!r} yet"
        params.append(pytest.param(name, marks=pytest.mark.skipif(not service_offers(tool), reason=reason)))
    return params
