"""The lines `sysvmdiag local hints` (and `make run`) tell a person to try actually work."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sysvmdiag.cli.local import hints

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent


def hint_commands(status: dict) -> list[list[str]]:
    """Each command of the hints as argv (continuation lines joined, comments and prose dropped)."""
    commands, pending = [], ""
    for line in hints(status).splitlines():
        text = pending + line.strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        if text.startswith(("curl ", "sysvmdiag run", "sysvmdiag vms", "env CLOUDSTACK_")):
            commands.append(shlex.split(text.split("  #")[0]))
    return commands


def test_every_hint_command_runs(local_stack):
    env = {**os.environ, "SYSVMDIAG_LOCAL_STATE": local_stack["stateDir"]}
    commands = hint_commands(local_stack)
    assert len(commands) >= 6
    for argv in commands:
        if argv[0] == "sysvmdiag":
            argv = [str(BIN / "sysvmdiag"), *argv[1:]]
        if argv[0] == "env":  # CloudStack's cs client, from the venv like the CLI
            argv = [str(BIN / arg) if arg == "cs" else arg for arg in argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env, check=False)
        if "172.31.200.10" in argv:  # the hint that shows a refusal
            assert done.returncode == 3 and "DESTINATION_IN_MANAGEMENT_RANGE" in done.stderr, done
        elif argv[0] == "env":
            assert done.returncode == 0 and "0% packet loss" in done.stdout, done
        elif argv[0] == "curl":
            body = json.loads(done.stdout)
            assert "code" not in body, body
        else:
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
