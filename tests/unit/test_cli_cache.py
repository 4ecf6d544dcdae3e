"""`sysvmdiag run --cache` asks for the cache, and the CLI says when an answer (or an audit record) came
from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.cli import client
from tests.conftest import result_from_capture

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def answer(**changes: Any) -> dict[str, Any]:
    """A result as POST /diagnostics returns it."""
    body = json.loads(result_from_capture("ping_v4_ok", at=AT).model_dump_json(by_alias=True))
    return body | changes


def run(monkeypatch: pytest.MonkeyPatch, response: dict[str, Any], *flags: str) -> list[dict | None]:
    """`sysvmdiag run ... flags` against a stubbed API; returns the bodies it sent."""
    sent: list[dict | None] = []

    def call_api(method: str, url: str, key: str, body: dict | None = None, timeout: float = 60.0) -> dict:
        sent.append(body)
        return response

    monkeypatch.setattr(client, "resolve_endpoint", lambda *_: ("http://api.invalid", "key"))
    monkeypatch.setattr(client, "call_api", call_api)
    parser = client.argparse.ArgumentParser()
    client.register(parser.add_subparsers())
    args = parser.parse_args(["run", "--vm", "r-4-VM", "--test", "ping", "--dest", "198.51.100.80", *flags])
    assert args.func(args) == 0
    return sent


def test_cache_is_sent_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    [with_cache] = run(monkeypatch, answer(), "--cache")
    [without] = run(monkeypatch, answer())
    assert with_cache is not None and with_cache["cache"] is True
    assert without is not None and "cache" not in without


def test_a_cached_answer_says_so_with_its_age(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(monkeypatch, answer(cached=True, cacheAgeSeconds=12.4), "--cache")
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith("success, exit 0, 5 ms (cached, 12 s old)")
    run(monkeypatch, answer(), "--cache")
    assert "cached" not in capsys.readouterr().out
    assert (
        client.summarize(answer(cached=True)).splitlines()[0].endswith("5 ms (cached)")
    )  # an age-less server


def test_an_audit_line_marks_a_cached_answer() -> None:
    record = AuditRecord(
        id="req-2",
        at=AT,
        account_id="acct-alice",
        role="user",
        target_id="r-4-VM",
        type="ping",
        ip_address="198.51.100.80",
        decision="allowed",
        status="succeeded",
        exit_code=0,
        cached=True,
    )
    assert " exit 0 cached from -" in client.audit_line(record.as_log())
    assert "cached" not in client.audit_line(record.model_copy(update={"cached": False}).as_log())
