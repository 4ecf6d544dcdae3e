"""How the lab's API tests call the local stack: POST /diagnostics (or another path) with a key, and the
CLI client."""

from __future__ import annotations

import subprocess
import sys

import requests


def post(
    stack: dict, key: str, body: dict, timeout: float = 60, path: str = "/diagnostics"
) -> requests.Response:
    return requests.post(
        f"{stack['apiUrl']}{path}",
        json=body,
        timeout=timeout,
        headers={"Authorization": f"Bearer {key}"},
    )


def cli(stack: dict, key: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sysvmdiag.cli", *args, "--api", stack["apiUrl"], "--key", key],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
