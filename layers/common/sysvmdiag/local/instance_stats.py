"""How many instances each function of the local stack has busy, idle and starting (and events
waiting), written to a file in the stack's state folder whenever it changes: `sysvmdiag local status`
shows it, and tests wait on it (for example until slow runs hold instances and a spare is ready)
instead of guessing with sleeps."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from sysvmdiag.local.instances import FunctionInstances

STATS_FILE = "instances.json"


def write_atomically(path: Path, data: object) -> None:
    """Readers see the old file or the new one, never half of one (written aside, then renamed)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def read_stats(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STATS_FILE).read_text())
    except (OSError, ValueError):
        return None


class StatsFile:
    """Writes ``{function: {busy, idle, starting, waiting, max}}`` to ``state_dir/instances.json``
    on change."""

    def __init__(
        self, state_dir: Path, functions: Mapping[str, FunctionInstances], period: float = 0.1
    ) -> None:
        self._path = state_dir / STATS_FILE
        self._functions = functions
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="instance-stats", daemon=True)

    def start(self) -> StatsFile:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._path.unlink(missing_ok=True)

    def _run(self) -> None:
        written = None
        while True:
            now = {name: instances.stats() for name, instances in self._functions.items()}
            if now != written:
                write_atomically(self._path, now)
                written = now
            if self._stop.wait(self._period):
                return
