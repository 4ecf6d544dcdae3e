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

from sysvmdiag.local.processes import pid_alive

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
    return subprocess.run(
        [sys.executable, "-m", "sysvmdiag.vmside", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_log(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_missing_command_is_refused_as_no_shell(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    proc = vmside(None, "--host", "vr", "--log", str(log))
    assert proc.returncode == 126
    assert proc.stderr.strip() == (
        "sysvmdiag-vm: refused: this key runs diagnostics only "
        "(ping, traceroute, arping, mtr, pmtu, ndisc); no shell"
    )
    assert read_log(log)[0]["accepted"] is False


@pytest.mark.parametrize(
    "command",
    [
        "id",
        "ping -c 1 203.0.113.1; id",
        "ping -c 1 $(id)",
        "bash -i",
        "ping -c 999 203.0.113.1",
        "ping -c 1 example.com",
        "   ",
    ],
)
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
    proc = subprocess.run(
        [sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools)],
        env=env,
        input="secret input",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout.strip() == "''"


def test_signalled_tool_gives_128_plus_signal(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "os.kill(os.getpid(), 9)")
    assert vmside(VALID_PING, "--tool-dir", str(tools)).returncode == 128 + 9


def test_time_limit_kills_the_tool_and_its_children(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    pids = tmp_path / "pids"
    fake_tool(
        tools,
        "ping",
        (
            "child = subprocess.Popen(['sleep', '300'])\n"
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
            "time.sleep(300)"
        ),
    )
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
        results = list(
            pool.map(lambda _: vmside(VALID_PING, "--tool-dir", str(tools), "--log", str(log)), range(16))
        )
    assert all(r.returncode == 0 for r in results)
    records = read_log(log)
    assert len(records) == 16
    assert len({r["pid"] for r in records}) == 16


def test_bastion_mode_refuses_everything(tmp_path: Path) -> None:
    for command in (None, "id", VALID_PING):
        proc = vmside(command, "--bastion")
        assert proc.returncode == 1
        assert proc.stderr.strip() == (
            "sysvmdiag-bastion: this key only opens forwarded connections to system VMs; no shell"
        )


def test_vmside_imports_only_the_standard_library_and_its_own_files() -> None:
    """toolargs (the option allow-lists), vmstate (the state verb's tables) and vmside_state (its VM
    side): the file set `make -C layers/common vm-side-files` ships."""
    code = (
        "import sys; before = set(sys.modules); import sysvmdiag.vmside; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "third = sorted(m for m in new if m not in sys.stdlib_module_names and m != 'sysvmdiag'); "
        "ours = sorted(m for m in set(sys.modules) - before if m.startswith('sysvmdiag')); "
        "print(third, ours)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    ours = ["sysvmdiag"] + [f"sysvmdiag.{name}" for name in ("toolargs", "vmside", "vmside_state", "vmstate")]
    assert out.strip() == f"[] {ours}"


def test_quiet_tool_is_killed_when_the_client_goes_away(tmp_path: Path) -> None:
    """No signal comes from sshd: the closed channel shows only as a hang-up on our stdout."""
    tools = tmp_path / "tools"
    pid_file = tmp_path / "tool.pid"
    fake_tool(tools, "traceroute", f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    log = tmp_path / "runs.jsonl"
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": "traceroute -n 198.51.100.80"}
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools), "--log", str(log)],
        env=env,
        stdout=write_end,
        stderr=subprocess.DEVNULL,
    )
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


def test_tool_runs_with_a_fixed_environment_not_the_sessions(tmp_path: Path) -> None:
    """Whatever sshd lets through (AcceptEnv LANG LC_* is Debian's default; a mistaken AcceptEnv could
    pass LD_PRELOAD or PATH) must not reach the tool: a locale changes the output the API parses."""
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "import json\nprint(json.dumps(dict(os.environ)))")
    hostile = {
        "LD_PRELOAD": str(tmp_path / "missing-evil.so"),
        "LD_LIBRARY_PATH": str(tmp_path),
        "LC_ALL": "de_DE.UTF-8",
        "LANG": "de_DE.UTF-8",
        "PATH": f"{tmp_path}:/usr/bin",
        "PYTHONPATH": str(tmp_path),
        "SSH_CLIENT": "127.0.0.1 5555 3922",
    }
    env = {**os.environ, **hostile, "SSH_ORIGINAL_COMMAND": VALID_PING}
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "sysvmdiag.vmside", "--tool-dir", str(tools)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    tool_env = json.loads(proc.stdout)
    assert tool_env == {"PATH": "/usr/bin:/usr/sbin:/bin:/sbin", "LC_ALL": "C"}


# 100 000 characters: close to the kernel's 128 KiB limit for one environment string.
@pytest.mark.parametrize(
    "command", ["ping -c 1 203.0.113.1 " + "A" * 100_000, "ping -c 1 203.0.113.1\nid\n" + "B" * 50_000]
)
def test_run_log_keeps_a_bounded_copy_of_a_hostile_command(tmp_path: Path, command: str) -> None:
    log = tmp_path / "runs.jsonl"
    proc = vmside(command, "--log", str(log))
    assert proc.returncode == 126
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert len(lines[0]) < 4096, "one refused request must not write its whole payload to the log"
    record = json.loads(lines[0])
    assert record["command_chars"] == len(command)
    assert command.startswith(str(record["command"]).removesuffix("..."))


def test_run_log_is_rotated_at_its_size_limit(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    for _ in range(30):
        assert vmside("id", "--log", str(log), "--log-max-bytes", "4000").returncode == 126
    rotated = tmp_path / "runs.jsonl.1"
    assert rotated.exists()
    assert log.stat().st_size <= 4000 and rotated.stat().st_size <= 4000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl", "runs.jsonl.1"]
    assert all(json.loads(line)["command"] == "id" for line in log.read_text().splitlines())


def test_run_log_symlink_is_not_followed(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    fake_tool(tools, "ping", "print('pong')")
    target = tmp_path / "elsewhere"
    target.write_text("")
    log = tmp_path / "runs.jsonl"
    log.symlink_to(target)
    proc = vmside(VALID_PING, "--tool-dir", str(tools), "--log", str(log))
    assert proc.returncode == 0 and proc.stdout.strip() == "pong"
    assert "cannot write run log" in proc.stderr
    assert target.read_text() == ""


def test_a_stuck_run_log_lock_and_a_late_hangup_still_end_the_run_cleanly(tmp_path: Path) -> None:
    """Another process holding the log's lock must not keep the session open forever, and a hang-up
    while we wait for it must not end in a traceback."""
    import fcntl

    tools = tmp_path / "tools"
    done = tmp_path / "tool.done"
    fake_tool(tools, "ping", f"print('pong')\nopen({str(done)!r}, 'w').write('1')")
    log = tmp_path / "runs.jsonl"
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": VALID_PING}
    argv = [sys.executable, "-m", "sysvmdiag.vmside", "--tool-dir", str(tools), "--log", str(log)]
    with open(log, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            deadline = time.monotonic() + 10
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # now waiting for the lock
            proc.send_signal(signal.SIGHUP)
            stdout, stderr = proc.communicate(timeout=15)
    assert "Traceback" not in stderr, stderr
    assert stdout.strip() == "pong"
    assert proc.returncode == 0
    assert "cannot write run log" in stderr


@pytest.mark.parametrize(
    ("command", "program", "argv"),
    [
        ("pmtu -n -m 3 203.0.113.10", "tracepath", ["-n", "-m", "3", "203.0.113.10"]),
        (
            "ndisc -n -r 1 -w 500 -i eth0 2001:db8:1:1::11",
            "ndisc6",
            ["-n", "-r", "1", "-w", "500", "2001:db8:1:1::11", "eth0"],
        ),
        (
            "mtr -n -j -c 1 -i 1 -G 1 -m 5 203.0.113.10",
            "mtr",
            ["-n", "-j", "-c", "1", "-i", "1", "-G", "1", "-m", "5", "203.0.113.10"],
        ),
    ],
)
def test_a_test_name_runs_its_own_program(
    tmp_path: Path, command: str, program: str, argv: list[str]
) -> None:
    """The command line names the test; the VM execs that test's program with the program's own argv."""
    tools = tmp_path / "tools"
    fake_tool(tools, program, "print(' '.join(sys.argv[1:]))")
    log = tmp_path / "runs.jsonl"
    proc = vmside(command, "--host", "vr", "--tool-dir", str(tools), "--log", str(log))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == argv
    assert read_log(log)[0]["argv"] == [program, *argv]
