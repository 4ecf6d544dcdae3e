"""The VM side of ``state``: the request's allow-list, the commands it runs, the log tails it reads.

Commands run from a ``--tool-dir`` of stand-ins (recording their argv), so no test reads the host's
own network state; logs are files under tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sysvmdiag.state_document import UnreadableState, read_state_document
from sysvmdiag.vmside_state import collect_state, log_paths_from, read_log_tail, run_part_command
from sysvmdiag.vmstate import (
    LOG_TAIL_LINES,
    LOG_TAIL_MAX_BYTES,
    PARTS,
    StateRequestError,
    parse_state_command,
    state_request,
)

STAND_IN = """#!{python}
import json, os, sys
with open({record!r}, "a") as out:
    out.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
print(json.dumps([{{"argv": sys.argv[1:]}}]) if os.path.basename(sys.argv[0]) == "ip" else "*filter\\nCOMMIT")
"""


@pytest.fixture
def tools(tmp_path: Path) -> tuple[Path, Path]:
    directory, record = tmp_path / "bin", tmp_path / "argv.jsonl"
    directory.mkdir()
    for name in ("ip", "iptables-save", "ip6tables-save"):
        tool = directory / name
        tool.write_text(STAND_IN.format(python=sys.executable, record=str(record)))
        tool.chmod(0o755)
    return directory, record


def _resolver(directory: Path):
    return lambda name: str(directory / name) if (directory / name).exists() else None


@pytest.mark.parametrize(
    "line",
    [
        "state",
        "state routes routes",
        "state ROUTES",
        "state routes;id",
        "state log:/etc/shadow",
        "state log:../../etc/passwd",
        "state iptables-save",
        "state " + " ".join(["routes"] * 40),
        "statex routes",
    ],
)
def test_the_vm_refuses_a_state_line_off_the_tables(line: str) -> None:
    with pytest.raises(StateRequestError):
        parse_state_command(line)


def test_a_state_line_is_read_in_table_order() -> None:
    request = parse_state_command("state log:cloud routes addresses log:auth")
    assert (request.parts, request.logs) == (("addresses", "routes"), ("cloud", "auth"))
    assert request.command_line() == "state addresses routes log:cloud log:auth"
    assert parse_state_command(request.command_line()) == request


def test_every_part_runs_exactly_its_commands(tools: tuple[Path, Path]) -> None:
    directory, record = tools
    state = collect_state(state_request(list(PARTS), []), {}, _resolver(directory), {"PATH": "/nonexistent"})
    ran = [json.loads(line) for line in record.read_text().splitlines()]
    assert ran == [
        ["ip", "-j", "address", "show"],
        ["ip", "-j", "-4", "route", "show", "table", "all"],
        ["ip", "-j", "-6", "route", "show", "table", "all"],
        ["ip", "-j", "-4", "rule", "show"],
        ["ip", "-j", "-6", "rule", "show"],
        ["ip", "-j", "neigh", "show"],
        ["iptables-save"],
        ["ip6tables-save"],
    ]
    read = read_state_document(json.dumps(state), PARTS, ())
    assert read.routes == [
        {"argv": ["-j", "-4", "route", "show", "table", "all"]},
        {"argv": ["-j", "-6", "route", "show", "table", "all"]},
    ]
    assert read.iptables == "*filter\nCOMMIT\n*filter\nCOMMIT\n" and read.problems == ()


def test_a_missing_program_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    run = run_part_command(("iptables-save",), lambda _name: None, {}, 1.0)
    assert run["exitStatus"] == 127 and "not installed" in run["stderr"]


def test_a_hung_command_is_killed_at_its_bound(tmp_path: Path) -> None:
    hang = tmp_path / "ip"
    hang.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    hang.chmod(0o755)
    run = run_part_command(("ip", "-j", "neigh", "show"), lambda _name: str(hang), {}, 0.3)
    assert run["exitStatus"] == 124 and "killed" in run["stderr"]


def test_a_log_tail_is_its_last_lines_within_the_byte_bound(tmp_path: Path) -> None:
    log = tmp_path / "cloud.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = read_log_tail(str(log))
    lines = tail["text"].splitlines()
    assert tail["present"] and tail["cut"] and len(lines) == LOG_TAIL_LINES and lines[-1] == "line 999"
    wide = tmp_path / "wide.log"
    wide.write_text("x" * 500 + "\n" + ("y" * 999 + "\n") * 100)
    tail = read_log_tail(str(wide))
    assert len(tail["text"].encode()) <= LOG_TAIL_MAX_BYTES and tail["text"].startswith("y")


def test_a_missing_log_says_so(tmp_path: Path) -> None:
    assert read_log_tail(str(tmp_path / "nope.log"))["present"] is False
    assert read_log_tail(None) == {"path": None, "present": False, "text": "", "cut": False}


def test_the_operator_maps_log_names_to_files() -> None:
    assert log_paths_from(["cloud=/srv/cloud.log"]) == {"cloud": "/srv/cloud.log"}
    assert log_paths_from(None)["cloud"] == "/var/log/cloud.log"
    for bad in (["cloud"], ["shadow=/etc/shadow"], ["cloud=relative.log"]):
        with pytest.raises(ValueError):
            log_paths_from(bad)


def test_vmside_answers_state_as_one_json_document(tools: tuple[Path, Path], tmp_path: Path) -> None:
    directory, _record = tools
    log = tmp_path / "cloud.log"
    log.write_text("router up\n")
    run_log = tmp_path / "runs.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-m",
            "sysvmdiag.vmside",
            "--host",
            "vr",
            "--log",
            str(run_log),
            "--tool-dir",
            str(directory),
            "--state-log",
            f"cloud={log}",
        ],
        env={**os.environ, "SSH_ORIGINAL_COMMAND": "state routes log:cloud log:auth"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = read_state_document(done.stdout, ("routes",), ("cloud", "auth"))
    assert [t.text for t in state.logs] == ["router up\n", ""] and state.logs[1].path is None
    [entry] = [json.loads(line) for line in run_log.read_text().splitlines()]
    assert entry["accepted"] and entry["state"] == "state routes log:cloud log:auth"


def test_vmside_refuses_a_hostile_state_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-m", "sysvmdiag.vmside", "--host", "vr", "--tool-dir", str(tmp_path)],
        env={**os.environ, "SSH_ORIGINAL_COMMAND": "state log:/etc/shadow"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 126 and done.stdout == "" and "refused" in done.stderr


@pytest.mark.parametrize("text", ["[]", '{"parts": {"routes": [{}]}}', '{"parts": {}, "logs": {}}'])
def test_an_answer_that_is_not_the_document_is_unreadable(text: str) -> None:
    with pytest.raises(UnreadableState):
        read_state_document(text, ("routes",), ())
