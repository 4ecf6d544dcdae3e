"""The VM-side program on its own (no lab): refusals, exit status, time limit, client going away, run log.

Fake tools come from the explicit `--tool-dir` test seam (a command-line argument, which only the
forced command's author sets); the remote side only ever controls SSH_ORIGINAL_COMMAND.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

VALID_PING = "ping -c 3 203.0.113.10"


def fake_tool(directory: Path, name: str, body: str) -> Path:
    """An executable Python script standing in for a real tool."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport os, subprocess, sys, time\n{body}\n")
    path.chmod(0o755)
    return path


def vmside(command: str | None, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_ORIGINAL_COMMAND"}
    if command is not None:
        env["SSH_ORIGINAL_COMMAND"] = command
    return subprocess.run([sys.executable, "-m", "sysvmdiag.vmside", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def read_log(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_missing_command_is_refused_as_no_shell(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    proc = vmside(None, "--host", "vr", "--log", str(log))
    assert proc.returncode == 126
    assert proc.stderr.strip() == (
        "sysvmdiag-vm: refused: this key runs diagnostics only (ping, traceroute, arping); no shell")
    assert read_log(log)[0]["accepted"] is False


@pytest.mark.parametrize("command", ["id", "ping -c 1 203.0.113.1; id", "ping -c 1 $(id)", "bash -i",
                                     "ping -c 999 203.0.113.1", "ping -c 1 example.com", "   "])
def test_bad_commands_are_refused_without_running_anything(tmp_path: Path, command: str) -> None:
    marker = tmp_path / "ran"
    tools = tmp_path / "tools"
    for name in ("ping", "id", "bash"):
        fake_tool(tools, name, f"open({str(marker)!r}, 'w').write('ran')")
    log = tmp_path / "runs.jsonl"
    proc = vmside(command, "--tool-dir", str(tools), "--log", str(log))
    assert proc.returncode == 126
    assert proc.stderr.startswith("sysvmdiag-vm: refused: ")
    assert not marker.exists()
    record = read_log(log)[0]
    assert record["accepted"] is False and record["exit_status"] == 126


def test_tool_output_and_exit_status_pass_through(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "print('argv', sys.argv[1:]); print('oops', file=sys.stderr); sys.exit(3)")
    log = tmp_path / "runs.jsonl"
    proc = vmside(VALID_PING, "--host", "vr", "--tool-dir", str(tools), "--log", str(log))
    assert proc.returncode == 3
    assert "'-c', '3'" in proc.stdout and "203.0.113.10" in proc.stdout
    assert proc.stderr.strip() == "oops"
    record = read_log(log)[0]
    assert record["accepted"] is True and record["host"] == "vr" and record["exit_status"] == 3
    assert record["command"] == VALID_PING and record["argv"][-1] == "203.0.113.10"
    assert isinstance(record["duration_ms"], int)


def test_stdin_is_not_passed_to_the_tool(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "print(repr(sys.stdin.read()))")
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": VALID_PING}
    proc = subprocess.run([sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools)], env=env,
                          input="secret input", capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "''"


def test_signalled_tool_gives_128_plus_signal(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "os.kill(os.getpid(), 9)")
    assert vmside(VALID_PING, "--tool-dir", str(tools)).returncode == 128 + 9


def test_time_limit_kills_the_tool_and_its_children(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    pids = tmp_path / "pids"
    fake_tool(tools, "ping", (
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(300)"
    ))
    log = tmp_path / "runs.jsonl"
    started = time.monotonic()
    proc = vmside(VALID_PING, "--tool-dir", str(tools), "--max-seconds", "1", "--log", str(log))
    assert time.monotonic() - started < 10
    assert proc.returncode == 124
    assert "killed after the 1 s limit" in proc.stderr
    for pid in map(int, pids.read_text().split()):
        assert not pid_alive(pid), f"pid {pid} survived the time limit"
    assert read_log(log)[0]["outcome"] == "timeout"


def test_tool_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(300)")
    started = time.monotonic()
    proc = vmside(VALID_PING, "--tool-dir", str(tools), "--max-seconds", "0.5")
    assert proc.returncode == 124
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_client_going_away_kills_the_tool(tmp_path: Path, sig: signal.Signals) -> None:
    tools = tmp_path / "tools"
    pidfile = tmp_path / "tool.pid"
    fake_tool(tools, "ping", f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)")
    log = tmp_path / "runs.jsonl"
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": VALID_PING}
    argv = [sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools), "--log", str(log)]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        tool_pid = int(pidfile.read_text())
        proc.send_signal(sig)
        proc.wait(timeout=10)
    assert proc.returncode == 128 + sig
    assert not pid_alive(tool_pid)
    assert read_log(log)[0]["exit_status"] == 128 + sig


def test_concurrent_runs_write_whole_log_lines(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "print('pong')")
    log = tmp_path / "runs.jsonl"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: vmside(VALID_PING, "--tool-dir", str(tools), "--log", str(log)),
                                range(16)))
    assert all(r.returncode == 0 for r in results)
    records = read_log(log)
    assert len(records) == 16
    assert len({r["pid"] for r in records}) == 16


def test_bastion_mode_refuses_everything(tmp_path: Path) -> None:
    for command in (None, "id", VALID_PING):
        proc = vmside(command, "--bastion")
        assert proc.returncode == 1
        assert proc.stderr.strip() == (
            "sysvmdiag-bastion: this key only opens forwarded connections to system VMs; no shell")


def test_vmside_imports_only_the_standard_library_and_toolargs() -> None:
    code = (
        "import sys; before = set(sys.modules); import sysvmdiag.vmside; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "third = sorted(m for m in new if m not in sys.stdlib_module_names and m != 'sysvmdiag'); "
        "ours = sorted(m for m in set(sys.modules) - before if m.startswith('sysvmdiag')); "
        "print(third, ours)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] ['sysvmdiag', 'sysvmdiag.toolargs', 'sysvmdiag.vmside']"


def test_quiet_tool_is_killed_when_the_client_goes_away(tmp_path: Path) -> None:
    """No signal comes from sshd: the closed channel shows only as a hang-up on our stdout."""
    tools = tmp_path / "tools"
    pid_file = tmp_path / "tool.pid"
    fake_tool(tools, "traceroute", f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    log = tmp_path / "runs.jsonl"
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": "traceroute -n 198.51.100.80"}
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools), "--log",
                             str(log)], env=env, stdout=write_end, stderr=subprocess.DEVNULL)
    os.close(write_end)
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    tool_pid = int(pid_file.read_text())
    os.close(read_end)  # the SSH client went away
    started = time.monotonic()
    assert proc.wait(timeout=10) == 128 + signal.SIGPIPE
    assert time.monotonic() - started < 3
    assert not pid_alive(tool_pid)
    assert read_log(log)[0]["outcome"] == "client gone (SIGPIPE)"
