"""The VM's answer to a ``state`` request, read into typed parts (what ``vmside_state`` printed).

Pure: no I/O. ``ip -j`` parts become lists of objects (both IP families joined); iptables becomes the
text of ``iptables-save`` then ``ip6tables-save``; each log its tail. A command that failed or was cut
is kept as a problem, so the caller learns what is missing instead of getting a silently short part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sysvmdiag.vmstate import JSON_PARTS, PART_COMMANDS


class UnreadableState(ValueError):
    """The VM's answer is not the JSON document ``vmside`` prints (older VM side, or output cut)."""


@dataclass(frozen=True)
class LogTail:
    name: str
    path: str | None
    present: bool
    text: str
    cut: bool


@dataclass(frozen=True)
class VmState:
    """The parts one request asked for; a part not asked for is None (an empty list is "none there")."""

    addresses: list[dict[str, Any]] | None = None
    routes: list[dict[str, Any]] | None = None
    rules: list[dict[str, Any]] | None = None
    neighbours: list[dict[str, Any]] | None = None
    iptables: str | None = None
    logs: tuple[LogTail, ...] = ()
    problems: tuple[str, ...] = field(default=())

    def part(self, name: str) -> Any:
        return getattr(self, name)

    def with_parts(self, **parts: Any) -> VmState:
        return replace(self, **parts)


def _json_list(part: str, run: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    text = str(run.get("stdout") or "").strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        problems.append(f"{part}: {' '.join(run.get('argv', []))} printed no JSON list")
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _runs_of(part: str, runs: Any, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(runs, list) or len(runs) != len(PART_COMMANDS[part]):
        raise UnreadableState(f"the VM's answer has no complete {part!r} part")
    for run in runs:
        command = " ".join(run.get("argv", []))
        if run.get("exitStatus") != 0:
            why = str(run.get("stderr") or "").strip()[:200] or "no message"
            problems.append(f"{part}: {command} exited {run.get('exitStatus')}: {why}")
        if run.get("cut"):
            problems.append(f"{part}: {command} printed more than the VM side keeps; the rest is cut")
    return runs


def read_state_document(stdout: str, parts: tuple[str, ...], logs: tuple[str, ...]) -> VmState:
    """The typed state; raises UnreadableState when the answer is not the document asked for."""
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as err:
        raise UnreadableState(f"the VM's answer is not JSON ({err.msg} at {err.pos})") from None
    if not isinstance(document, dict):
        raise UnreadableState("the VM's answer is not a JSON object")
    problems: list[str] = []
    found: dict[str, Any] = {}
    raw_parts = document.get("parts") or {}
    for part in parts:
        runs = _runs_of(part, raw_parts.get(part), problems)
        if part in JSON_PARTS:
            found[part] = [item for run in runs for item in _json_list(part, run, problems)]
        else:
            found[part] = "".join(str(run.get("stdout") or "") for run in runs)
    raw_logs = document.get("logs") or {}
    tails = []
    for name in logs:
        raw = raw_logs.get(name)
        if not isinstance(raw, dict):
            raise UnreadableState(f"the VM's answer has no log {name!r}")
        tails.append(
            LogTail(
                name,
                raw.get("path"),
                bool(raw.get("present")),
                str(raw.get("text") or ""),
                bool(raw.get("cut")),
            )
        )
    return VmState(**found, logs=tuple(tails), problems=tuple(problems))
