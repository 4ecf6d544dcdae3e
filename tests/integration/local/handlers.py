"""Tiny Lambda handlers for the instance-process tests (imported by the spawned instances)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

WAIT_BOUND_SECONDS = 20.0


def pid(event: dict, context: Any) -> dict:
    """Where it ran; waits for ``event["until"]`` (a file) to exist first, if given (bounded)."""
    if "until" in event:
        deadline = time.monotonic() + WAIT_BOUND_SECONDS
        while not Path(event["until"]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if event.get("exit"):
        os._exit(3)  # the instance dies mid-event
    if event.get("raise"):
        raise ValueError("the handler failed")
    if event.get("hang"):
        time.sleep(WAIT_BOUND_SECONDS)
    return {"pid": os.getpid()}
