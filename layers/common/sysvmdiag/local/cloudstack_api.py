"""The lab's CloudStack-shaped API (``simvms cloudstack-api``) as a process of the local stack.

Started with the stack on a fixed loopback port, recorded by pid in the stack's state folder and
stopped by pid (after checking the pid is still that process); its key pair stays in
``cloudstack-api.json`` there, so a restarted stack keeps the keys a sync client was given.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sysvmdiag.local.processes import cmdline_words, pid_alive, terminate
from sysvmdiag.local.server import REPO_ROOT

START_TIMEOUT_SECONDS = 20.0


class CloudStackApiError(RuntimeError):
    pass


class CloudStackApiProcess:
    """``simvms cloudstack-api`` for one stack: ``port`` 0 takes a free loopback port at start."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.port = port

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "cloudstack-api.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "cloudstack-api.log"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "cloudstack-api.pid"

    def start(self, topology: str | None) -> dict:
        """Start it (stopping one left behind) and wait until it answers."""
        self.stop()
        port = self.port or _free_loopback_port()
        url = f"http://127.0.0.1:{port}/client/api"
        argv = [sys.executable, "-m", "simvms.cli", *(["--topology", topology] if topology else [])]
        argv += ["cloudstack-api", "--port", str(port), "--credentials", str(self.credentials_file)]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        spawned_at = time.time()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CloudStackApiError(
                    f"the CloudStack API exited with {process.returncode}; see {self.log_file}"
                )
            # The API rewrites its credentials file once it listens: until then, whatever answers is not it.
            if _written_since(self.credentials_file, spawned_at) and _answers(url):
                return self.status()
            time.sleep(0.1)
        self.stop()
        raise CloudStackApiError(
            f"the CloudStack API did not answer in {START_TIMEOUT_SECONDS:.0f} s; see {self.log_file}"
        )

    def status(self) -> dict:
        """URL, credentials file and pid; ``up`` when that process is ours and answers."""
        pid = _read_int(self._pid_file)
        url = _recorded_url(self.credentials_file)
        up = bool(url) and _is_ours(pid) and _answers(url)
        return {"up": up, "url": url, "credentialsFile": str(self.credentials_file), "pid": pid}

    def stop(self) -> None:
        pid = _read_int(self._pid_file)
        if pid and _is_ours(pid):
            terminate(pid, lambda: _is_ours(pid))
        self._pid_file.unlink(missing_ok=True)


def _is_ours(pid: int | None) -> bool:
    """A live ``simvms.cli cloudstack-api`` process (never signal a recycled pid)."""
    if not pid or not pid_alive(pid):
        return False
    words = cmdline_words(pid)
    return "simvms.cli" in words and "cloudstack-api" in words


def _answers(url: str) -> bool:
    """Any HTTP answer counts (an unsigned request is answered 401): the server is listening."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we made
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _recorded_url(credentials_file: Path) -> str | None:
    """The URL the API wrote beside its keys once it was listening."""
    try:
        return json.loads(credentials_file.read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        return None


def _written_since(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime >= moment
    except OSError:
        return False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _free_loopback_port() -> int:
    from sysvmdiag.local.motoserver import free_loopback_port

    return free_loopback_port()
