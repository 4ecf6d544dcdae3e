"""The VM-side program fuzzed on its own, with hostile SSH_ORIGINAL_COMMAND values.

It runs as sshd would run it (``python -I -m sysvmdiag.vmside --host vr --log FILE``), with the
``--tool-dir`` test seam pointing at recording stand-ins for the diagnostic programs: an accepted
command line then proves what argv would have been exec'ed without sending a packet from the host's
own network namespace toward whatever address the fuzzer made up. Stand-ins for sh, bash and id
record too, so a shell or a smuggled command starting would show.

The oracle is independent of ``toolargs``: anything outside the characters a canonical command line
needs, a destination that is not a canonical IP literal, a long option or one off the allow-list must
be refused (exit 126, one line on stderr, nothing started, a refusal in the run log).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sysvmdiag.toolargs import parse_params
from tests.lab.fuzz.hostile import (
    HOST_ADDRESSES,
    HOSTILE_PARAMS,
    INTERFACE_LAST,
    INTERFACE_NAMES,
    INVISIBLES,
    IPV4_TARGETS,
    PROGRAMS,
    SHELL_SUFFIXES,
    TYPES,
    ZONE_IDS,
    allowed_flags,
    examples,
    hostile_destination,
    mapped_ipv6,
    non_canonical_ipv4,
    option_tokens,
)

EXIT_REFUSED = 126
REFUSAL_PREFIX = "sysvmdiag-vm: refused: "
# What a canonical command line is made of: ASCII letters, digits, '.', ':', '-', '_', single spaces.
# (Runs of spaces are tolerated: the VM side execs the argv it rebuilds, never the line itself.)
CANONICAL_CHARACTERS = re.compile(r"[A-Za-z0-9._:\- ]*")
RECORDER = """#!{python}
import json, os, sys
with open(os.environ.get("RECORD", {record!r}), "a") as out:
    out.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tool directory of recorders (the diagnostic tools and would-be shells) and their record file."""
    directory = tmp_path_factory.mktemp("vm-tools")
    record = directory / "started.jsonl"
    for name in (*PROGRAMS.values(), "sh", "bash", "id", "nc"):
        path = directory / name
        path.write_text(RECORDER.format(python=sys.executable, record=str(record)))
        path.chmod(0o755)
    return directory, record


def run_vmside(command: bytes, tools: tuple[Path, Path], log: Path) -> tuple[int, str, list[list[str]]]:
    """One forced-command invocation; returns exit status, stderr and what it started."""
    directory, record = tools
    record.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    env = {b"PATH": os.environ["PATH"].encode(), b"SSH_ORIGINAL_COMMAND": command}
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-m",
            "sysvmdiag.vmside",
            "--host",
            "vr",
            "--log",
            str(log),
            "--tool-dir",
            str(directory),
            "--max-seconds",
            "10",
        ],
        env=env,
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    stderr = proc.stderr.decode("utf-8", errors="replace")
    started = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return proc.returncode, stderr, started


def must_refuse(command: bytes) -> str | None:
    """Why a command line is not canonical, judged without toolargs (None: it may be canonical)."""
    try:
        text = command.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if not CANONICAL_CHARACTERS.fullmatch(text):
        return "a character outside the canonical set"
    tokens = [token for token in text.split(" ") if token]  # extra spaces separate, they smuggle nothing
    if not tokens or tokens[0] not in TYPES:
        return "not a diagnostic tool"
    if len(tokens) < 2:
        return "no destination"
    try:
        address = ipaddress.ip_address(tokens[-1])
    except ValueError:
        return "the destination is not an IP literal"
    if str(address) != tokens[-1]:
        return "the destination is not written canonically"
    flags = allowed_flags(tokens[0])
    for token in tokens[1:-1]:
        if token.startswith("--"):
            return "a long option"
        if token.startswith("-") and token[:2] not in flags:
            return f"{token} is off the allow-list"
    return None


def check(command: bytes, tools: tuple[Path, Path], log: Path) -> None:
    status, stderr, started = run_vmside(command, tools, log)
    assert "Traceback" not in stderr, stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1, records
    reason = must_refuse(command)
    if status == EXIT_REFUSED:
        assert stderr.startswith(REFUSAL_PREFIX) and stderr.count("\n") == 1, stderr
        assert started == [], f"refused, yet started {started}"
        assert records[0]["accepted"] is False and records[0]["exit_status"] == EXIT_REFUSED
        return
    assert reason is None, f"{command!r} ran although it has {reason}: {started}"
    assert status == 0, stderr
    assert len(started) == 1 and records[0]["accepted"] is True, (started, records)
    argv = started[0]
    tokens = [token for token in command.decode().split(" ") if token]
    assert argv[0] == PROGRAMS[tokens[0]] == records[0]["argv"][0]
    destination_at = -2 if tokens[0] in INTERFACE_LAST else -1
    assert argv[destination_at] == tokens[-1], "the destination changed on the way"
    flags = allowed_flags(tokens[0])
    for token in argv[1:destination_at]:
        assert token in flags or re.fullmatch(r"-?[0-9.]+|[A-Za-z0-9][A-Za-z0-9_.-]{0,14}", token), token


# -- the nastiest, each refused --------------------------------------------------------------------

NASTIEST = [
    "id",
    "sh -c id",
    "bash -i",
    "/usr/bin/ping 203.0.113.1",
    "PING 203.0.113.1",
    "ping",
    "ping -c 1",
    "ping -c 1 203.0.113.1; id",
    "ping -c 1 203.0.113.1;id",
    "ping -c5;id 203.0.113.1",
    "ping -c 1 203.0.113.1 && id",
    "ping -c 1 203.0.113.1 | nc 203.0.113.2 22",
    "ping -c 1 203.0.113.1 &",
    "ping -c 1 203.0.113.1 #",
    "ping -c 1 203.0.113.1 > /tmp/x",
    "ping -c $(id) 203.0.113.1",
    "ping -c `id` 203.0.113.1",
    "ping -c 1 203.0.113.1\nid",
    "ping -c 1 203.0.113.1\rid",
    "ping\t203.0.113.1",
    "ping -c 1 '203.0.113.1'",
    'ping "-c 1" 203.0.113.1',
    "ping -c 1 \\203.0.113.1",
    "ping -- 203.0.113.1",
    "ping -- -I eth1 203.0.113.1",
    "ping --interface=eth1 203.0.113.1",
    "ping -I eth1 -I eth0 203.0.113.1",
    "ping -I eth1:0 203.0.113.1",
    "ping -I .. 203.0.113.1",
    "ping -I eth1/../eth0 203.0.113.1",
    "ping -w 1e9 203.0.113.1",
    "ping -c 0x10 203.0.113.1",
    "ping -c 1 203.0.113.1 203.0.113.2",
    "ping -f 203.0.113.1",
    "ping -c 1 -p ff 203.0.113.1",
    "traceroute -p 0 203.0.113.1",
    "traceroute -N 1 203.0.113.1",
    "traceroute -g 10.1.1.1 203.0.113.1",
    "arping -i ../eth0 10.1.1.11",
    "arping 2001:db8:113::1",
    "arping -U 10.1.1.11",
    "tracepath -n 203.0.113.1",
    "ndisc6 2001:db8:1:1::11 eth0",
    "ndisc -n 2001:db8:1:1::11",
    "ndisc -i eth0 2001:db8:1:1::11 eth0",
    "ndisc -i eth0 10.1.1.11",
    "ndisc -s 2001:db8:1:1::1 -i eth0 2001:db8:1:1::11",
    "mtr -r 198.51.100.80",
    "mtr --json 198.51.100.80",
    "mtr -F /etc/shadow 198.51.100.80",
    "mtr -P 22 198.51.100.80",
    "pmtu -b 203.0.113.1",
    "pmtu -I eth0 203.0.113.1",
    "ping 010.001.001.001",
    "ping 0x0a010101",
    "ping 167837953",
    "ping 012.01.01.01",
    "ping 10.1",
    "ping 10.1.257",
    "ping 10.1.1.1.",
    "ping 10.1.1.1/32",
    "ping [2001:db8:113::1]",
    "ping ::ffff:172.31.200.5",
    "ping ::FFFF:172.31.200.5",
    "ping ::ffff:ac1f:c805",
    "ping 0:0:0:0:0:ffff:ac1f:c805",
    "ping fe80::1%eth1",
    "ping fe80::1%25eth1",
    "ping 2001:DB8:113::1",
    "ping 2001:0db8:113::1",
    "ping \uff12\uff10\uff13.0.113.1",
    "ping 203\u30020\u3002113\u30021",
    "ping 203\uff0e0\uff0e113\uff0e1",
    "ping \u200f203.0.113.1",
    "ping 203.0.113.1\u202e",
    "ping\u00a0203.0.113.1",
    "\u2010c 1 ping 203.0.113.1",
    "ping \u2212c 1 203.0.113.1",
    "ping -c\u00a01 203.0.113.1",
    "ping " + "-n " * 300 + "203.0.113.1",
    "ping -c 1 " + "9" * 5000 + " 203.0.113.1",
    "x" * 100_000,
]
NASTIEST_BYTES = [b"ping \xff\xfe 203.0.113.1", b"ping 203.0.113.1\xc0\xaf", b"\xe2\x80\xae ping 203.0.113.1"]


@pytest.mark.parametrize(
    "command", [c.encode() for c in NASTIEST] + NASTIEST_BYTES, ids=lambda c: repr(c)[:50]
)
def test_nastiest_command_lines_are_refused(command: bytes, tools: tuple[Path, Path], tmp_path: Path) -> None:
    status, stderr, started = run_vmside(command, tools, tmp_path / "runs.jsonl")
    assert status == EXIT_REFUSED, (stderr, started)
    check(command, tools, tmp_path / "runs.jsonl")


# -- what the service sends is accepted token for token --------------------------------------------

CANONICAL_FROM_SERVICE = [
    ("ping", None, "203.0.113.1"),
    ("ping", "-c 2 -i 0.2 -I eth2", "2001:db8:113::1"),
    ("ping", "-c02 -W1.50", "10.1.1.11"),
    ("traceroute", "-T -p 22 -m 5", "198.51.100.80"),
    ("traceroute", None, "2001:db8:52::80"),
    ("arping", "-c 1", "10.1.1.11"),
    ("mtr", "-T -P 443 -c 2", "198.51.100.80"),
    ("pmtu", "-m 3", "2001:db8:52::80"),
    ("ndisc", "-r 1", "2001:db8:1:1::11"),
]


@pytest.mark.parametrize(("tool", "params", "destination"), CANONICAL_FROM_SERVICE)
def test_service_command_lines_run_exactly(
    tool: str, params: str | None, destination: str, tools: tuple[Path, Path], tmp_path: Path
) -> None:
    invocation = parse_params(tool, params, destination)
    if tool in ("arping", "ndisc"):
        invocation = invocation.with_interface("eth0")
    command = invocation.command_line()
    status, stderr, started = run_vmside(command.encode(), tools, tmp_path / "runs.jsonl")
    assert status == 0, stderr
    assert started == [invocation.exec_argv()]
    check(command.encode(), tools, tmp_path / "runs.jsonl")


# -- hypothesis ------------------------------------------------------------------------------------


@st.composite
def hostile_command_line(draw: st.DrawFn) -> bytes:
    """Mostly tool + options + destination with a hostile piece; sometimes arbitrary text or bytes."""
    family = draw(st.integers(0, 9))
    if family == 0:
        return draw(st.binary(min_size=1, max_size=300)).replace(b"\x00", b"") or b"\xff"
    if family == 1:
        text = draw(st.text(min_size=1, max_size=300)).replace("\x00", "") or "\u202e"
        return text.encode("utf-8", errors="surrogatepass")
    tool = draw(st.sampled_from([*TYPES, *TYPES, *TYPES, "sh", "id", "ping6", "tracepath"]))
    options = draw(st.one_of(option_tokens(), st.sampled_from(HOSTILE_PARAMS)))
    address = draw(st.sampled_from(IPV4_TARGETS))
    destination = draw(
        st.one_of(
            st.sampled_from([str(a) for a in HOST_ADDRESSES]),
            st.sampled_from(non_canonical_ipv4(address) + mapped_ipv6(address) + ZONE_IDS),
            hostile_destination(),
        )
    )
    pieces = [tool, options, destination]
    if draw(st.booleans()):
        where = draw(st.integers(0, 2))
        pieces[where] += draw(st.sampled_from(SHELL_SUFFIXES + INVISIBLES + [" -I " + INTERFACE_NAMES[1]]))
    separator = draw(st.sampled_from([" ", " ", " ", "  ", "\t", "\u00a0"]))
    line = separator.join(piece for piece in pieces if piece)
    return line.replace("\x00", "").encode("utf-8", errors="surrogatepass") or b" "


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=hostile_command_line())
@example(command=b"ping -c 1 203.0.113.1")
@example(command=b"ping -c5;id 203.0.113.1")
def test_hostile_command_lines(command: bytes, tools: tuple[Path, Path], tmp_path: Path) -> None:
    event("may be canonical" if must_refuse(command) is None else "must be refused")
    check(command, tools, tmp_path / "runs.jsonl")
