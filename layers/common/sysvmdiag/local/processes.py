"""Processes we started, seen through /proc: alive or not, and what they were started as.

Stopping happens by recorded pid only after checking that the pid is still ours (pids get reused),
so these checks are shared by the lab's sshds, the local stack's server and the tests.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Running: a zombie left for a non-reaping init to collect does not count."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline_words(pid: int) -> list[str]:
    """The process's command line as words (NULs and spaces split: sshd rewrites its title)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.replace(b"\0", b" ").decode(errors="replace").split()


def _live_stat_fields() -> dict[int, list[str]]:
    """/proc/<pid>/stat of every live process, the fields after the command name (state first)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z":
            found[int(stat.parent.name)] = fields
    return found


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (e.g. an sshd listener's per-connection processes)."""
    return sorted(child for child, fields in _live_stat_fields().items() if int(fields[1]) == pid)


def process_group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid`` (a session leader's helpers: they share its group)."""
    return sorted(member for member, fields in _live_stat_fields().items() if int(fields[2]) == pgid)


def terminate(pid: int, still_ours: Callable[[], bool], grace_seconds: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it is still running (and still ours) after the grace period.

    Returns once the process has exited (gone, or a zombie), not merely once it stops looking like
    ours: an exiting process loses its command line before it is gone, and a caller that checks
    ``pid_alive`` right after must not find it still running."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    if still_ours():
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + grace_seconds
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
