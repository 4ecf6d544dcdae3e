"""The VM side of ``state``: run the fixed read-only commands of each part, read the named log tails.

Standard library plus ``sysvmdiag.vmstate`` only: ships to the system VM with ``vmside``. Every argv
comes from :data:`~sysvmdiag.vmstate.PART_COMMANDS`; every file from the operator's ``--state-log``
map. The answer is one JSON document on stdout, each command's output cut at a fixed size.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from sysvmdiag.vmstate import (
    COMMAND_OUTPUT_MAX_BYTES,
    COMMAND_SECONDS,
    DEFAULT_LOG_PATHS,
    LOG_NAMES,
    LOG_TAIL_LINES,
    LOG_TAIL_MAX_BYTES,
    PART_COMMANDS,
    STATE_MAX_SECONDS,
    StateRequest,
)

Resolver = Callable[[str], "str | None"]


def log_paths_from(pairs: list[str] | None) -> dict[str, str]:
    """``NAME=PATH`` pairs (vmside --state-log) as a map; without any, the system VM's usual files.
    A name outside LOG_NAMES is the operator's typo: refused at start, not silently ignored."""
    if not pairs:
        return dict(DEFAULT_LOG_PATHS)
    paths: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or name not in LOG_NAMES or not os.path.isabs(path):
            raise ValueError(f"--state-log wants NAME=/absolute/path with NAME one of {', '.join(LOG_NAMES)}")
        paths[name] = path
    return paths


def _cut(data: bytes, limit: int) -> tuple[str, bool]:
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def run_part_command(argv: tuple[str, ...], resolve: Resolver, env: dict[str, str], seconds: float) -> dict:
    """One read-only command: its exit status and (cut) outputs; a missing program says so."""
    executable = resolve(argv[0])
    record: dict[str, Any] = {"argv": list(argv)}
    if executable is None:
        return {**record, "exitStatus": 127, "stdout": "", "stderr": f"{argv[0]} is not installed on this VM"}
    try:
        done = subprocess.run(
            [executable, *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=max(seconds, 0.1),
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return {**record, "exitStatus": 124, "stdout": "", "stderr": f"{argv[0]} killed after {seconds:g} s"}
    stdout, stdout_cut = _cut(done.stdout, COMMAND_OUTPUT_MAX_BYTES)
    stderr, _ = _cut(done.stderr, 4096)
    return {**record, "exitStatus": done.returncode, "stdout": stdout, "stderr": stderr, "cut": stdout_cut}


def read_log_tail(path: str | None) -> dict:
    """The last LOG_TAIL_LINES lines of a log, at most LOG_TAIL_MAX_BYTES (read from the end)."""
    if path is None:
        return {"path": None, "present": False, "text": "", "cut": False}
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - LOG_TAIL_MAX_BYTES))
            data = log.read(LOG_TAIL_MAX_BYTES)
    except OSError as err:
        return {"path": path, "present": False, "text": "", "cut": False, "error": err.strerror}
    lines = data.splitlines(keepends=True)
    cut = size > len(data) or len(lines) > LOG_TAIL_LINES
    if size > len(data) and lines:
        lines = lines[1:]  # the first line read from the middle of the file is partial
    text = b"".join(lines[-LOG_TAIL_LINES:]).decode("utf-8", "replace")
    return {"path": path, "present": True, "text": text, "cut": cut}


def collect_state(
    request: StateRequest, log_paths: dict[str, str], resolve: Resolver, env: dict[str, str]
) -> dict:
    """Every asked part and log, within STATE_MAX_SECONDS overall (each command within its own bound)."""
    deadline = time.monotonic() + STATE_MAX_SECONDS
    parts: dict[str, list[dict]] = {}
    for part in request.parts:
        runs = []
        for argv in PART_COMMANDS[part]:
            left = deadline - time.monotonic()
            if left <= 0:
                runs.append({"argv": list(argv), "exitStatus": 124, "stdout": "", "stderr": "no time left"})
                continue
            runs.append(run_part_command(argv, resolve, env, min(COMMAND_SECONDS, left)))
        parts[part] = runs
    logs = {name: read_log_tail(log_paths.get(name)) for name in request.logs}
    return {"parts": parts, "logs": logs}
