"""The VM-side diagnostics program: the forced command of the diagnostics key on a system VM.

sshd runs it as `python -m sysvmdiag.vmside --host NAME --log FILE`; the only remote input is
SSH_ORIGINAL_COMMAND (the tool's command line, e.g. `ping -c 3 203.0.113.10`). It validates that
line with `sysvmdiag.toolargs.parse_command_line`, runs the tool from a fixed directory list with
no shell, passes its stdout/stderr/exit status through, bounds its wall-clock time, kills it when
the client goes away, and appends one JSON line per invocation to the run log.

Standard library plus `sysvmdiag.toolargs` only: this file is what ships to a real system VM.

Test seam: `--tool-dir DIR` makes tools resolve in DIR instead of the system directories. It is a
command-line argument, so only whoever writes the forced command (the VM's operator) can set it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from sysvmdiag.toolargs import OptionError, parse_command_line

SYSTEM_TOOL_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")
DEFAULT_MAX_SECONDS = 120.0
EXIT_REFUSED = 126
EXIT_TIMEOUT = 124
KILL_GRACE_SECONDS = 2.0
NO_COMMAND_REASON = "this key runs diagnostics only (ping, traceroute, arping); no shell"
BASTION_REFUSAL = "sysvmdiag-bastion: this key only opens forwarded connections to system VMs; no shell"
CLIENT_POLL_SECONDS = 0.2
CLIENT_GONE_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE, signal.SIGINT)


class ClientGone(Exception):
    """Raised from a signal handler: sshd or the client went away, so the tool must die too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def resolve_tool(name: str, tool_dirs: tuple[str, ...]) -> str | None:
    """An absolute path for the tool from a fixed directory list (never $PATH, which sshd's user sets)."""
    for directory in tool_dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def append_log(log_path: str | None, record: dict[str, object]) -> None:
    """One JSON line per invocation, under an exclusive lock so concurrent runs never interleave."""
    if not log_path:
        return
    line = json.dumps(record, sort_keys=True) + "\n"
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(line)
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError as err:
        print(f"sysvmdiag-vm: cannot write run log {log_path}: {err}", file=sys.stderr)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the tool's process group, SIGKILL it if it lingers, and reap the tool."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything the tool left behind in its group
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_watching_client(proc: subprocess.Popen[bytes], max_seconds: float) -> int:
    """Wait for the tool, but give up as soon as the reader of our stdout (sshd's channel) is gone.

    sshd sends no signal to a forced command without a terminal when the client disconnects; it
    closes its end of our stdout. A quiet tool (traceroute waiting on silent hops) would only notice
    at its next write, so we poll for the hang-up ourselves and treat it as the client going away.
    """
    poller = select.poll()
    poller.register(sys.stdout.fileno(), 0)  # no events asked: only POLLERR/POLLHUP/POLLNVAL come back
    deadline = time.monotonic() + max_seconds
    while True:
        try:
            return proc.wait(timeout=min(CLIENT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
        if any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0)):
            raise ClientGone(signal.SIGPIPE)


def _raise_client_gone(signum: int, _frame: FrameType | None) -> None:
    raise ClientGone(signum)


def refuse(reason: str, record: dict[str, object], log_path: str | None) -> int:
    print(f"sysvmdiag-vm: refused: {reason}", file=sys.stderr)
    append_log(log_path, {**record, "accepted": False, "reason": reason, "exit_status": EXIT_REFUSED})
    return EXIT_REFUSED


def run_command(command: str | None, host: str | None, log_path: str | None,
                max_seconds: float, tool_dirs: tuple[str, ...]) -> int:
    """Validate and run one command line; returns the exit status to pass back to the client."""
    started = time.monotonic()
    record: dict[str, object] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "host": host,
        "command": command,
        "pid": os.getpid(),
    }
    if command is None or not command.strip():
        return refuse(NO_COMMAND_REASON, record, log_path)
    try:
        argv = parse_command_line(command)
    except OptionError as err:
        return refuse(str(err), {**record, "code": err.code}, log_path)
    executable = resolve_tool(argv[0], tool_dirs)
    if executable is None:
        return refuse(f"{argv[0]} is not installed on this VM", record, log_path)

    for sig in CLIENT_GONE_SIGNALS:
        signal.signal(sig, _raise_client_gone)
    proc: subprocess.Popen[bytes] | None = None
    outcome = "completed"
    try:
        # Own process group, so expiry or a vanished client kills the tool and all it spawned.
        proc = subprocess.Popen([executable, *argv[1:]], stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode = _wait_watching_client(proc, max_seconds)
            status = 128 - returncode if returncode < 0 else returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            outcome = "timeout"
            status = EXIT_TIMEOUT
            print(f"sysvmdiag-vm: {argv[0]} killed after the {max_seconds:g} s limit", file=sys.stderr)
    except ClientGone as gone:
        for sig in CLIENT_GONE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        if proc is not None:
            _kill_group(proc)
        outcome = f"client gone ({signal.Signals(gone.signum).name})"
        status = 128 + gone.signum
    append_log(log_path, {
        **record,
        "accepted": True,
        "argv": argv,
        "outcome": outcome,
        "exit_status": status,
        "duration_ms": int((time.monotonic() - started) * 1000),
    })
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sysvmdiag.vmside", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="this VM's name, recorded in the run log")
    parser.add_argument("--log", help="append one JSON line per run to this file")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help="hard wall-clock limit for one tool run (exit 124 on expiry)")
    parser.add_argument("--tool-dir", action="append", default=None,
                        help="resolve tools here instead of the system directories (test seam)")
    parser.add_argument("--bastion", action="store_true",
                        help="bastion mode: refuse every command (the key only opens forwards)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    if args.bastion:
        print(BASTION_REFUSAL, file=sys.stderr)
        append_log(args.log, {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "host": args.host or "bastion",
            "command": command,
            "accepted": False,
            "reason": "bastion",
            "exit_status": 1,
        })
        return 1
    tool_dirs = tuple(args.tool_dir) if args.tool_dir else SYSTEM_TOOL_DIRS
    return run_command(command, args.host, args.log, args.max_seconds, tool_dirs)


if __name__ == "__main__":
    sys.exit(main())
