"""One run's session: open a channel on a VM connection, exec the command, read it within cap and deadline.

From the exec request on, the tool may be running on the VM, so nothing here is ever retried;
only opening the session on a cached connection may be (see ``StaleConnection``).
"""

from __future__ import annotations

from collections.abc import Callable

import paramiko

from sysvmdiag.runner.deadline import Deadline, Watchdog
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode, RunOutput
from sysvmdiag.runner.names import capitalized
from sysvmdiag.runner.plumbing import wait_readable

DEFAULT_OUTPUT_CAP = 256 * 1024
# The exit status follows EOF closely: it is waited for at least this long even if the budget is spent.
EXIT_STATUS_WAIT_SECONDS = 0.5
_READ_CHUNK = 32 * 1024
_POLL_SECONDS = 0.5
_NETWORK_ERRORS = (paramiko.SSHException, EOFError, OSError)

WaitReadable = Callable[[paramiko.Channel, float], None]
# Told the whole stdout so far (decoded) each time more of it arrives, from the reading thread; it must
# return quickly and never raise (the job worker's live output throttles itself and swallows errors).
OutputListener = Callable[[str], None]


class StaleConnection(Exception):
    """A cached VM connection failed before anything was executed on it: safe to retry once."""


def open_session(
    transport: paramiko.Transport, vm_name: str, timeout: float, *, retryable: bool
) -> paramiko.Channel:
    """A session channel of this run's own; on a cached connection, failing here is retryable."""
    try:
        return transport.open_session(timeout=timeout)
    except _NETWORK_ERRORS as exc:
        if retryable:
            raise StaleConnection(str(exc)) from exc
        raise RunnerError(
            RunnerErrorCode.VM_UNREACHABLE, f"{capitalized(vm_name)} refused the session: {exc}."
        ) from exc


def execute(
    session: paramiko.Channel,
    command: str,
    *,
    vm_name: str,
    deadline: Deadline,
    watchdog: Watchdog,
    output_cap: int,
    on_hung: Callable[[], None],
    on_refused: Callable[[], None],
    wait: WaitReadable = wait_readable,
    on_output: OutputListener | None = None,
) -> RunOutput:
    """exec the command and read stdout and stderr together until EOF, the cap or the deadline.

    ``on_hung`` is what the watchdog calls if the exec request itself gets no reply (only closing
    the connection wakes that wait); ``on_refused`` runs after a failed exec request.
    """
    watchdog.guard(on_hung)
    try:
        session.exec_command(command)
    except _NETWORK_ERRORS as exc:
        session.close()
        on_refused()
        raise RunnerError(
            RunnerErrorCode.VM_UNREACHABLE, f"{capitalized(vm_name)} refused the session: {exc}."
        ) from exc
    watchdog.guard(session.close)
    try:
        stdout, stderr, truncated = _read(session, output_cap, vm_name, deadline, wait, on_output)
        exit_code = None if truncated else _exit_status(session, deadline)
    finally:
        watchdog.guard(None)
        # Closing the session is what makes the VM-side program stop the tool (timeout, cap): sshd
        # closes its stdout, which it watches for, even though the connection stays up.
        session.close()
    if truncated:
        stdout, stderr = trim(stdout, stderr, output_cap)
    return RunOutput(
        exit_code=exit_code,
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
        truncated=truncated,
        duration_ms=deadline.elapsed_ms(),
    )


def _read(
    session: paramiko.Channel,
    output_cap: int,
    vm_name: str,
    deadline: Deadline,
    wait: WaitReadable,
    on_output: OutputListener | None = None,
) -> tuple[bytearray, bytearray, bool]:
    """Both streams until EOF (then False) or past the cap (then True); TIMEOUT when the budget ends.
    ``on_output`` hears stdout so far whenever it grew (live output of a job)."""
    stdout, stderr = bytearray(), bytearray()
    while True:
        # One poll wakes on data from either stream, so a chatty stderr cannot starve stdout.
        wait(session, min(_POLL_SECONDS, deadline.remaining()))
        before = len(stdout)
        while session.recv_ready():
            stdout += session.recv(_READ_CHUNK)
        if on_output is not None and len(stdout) > before:
            on_output(stdout[:output_cap].decode("utf-8", errors="replace"))
        while session.recv_stderr_ready():
            stderr += session.recv_stderr(_READ_CHUNK)
        if len(stdout) + len(stderr) > output_cap:
            return stdout, stderr, True
        if session.eof_received or session.closed:
            if not session.recv_ready() and not session.recv_stderr_ready():
                return stdout, stderr, False
            continue
        if not deadline.remaining():
            raise RunnerError(
                RunnerErrorCode.TIMEOUT,
                f"The run on {vm_name} did not finish within {deadline.seconds:g} s; it was stopped.",
            )


def _exit_status(session: paramiko.Channel, deadline: Deadline) -> int | None:
    """The tool's exit status; None when the VM sent none (or a negative one) in time."""
    if not session.status_event.wait(max(deadline.remaining(), EXIT_STATUS_WAIT_SECONDS)):
        return None
    status = session.recv_exit_status()
    return status if status >= 0 else None


def trim(stdout: bytearray, stderr: bytearray, cap: int) -> tuple[bytearray, bytearray]:
    """Keep at most ``cap`` bytes in total, stdout first."""
    kept_stdout = stdout[:cap]
    return kept_stdout, stderr[: max(0, cap - len(kept_stdout))]
