"""``sysvmdiag local up | down | status``: the lab plus the server process, managed by pid."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sysvmdiag.local.cloudstack_api import CloudStackApiError, CloudStackApiProcess
from sysvmdiag.local.instance_stats import read_stats
from sysvmdiag.local.processes import cmdline_words, pid_alive, process_group_members
from sysvmdiag.local.server import REPO_ROOT

DEFAULT_STATE_DIR = Path(os.environ.get("SYSVMDIAG_LOCAL_STATE", "/run/sysvmdiag-local"))
DEFAULT_PORT = 3000
# The compose lab's stack runs beside the namespace lab's: its own state folder and port.
COMPOSE_STATE_DIR = Path(os.environ.get("SYSVMDIAG_LOCAL_COMPOSE_STATE", "/run/sysvmdiag-local-compose"))
COMPOSE_PORT = 3100
# The lab's CloudStack-shaped API (simvms cloudstack-api), beside each stack's API: 3080 and 3180.
DEFAULT_CLOUDSTACK_PORT = 3080
COMPOSE_CLOUDSTACK_PORT = 3180
LAB_KINDS = ("namespace", "compose")
START_TIMEOUT_SECONDS = 60.0


class LocalStackError(RuntimeError):
    pass


class LocalStack:
    def __init__(
        self,
        state_dir: Path | None = None,
        port: int = DEFAULT_PORT,
        lab_state_dir: Path | None = None,
        environment: dict[str, str] | None = None,
        lab: str = "namespace",
        cloudstack_port: int = 0,
    ):
        if lab not in LAB_KINDS:
            raise LocalStackError(f"unknown lab {lab!r}; one of {', '.join(LAB_KINDS)}")
        self.lab_kind = lab
        self.state_dir = Path(state_dir or (COMPOSE_STATE_DIR if lab == "compose" else DEFAULT_STATE_DIR))
        self.port = port
        self.lab_state_dir = lab_state_dir
        # Extra variables for the server process, e.g. LIMITS_JSON (tests, benchmarks).
        self.environment = dict(environment or {})
        # 0: any free loopback port (tests' stacks); the CLI passes the fixed ports above.
        self.cloudstack_api = CloudStackApiProcess(self.state_dir, cloudstack_port)

    @property
    def _server_file(self) -> Path:
        return self.state_dir / "server.json"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    def _lab(self):
        """The namespace lab (simvms.lab) or the compose lab (simvms.composelab): one status shape."""
        if self.lab_kind == "compose":
            from simvms.composelab import ComposeLab

            return ComposeLab(state_dir=self.lab_state_dir)
        from simvms.lab import Lab

        return Lab(state_dir=self.lab_state_dir) if self.lab_state_dir else Lab()

    def up(self, progress=print) -> dict:
        """Idempotent: a healthy stack is left as it is."""
        current = self.status()
        if current.get("up"):
            return current
        self._stop_server()
        self.cloudstack_api.stop()
        progress(f"lab: bringing the system-VM lab up ({self.lab_kind}) ...")
        lab = self._lab()
        lab_status = lab.up(progress=progress) if self.lab_kind == "compose" else lab.up()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lab_file = self.state_dir / "lab-status.json"
        lab_file.write_text(json.dumps(lab_status))
        progress(f"api: starting moto's server and the API on 127.0.0.1:{self.port} ...")
        self._server_file.unlink(missing_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sysvmdiag.local.server",
                    "--state",
                    str(self.state_dir),
                    "--lab-status",
                    str(lab_file),
                    "--port",
                    str(self.port),
                ],
                cwd=REPO_ROOT,
                env={**os.environ, **self.environment},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._pid_file.write_text(str(process.pid))
        self._start_cloudstack_api(lab_status.get("topology"), progress)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalStackError(f"the API server exited with {process.returncode}; see {self.log_file}")
            status = self.status()
            if status.get("up"):
                return status
            time.sleep(0.2)
        self._stop_server()
        raise LocalStackError(
            f"the API server did not come up in {START_TIMEOUT_SECONDS:.0f} s; see {self.log_file}"
        )

    def status(self) -> dict:
        if not self._server_file.exists():
            return {"up": False, "stateDir": str(self.state_dir)}
        info = json.loads(self._server_file.read_text())
        healthy = _is_our_server(info.get("pid")) and _http_ok(info["apiUrl"] + "/openapi.json")
        lab = self._lab().status()
        cloudstack = self.cloudstack_api.status()
        return {
            "up": healthy and bool(lab.get("up")) and cloudstack["up"],
            "stateDir": str(self.state_dir),
            "labUp": bool(lab.get("up")),
            **info,
            "cloudstackApi": cloudstack,
            "instances": read_stats(self.state_dir) if healthy else None,
        }

    def down(self, keep_lab: bool = False) -> None:
        self._stop_server()
        self.cloudstack_api.stop()
        self._server_file.unlink(missing_ok=True)
        (self.state_dir / "lab-status.json").unlink(missing_ok=True)
        if not keep_lab:
            self._lab().down()

    def _start_cloudstack_api(self, topology: str | None, progress) -> None:
        """The lab's CloudStack-shaped API, for `sysvmdiag` topology syncs against the lab."""
        progress("cloudstack: starting the lab's CloudStack-shaped API ...")
        try:
            self.cloudstack_api.start(topology)
        except CloudStackApiError as err:
            self._stop_server()
            raise LocalStackError(str(err)) from err

    def _stop_server(self) -> None:
        if not self._pid_file.exists():
            return
        pid = int(self._pid_file.read_text().strip() or 0)
        if _is_our_server(pid):
            # Its function instances run in its process group (it leads its own session): note their
            # pids now, while the group is surely ours, and stop any the server leaves behind.
            helpers = [member for member in process_group_members(pid) if member != pid]
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not _is_our_server(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            for helper in helpers:
                with contextlib.suppress(ProcessLookupError):
                    if pid_alive(helper) and os.getpgid(helper) == pid:
                        os.kill(helper, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)


def _is_our_server(pid: int | None) -> bool:
    """True only for a live process that is our server (never signal a recycled pid)."""
    return bool(pid) and pid_alive(pid) and "sysvmdiag.local.server" in cmdline_words(pid)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we wrote
            return response.status == 200
    except OSError:
        return False
