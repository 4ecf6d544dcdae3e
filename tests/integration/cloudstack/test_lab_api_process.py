"""The lab's CloudStack-shaped API as the local stack runs it: `simvms cloudstack-api` started in the
background, its keys in a 0600 file the stack shows, answered on loopback, stopped by pid."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import requests

from sysvmdiag.cloudstack.signing import signed_params
from sysvmdiag.local.cloudstack_api import CloudStackApiProcess
from sysvmdiag.local.processes import pid_alive


def test_started_answered_with_its_keys_and_stopped(tmp_path: Path) -> None:
    process = CloudStackApiProcess(tmp_path, port=0)
    try:
        status = process.start(topology=None)
        assert status["up"] and status["url"].startswith("http://127.0.0.1:")
        assert status["credentialsFile"] == str(tmp_path / "cloudstack-api.json")
        credentials_file = Path(status["credentialsFile"])
        assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
        stored = json.loads(credentials_file.read_text())
        assert stored["url"] == status["url"]

        def ask(secret: str) -> int:
            params = signed_params(
                {"command": "listZones", "response": "json"},
                stored["apiKey"],
                secret,
                expires_in=timedelta(minutes=1),
            )
            return requests.get(status["url"], params=params, timeout=10).status_code

        assert ask("not-the-secret") == 401
        assert ask(stored["secretKey"]) != 401  # the file holds the keys the server checks
    finally:
        process.stop()
    assert not pid_alive(status["pid"])
    assert process.status()["up"] is False


def test_a_restart_keeps_the_key_pair(tmp_path: Path) -> None:
    process = CloudStackApiProcess(tmp_path, port=0)
    try:
        first = json.loads(Path(process.start(topology=None)["credentialsFile"]).read_text())
        second = json.loads(Path(process.start(topology=None)["credentialsFile"]).read_text())
    finally:
        process.stop()
    assert (first["apiKey"], first["secretKey"]) == (second["apiKey"], second["secretKey"])
