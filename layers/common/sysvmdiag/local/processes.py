"""Processes we started, seen through /proc: alive or not, and what they were started as.

Stopping happens by recorded pid only after checking that the pid is still ours (pids get reused),
so these checks are shared by the lab's sshds, the local stack's server and the tests.
"""

from __future__ import annotations

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


def process_group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid`` (a session leader's helpers: they share its group)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return sorted(members)
