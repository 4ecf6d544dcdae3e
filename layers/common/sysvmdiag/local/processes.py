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
