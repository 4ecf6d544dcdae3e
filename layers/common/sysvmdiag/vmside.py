"""The VM-side diagnostics program: the forced command of the diagnostics key on a system VM.

sshd runs it as `python -m sysvmdiag.vmside --host NAME --log FILE`; the only remote input is
SSH_ORIGINAL_COMMAND (the tool's command line, e.g. `ping -c 3 203.0.113.10`). It validates that
line with `sysvmdiag.toolargs.parse_invocation`, runs the test's program from a fixed directory list with
no shell, passes its stdout/stderr/exit status through, bounds its wall-clock time, kills it when
the client goes away, and appends one JSON line per invocation to the run log.

Standard library plus `sysvmdiag.toolargs`, `vmstate` and `vmside_state` only: these files are what
ships to a real system VM.

A line starting with `state` (`state addresses routes log:cloud`, see ``sysvmdiag.vmstate``) reads the
VM's own state instead: fixed read-only commands (`ip -j ...`, `iptables-save`) and the tails of the
logs the operator named with `--state-log NAME=PATH`, printed as one JSON document.

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

from sysvmdiag.toolargs import EXIT_TIMEOUT, TOOLS, OptionError, parse_invocation
from sysvmdiag.vmside_state import collect_state, log_paths_from
from sysvmdiag.vmstate import StateRequestError, is_state_command, parse_state_command

SYSTEM_TOOL_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")
DEFAULT_MAX_SECONDS = 120.0
EXIT_REFUSED = 126
KILL_GRACE_SECONDS = 2.0
NO_COMMAND_REASON = f"this key runs diagnostics only ({', '.join(TOOLS)}); no shell"
BASTION_REFUSAL = "sysvmdiag-bastion: this key only opens forwarded connections to system VMs; no shell"
CLIENT_POLL_SECONDS = 0.2
CLIENT_GONE_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE, signal.SIGINT)
# The tool's whole environment: nothing of the SSH session (locale, LD_*, PATH) reaches it, so its
# output stays in the C locale the parsers expect whatever sshd's AcceptEnv lets through.
TOOL_ENVIRONMENT = {"PATH": ":".join(SYSTEM_TOOL_DIRS), "LC_ALL": "C"}
# The run log keeps at most this much of a request line (requests over toolargs' limit are refused
# anyway, but the log must not grow by a whole hostile payload per login).
MAX_LOGGED_COMMAND_CHARS = 1024
# Past this size the run log is renamed to <log>.1 (replacing the previous one) before a write.
DEFAULT_LOG_MAX_BYTES = 16 * 1024 * 1024
# How long a run waits for the run log's lock before giving up on logging (never on the run).
LOG_LOCK_SECONDS = 2.0
_LOG_LOCK_POLL_SECONDS = 0.05


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


def logged_command(command: str | None) -> dict[str, object]:
    """The request as the run log keeps it: at most MAX_LOGGED_COMMAND_CHARS, plus its full length."""
    if command is None:
        return {"command": None}
    shown = command
    if len(command) > MAX_LOGGED_COMMAND_CHARS:
        shown = command[:MAX_LOGGED_COMMAND_CHARS] + "..."
    return {"command": shown, "command_chars": len(command)}


def _open_log(log_path: str) -> int:
    """Open for appending without following a symlink (a planted link must not redirect root's writes)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(log_path, flags, 0o640)


def _lock_within(fd: int, seconds: float) -> bool:
    """An exclusive lock on fd, or False if another holder keeps it longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_LOG_LOCK_POLL_SECONDS)


def append_log(
    log_path: str | None, record: dict[str, object], max_bytes: int = DEFAULT_LOG_MAX_BYTES
) -> None:
    """One JSON line per invocation, under an exclusive lock so concurrent runs never interleave.

    The log is rotated once it passes ``max_bytes`` (one previous file kept), and a lock held too long
    by someone else costs this run its log line, not its result.
    """
    if not log_path:
        return
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8", errors="backslashreplace")
    try:
        for _ in range(3):  # reopen if another run rotated the file while we waited for its lock
            fd = _open_log(log_path)
            try:
                if not _lock_within(fd, LOG_LOCK_SECONDS):
                    raise OSError(f"its lock is held by another process for over {LOG_LOCK_SECONDS:g} s")
                if os.fstat(fd).st_ino != os.stat(log_path, follow_symlinks=False).st_ino:
                    continue
                if os.fstat(fd).st_size + len(line) > max_bytes:
                    os.replace(log_path, log_path + ".1")
                    continue
                os.write(fd, line)
                return
            finally:
                os.close(fd)  # closing releases the lock
        raise OSError("it kept being rotated under us")
    except OSError as err:
        _warn(f"sysvmdiag-vm: cannot write run log {log_path}: {err}")


def _warn(message: str) -> None:
    """A note on stderr; the client may already be gone, which is no reason to fail."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


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


def refuse(
    reason: str, record: dict[str, object], log_path: str | None, log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
) -> int:
    _warn(f"sysvmdiag-vm: refused: {reason}")
    append_log(
        log_path, {**record, "accepted": False, "reason": reason, "exit_status": EXIT_REFUSED}, log_max_bytes
    )
    return EXIT_REFUSED


def _execute(executable: str, argv: list[str], max_seconds: float) -> tuple[str, int]:
    """Run the tool to its end, its time limit or its client's hang-up; the outcome and exit status."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        for sig in CLIENT_GONE_SIGNALS:  # inside the try: a signal right after this is handled below
            signal.signal(sig, _raise_client_gone)
        # Own process group, so expiry or a vanished client kills the tool and all it spawned; a fixed
        # environment, so nothing the SSH session carried (locale, LD_*, PATH) changes the tool.
        proc = subprocess.Popen(
            [executable, *argv[1:]], stdin=subprocess.DEVNULL, start_new_session=True, env=TOOL_ENVIRONMENT
        )
        try:
            returncode = _wait_watching_client(proc, max_seconds)
            return "completed", 128 - returncode if returncode < 0 else returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _warn(f"sysvmdiag-vm: {argv[0]} killed after the {max_seconds:g} s limit")
            return "timeout", EXIT_TIMEOUT
    except ClientGone as gone:
        _ignore_client_gone_signals()
        if proc is not None:
            _kill_group(proc)
        return f"client gone ({signal.Signals(gone.signum).name})", 128 + gone.signum


def run_command(
    command: str | None,
    host: str | None,
    log_path: str | None,
    max_seconds: float,
    tool_dirs: tuple[str, ...],
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
    state_logs: dict[str, str] | None = None,
) -> int:
    """Validate and run one command line; returns the exit status to pass back to the client."""
    started = time.monotonic()
    record: dict[str, object] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "host": host,
        **logged_command(command),
        "pid": os.getpid(),
    }
    if command is None or not command.strip():
        return refuse(NO_COMMAND_REASON, record, log_path, log_max_bytes)
    if is_state_command(command):
        return run_state(command, record, log_path, tool_dirs, state_logs or {}, log_max_bytes)
    try:
        argv = parse_invocation(command).exec_argv()
    except OptionError as err:
        return refuse(str(err), {**record, "code": err.code}, log_path, log_max_bytes)
    executable = resolve_tool(argv[0], tool_dirs)
    if executable is None:
        return refuse(f"{argv[0]} is not installed on this VM", record, log_path, log_max_bytes)

    outcome, status = _execute(executable, argv, max_seconds)
    # The tool is done: a hang-up now must not interrupt the log write with a traceback.
    _ignore_client_gone_signals()
    append_log(
        log_path,
        {
            **record,
            "accepted": True,
            "argv": argv,
            "outcome": outcome,
            "exit_status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
        log_max_bytes,
    )
    return status


def run_state(
    command: str,
    record: dict[str, object],
    log_path: str | None,
    tool_dirs: tuple[str, ...],
    state_logs: dict[str, str],
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
) -> int:
    """A ``state`` line: the asked parts and log tails as one JSON document on stdout (exit 0)."""
    started = time.monotonic()
    try:
        request = parse_state_command(command)
    except StateRequestError as err:
        return refuse(str(err), {**record, "code": "INVALID_STATE_REQUEST"}, log_path, log_max_bytes)
    _ignore_client_gone_signals()  # a vanished client only loses the answer; every command is bounded
    state = collect_state(request, state_logs, lambda name: resolve_tool(name, tool_dirs), TOOL_ENVIRONMENT)
    sys.stdout.write(json.dumps(state))
    sys.stdout.flush()
    append_log(
        log_path,
        {
            **record,
            "accepted": True,
            "state": request.command_line(),
            "outcome": "completed",
            "exit_status": 0,
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
        log_max_bytes,
    )
    return 0


def _ignore_client_gone_signals() -> None:
    for sig in CLIENT_GONE_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sysvmdiag.vmside",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="this VM's name, recorded in the run log")
    parser.add_argument("--log", help="append one JSON line per run to this file")
    parser.add_argument(
        "--log-max-bytes",
        type=int,
        default=DEFAULT_LOG_MAX_BYTES,
        help="rotate the run log to <log>.1 once it would pass this size",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="hard wall-clock limit for one tool run (exit 124 on expiry)",
    )
    parser.add_argument(
        "--tool-dir",
        action="append",
        default=None,
        help="resolve tools here instead of the system directories (test seam)",
    )
    parser.add_argument(
        "--state-log",
        action="append",
        default=None,
        metavar="NAME=PATH",
        help="the file a state request's log:NAME reads (repeat; without any, the usual /var/log files)",
    )
    parser.add_argument(
        "--bastion",
        action="store_true",
        help="bastion mode: refuse every command (the key only opens forwards)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    if args.bastion:
        _warn(BASTION_REFUSAL)
        append_log(
            args.log,
            {
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "host": args.host or "bastion",
                **logged_command(command),
                "accepted": False,
                "reason": "bastion",
                "exit_status": 1,
            },
            args.log_max_bytes,
        )
        return 1
    tool_dirs = tuple(args.tool_dir) if args.tool_dir else SYSTEM_TOOL_DIRS
    try:
        state_logs = log_paths_from(args.state_log)
    except ValueError as err:
        _parser().error(str(err))
    return run_command(
        command, args.host, args.log, args.max_seconds, tool_dirs, args.log_max_bytes, state_logs
    )


if __name__ == "__main__":
    sys.exit(main())
