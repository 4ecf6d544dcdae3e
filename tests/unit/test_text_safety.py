"""Text a tenant controls is bounded where the audit record is built and printed inert by the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.audit_record import FIELD_MAX_CHARS, USER_AGENT_MAX_CHARS, AuditRecord, bounded
from sysvmdiag.cli import client
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.summaries import printable
from tests.unit.conftest import caller
from tests.unit.fakes import InMemoryAudit, MovableClock

FORGED_AGENT = "x\n2026-12-01 admin ping ok"


def audit_item(**fields: Any) -> dict[str, Any]:
    """One record as GET /audit returns it."""
    defaults: dict[str, Any] = {
        "id": "req-1",
        "at": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        "account_id": "acct-mallory",
        "role": "user",
        "target_id": "r-4-VM",
        "type": "ping",
        "ip_address": "198.51.100.80",
        "decision": "denied",
        "status": "denied",
        "reason_code": "EGRESS_NOT_ALLOWED",
        "source_ip": "192.0.2.9",
    }
    record = AuditRecord(**(defaults | fields))
    return record.as_log()


# -- printable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("nul\x00 del\x7f", "nul\\x00 del\\x7f"),
        ("c1 \x85 \x9b31m", "c1 \\x85 \\x9b31m"),  # NEL and the 8-bit CSI
        ("pay\u202eusd.exe", "pay\\u202eusd.exe"),  # right-to-left override
        ("\u2066iso\u2069 \u200f \u061c", "\\u2066iso\\u2069 \\u200f \\u061c"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("lone \ud800", "lone \\ud800"),  # would not even encode on a UTF-8 terminal
        ("tag \U000e0041", "tag \\U000e0041"),
    ],
)
def test_printable_escapes_controls_formats_and_separators(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert len(printable(text).splitlines()) == 1 and printable(text).isprintable()


@pytest.mark.parametrize("text", ["ping 198.51.100.80 -c 3", "Zoë 日本 ✓", "C:\\path", ""])
def test_printable_keeps_ordinary_text(text: str) -> None:
    assert printable(text) == text


def test_printable_is_idempotent_so_lines_can_pass_through_it_twice() -> None:
    once = printable("a\n\x1b\u202e")
    assert printable(once) == once


# -- the CLI's audit lines ---------------------------------------------------------------------------


def test_a_forged_line_in_the_user_agent_stays_on_its_record_s_line() -> None:
    line = client.audit_line(audit_item(user_agent=FORGED_AGENT))
    assert "\n" not in line and len(line.splitlines()) == 1
    assert line.endswith("from 192.0.2.9 (x\\n2026-12-01 admin ping ok)")
    assert line.startswith("2026-12-01T12:00:00Z  acct-mallory")


@pytest.mark.parametrize("field", ["target_id", "ip_address", "source_ip", "account_id"])
def test_no_audit_field_can_break_or_colour_the_line(field: str) -> None:
    line = client.audit_line(audit_item(**{field: "ok\r\x1b[32m2026-12-01 ok\u202e"}))
    assert line.isprintable() and "\\r\\x1b[32m2026-12-01 ok\\u202e" in line


def _audit_command(monkeypatch: pytest.MonkeyPatch, page: dict, *flags: str) -> list[str]:
    monkeypatch.setattr(client, "resolve_endpoint", lambda *_: ("http://api.invalid", "key"))
    monkeypatch.setattr(client, "call_api", lambda *_args, **_kw: page)
    parser = client.argparse.ArgumentParser()
    client.register(parser.add_subparsers())
    args = parser.parse_args(["audit", *flags])
    return [args.func(args)]


def test_sysvmdiag_audit_prints_one_line_per_record_and_json_unchanged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {"items": [audit_item(user_agent=FORGED_AGENT), audit_item(params="-c 1\n")], "nextToken": None}
    assert _audit_command(monkeypatch, page) == [0]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and not any(line.startswith("2026-12-01 admin") for line in printed)
    assert _audit_command(monkeypatch, page, "--json") == [0]
    assert json.loads(capsys.readouterr().out) == page  # the raw JSON, newline and all


def test_a_run_summary_escapes_the_server_s_strings() -> None:
    response = {
        "type": "ping",
        "ipAddress": "198.51.100.80",
        "targetId": "vm\n2026-12-01 fake ok",
        "success": False,
        "exitCode": 1,
        "durationMs": 3,
        "stderr": "ping: \x1b[31mboom\x1b[0m\n",
        "result": None,
    }
    lines = client.summarize(response).split("\n")
    assert len(lines) == 3 and lines[0].startswith("ping 198.51.100.80 from vm\\n2026-12-01 fake ok via")
    assert lines[-1] == "  stderr: ping: \\x1b[31mboom\\x1b[0m"
    refused = client.ApiError(400, {"code": "BAD", "message": "no\nforged"}, "5")
    assert refused.describe() == "refused (400 BAD): no\\nforged Retry after 5 s."


# -- bounds where the record is built ----------------------------------------------------------------


def test_bounded_cuts_with_a_mark_and_is_idempotent() -> None:
    assert bounded("abc", 3) == "abc" and bounded(None, 3) is None
    cut = bounded("abcdef", 4)
    assert cut == "abc…" and bounded(cut, 4) == cut


def test_the_new_record_bounds_the_user_agent_and_keeps_short_fields() -> None:
    trail = AuditTrail(InMemoryAudit(), MovableClock())
    origin = RequestOrigin(request_id="req-1", source_ip="192.0.2.9", user_agent="A" * 100_000)
    request = DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address="198.51.100.80", params="-c 3")
    record = trail.new_record(caller("alice"), request, origin)
    assert len(record.user_agent or "") == USER_AGENT_MAX_CHARS == 512
    assert record.user_agent == "A" * 511 + "…"
    assert (record.target_id, record.params, record.source_ip) == ("r-4-VM", "-c 3", "192.0.2.9")


def test_every_free_text_field_is_bounded_also_when_the_record_is_completed() -> None:
    huge = "\n" * 10_000
    record = AuditRecord.model_validate(
        {"id": "r", "at": datetime(2026, 12, 1, tzinfo=UTC), "accountId": "a", "role": "user"}
        | {"decision": "rejected"}
        | {name: huge for name in FIELD_MAX_CHARS}
    )
    assert all(len(getattr(record, name)) == limit for name, limit in FIELD_MAX_CHARS.items())
    audit = InMemoryAudit()
    error = ServiceError(ErrorCode.INVALID_REQUEST, "bad: " + huge)
    written = AuditTrail(audit, MovableClock()).refused(record, error)
    assert len(written.reason or "") == FIELD_MAX_CHARS["reason"] == len(audit.records["r"].reason or "")
