"""The machine the numbers come from: they mean little without it (and this machine is shared)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _openssh_version() -> str:
    completed = subprocess.run(["/usr/bin/ssh", "-V"], capture_output=True, text=True, check=False)
    return (completed.stderr or completed.stdout).strip()


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def server_limits_env(pid: int | None) -> str | None:
    """LIMITS_JSON as the running API server process got it (None: the server runs default limits)."""
    if not pid:
        return None
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"LIMITS_JSON="):
            return entry.split(b"=", 1)[1].decode(errors="replace")
    return None


def describe() -> dict:
    uname = platform.uname()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memoryGiB": round(_memory_gib(), 1),
        "kernel": f"{uname.system} {uname.release}",
        "os": _os_release(),
        "python": sys.version.split()[0],
        "openssh": _openssh_version(),
        "paramiko": _package("paramiko"),
        "boto3": _package("boto3"),
        "awsLambdaPowertools": _package("aws-lambda-powertools"),
        "loadAverageAtStart": load_average(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()
