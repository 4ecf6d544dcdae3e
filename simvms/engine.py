"""The Docker engine and compose CLI the compose lab drives: found, started if none runs, stopped by pid.

A dockerd that already runs (the user's) is used as it is and never stopped. One this module starts
runs with the fewest host changes: no default bridge (`--bridge=none`), no iptables rules, no IP
forwarding or masquerading on the host; the lab needs none of them (its bridges are plain L2 and the
bastion's port is published by docker-proxy on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from sysvmdiag.local.processes import pid_alive

DOCKERD = "/usr/sbin/dockerd"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false")
PACKAGES = {"docker": "docker.io", "dockerd": "docker.io", "docker-compose": "docker-compose"}


class EngineError(RuntimeError):
    """The engine or compose failed; the message says what to do."""


def docker_binary() -> str | None:
    return shutil.which("docker")


def compose_command() -> list[str] | None:
    """Compose v1 (Debian's docker-compose) or v2 (`docker compose`); $SIMVMS_COMPOSE overrides."""
    if os.environ.get("SIMVMS_COMPOSE"):
        return os.environ["SIMVMS_COMPOSE"].split()
    if shutil.which("docker-compose"):
        return [shutil.which("docker-compose") or "docker-compose"]
    docker = docker_binary()
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


def prerequisite_problems() -> list[str]:
    """What this machine lacks for the compose lab, each with the package to install."""
    if os.geteuid() != 0:
        return ["compose lab: needs root (to start dockerd and reach its socket)"]
    problems = []
    if docker_binary() is None:
        problems.append("compose lab: missing docker: apt-get install docker.io")
    if compose_command() is None:
        problems.append("compose lab: missing docker-compose: apt-get install docker-compose")
    return problems


def docker(*args: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [docker_binary() or "docker", *args], capture_output=True, text=True, input=input_text
    )
    if check and proc.returncode != 0:
        raise EngineError(f"docker {' '.join(args)} failed: {proc.stderr.strip()[-800:]}")
    return proc


def docker_json(*args: str) -> Any:
    proc = docker(*args, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return json.loads(proc.stdout)


def engine_running() -> bool:
    return docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0


def _is_our_dockerd(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe") == DOCKERD and pid_alive(pid)
    except OSError:
        return False


def ensure_engine(pid_file: Path, log_file: Path) -> bool:
    """A running engine; start dockerd (recording its pid) only when none answers. True if started."""
    if engine_running():
        return False
    if not os.access(DOCKERD, os.X_OK):
        raise EngineError(f"compose lab: missing {DOCKERD}: apt-get install docker.io")
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [DOCKERD, *DOCKERD_FLAGS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if engine_running():
            return True
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_engine(pid_file)
    raise EngineError(f"dockerd did not start; see {log_file}: {log_file.read_text()[-800:]}")


def stop_engine(pid_file: Path) -> None:
    """Stop the dockerd this module started (its pid file), never another; it stops its containerd."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if _is_our_dockerd(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and _is_our_dockerd(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _is_our_dockerd(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def image_label(tag: str, label: str) -> str | None:
    proc = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', tag, check=False)
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value and value != "<no value>" else None
