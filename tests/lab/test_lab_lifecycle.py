"""up / down / repair / sshd stop-start / rekey, through the `simvms` command.

These run on a private copy of the lab (prefix "svt", its own host link and state folder) so that
tearing it down never disturbs the shared lab other tests and engineers are using.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simvms import cli
from simvms import lab as lab_module
from simvms.lab import Lab
from sysvmdiag.local.processes import pid_alive
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE

pytestmark = pytest.mark.lab

PREFIX = "svt"
HOST_LINK = {"host": "100.64.254.5/30", "bastion": "100.64.254.6/30"}


def simvms(
    lab_files: tuple[Path, Path], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    topology, state = lab_files
    return subprocess.run(
        [sys.executable, "-m", "simvms.cli", "--topology", str(topology), "--state", str(state), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def namespaces_with_prefix() -> list[str]:
    netns = Path("/run/netns")
    return (
        sorted(p.name for p in netns.iterdir() if p.name.startswith(f"{PREFIX}-")) if netns.exists() else []
    )


@pytest.fixture(scope="module")
def lab_files(
    lab_prerequisites: None,
) -> Iterator[tuple[Path, Path]]:
    # Under /run, not pytest's tmp_path: concurrent pytest sessions prune old tmp_path folders.
    root = Path(tempfile.mkdtemp(prefix="simvms-private-lab-", dir="/run"))
    data = yaml.safe_load(DEFAULT_TOPOLOGY_FILE.read_text())
    data["lab"] = {"prefix": PREFIX, "host_link": HOST_LINK}
    topology = root / "topology.yaml"
    topology.write_text(yaml.safe_dump(data, sort_keys=False))
    state = root / "state"
    yield topology, state
    Lab(topology, state).down(purge=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cold_up(lab_files: tuple[Path, Path]) -> dict[str, Any]:
    """Cold start of the private lab, timed."""
    Lab(*lab_files).down(purge=True)
    started = time.monotonic()
    proc = simvms(lab_files, "up")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    return {"seconds": elapsed, "status": json.loads((lab_files[1] / "status.json").read_text())}


def ssh_ping(
    status: dict[str, Any], vm: str, known_hosts: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["/usr/bin/ssh", "-F", status["ssh_config"]]
    if known_hosts:
        args += ["-o", f"UserKnownHostsFile={known_hosts}"]
    return subprocess.run(
        [*args, vm, "ping", "-c", "1", "203.0.113.1"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_cold_up_is_fast_and_complete(cold_up: dict[str, Any], lab_files: tuple[Path, Path]) -> None:
    assert cold_up["seconds"] < 20, f"cold up took {cold_up['seconds']:.1f}s"
    status = cold_up["status"]
    assert status["up"] is True and status["prefix"] == PREFIX
    lab = Lab(*lab_files)
    assert namespaces_with_prefix() == sorted(lab.plan.namespaces)
    assert ssh_ping(status, "vr").returncode == 0


def test_second_up_is_fast_and_changes_nothing(cold_up: dict[str, Any], lab_files: tuple[Path, Path]) -> None:
    state = lab_files[1]
    watched = [state / "status.json", state / "ssh_config", state / "known_hosts", state / "sshd" / "vr.conf"]
    before_files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched}
    before_links = subprocess.run(
        ["ip", "-n", f"{PREFIX}-vr", "-j", "link"], capture_output=True, text=True, check=True
    ).stdout
    started = time.monotonic()
    proc = simvms(lab_files, "up")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 5
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched} == before_files
    after_links = subprocess.run(
        ["ip", "-n", f"{PREFIX}-vr", "-j", "link"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(after_links) == json.loads(before_links)  # same ifindexes: nothing was recreated


def test_status_exit_code_follows_health_and_up_repairs(
    cold_up: dict[str, Any], lab_files: tuple[Path, Path]
) -> None:
    assert simvms(lab_files, "status").returncode == 0
    subprocess.run(["ip", "netns", "del", f"{PREFIX}-web"], check=True)
    degraded = simvms(lab_files, "status", "--json")
    assert degraded.returncode == 1
    assert "namespace svt-web missing" in json.loads(degraded.stdout)["problems"]
    assert simvms(lab_files, "up").returncode == 0
    assert simvms(lab_files, "status").returncode == 0
    assert ssh_ping(json.loads(simvms(lab_files, "status", "--json").stdout), "vr").returncode == 0


def test_sshd_stop_and_start(cold_up: dict[str, Any], lab_files: tuple[Path, Path]) -> None:
    status = cold_up["status"]
    assert simvms(lab_files, "sshd", "stop", "ssvm").returncode == 0
    stopped = json.loads((lab_files[1] / "status.json").read_text())
    assert stopped["hosts"]["ssvm"]["ssh"]["running"] is False
    assert stopped["up"] is False
    proc = ssh_ping(status, "ssvm")
    assert proc.returncode == 255
    assert simvms(lab_files, "status").returncode == 1
    assert simvms(lab_files, "sshd", "start", "ssvm").returncode == 0
    started = json.loads((lab_files[1] / "status.json").read_text())
    assert started["hosts"]["ssvm"]["ssh"]["running"] is True and started["up"] is True
    assert ssh_ping(status, "ssvm").returncode == 0


def test_rekey_changes_the_pinned_host_key(
    cold_up: dict[str, Any], lab_files: tuple[Path, Path], tmp_path: Path
) -> None:
    status = json.loads((lab_files[1] / "status.json").read_text())
    old_known_hosts = tmp_path / "old_known_hosts"
    shutil.copy(status["known_hosts"], old_known_hosts)
    old_key = status["hosts"]["cpvm"]["ssh"]["host_key"]
    proc = simvms(lab_files, "rekey", "cpvm")
    assert proc.returncode == 0, proc.stderr
    new_status = json.loads((lab_files[1] / "status.json").read_text())
    new_key = new_status["hosts"]["cpvm"]["ssh"]["host_key"]
    assert new_key != old_key and new_key.startswith("ssh-ed25519 ")
    assert new_key in Path(new_status["known_hosts"]).read_text()
    mismatch = ssh_ping(new_status, "cpvm", known_hosts=str(old_known_hosts))
    assert mismatch.returncode == 255
    assert (
        "REMOTE HOST IDENTIFICATION HAS CHANGED" in mismatch.stderr
        or "verification failed" in mismatch.stderr
    )
    assert ssh_ping(new_status, "cpvm").returncode == 0


def test_exec_passes_output_and_exit_codes(cold_up: dict[str, Any], lab_files: tuple[Path, Path]) -> None:
    proc = simvms(
        lab_files,
        "exec",
        "web",
        "--",
        sys.executable,
        "-c",
        "import sys; print('hello'); print('err', file=sys.stderr); sys.exit(7)",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "hello\n", "err\n")
    proc = simvms(lab_files, "exec", "vr", "--", "ip", "-br", "addr", "show", "eth2")
    assert proc.returncode == 0 and "203.0.113.10/24" in proc.stdout
    proc = simvms(lab_files, "exec", "nosuchhost", "--", "true")
    assert proc.returncode == 1 and "no host 'nosuchhost'" in proc.stderr


def test_down_removes_everything_and_up_comes_back(
    cold_up: dict[str, Any], lab_files: tuple[Path, Path]
) -> None:
    status = json.loads((lab_files[1] / "status.json").read_text())
    pids = [h["ssh"]["pid"] for h in status["hosts"].values() if "ssh" in h]
    pids.append(Lab(*lab_files).status()["hosts"]["vr"]["ssh"]["pid"])
    assert all(pid_alive(p) for p in pids), (pids, status["problems"], [p for p in pids if not pid_alive(p)])
    assert simvms(lab_files, "down").returncode == 0
    assert namespaces_with_prefix() == []
    root_links = json.loads(
        subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    )
    assert [link["ifname"] for link in root_links if link["ifname"].startswith(f"{PREFIX}-")] == []
    assert not any(pid_alive(p) for p in pids)
    assert not (lab_files[1] / "status.json").exists()
    assert (lab_files[1] / "keys" / "id_ed25519").exists()  # keys are kept: host keys stay stable
    assert simvms(lab_files, "status").returncode == 1
    assert simvms(lab_files, "down").returncode == 0  # idempotent

    proc = simvms(lab_files, "up")
    assert proc.returncode == 0, proc.stderr
    again = json.loads((lab_files[1] / "status.json").read_text())
    assert again["hosts"]["vr"]["ssh"]["host_key"] == status["hosts"]["vr"]["ssh"]["host_key"]
    assert ssh_ping(again, "vr").returncode == 0
    started = time.monotonic()
    assert simvms(lab_files, "up").returncode == 0
    assert time.monotonic() - started < 5


def test_down_purge_removes_the_state_folder(cold_up: dict[str, Any], lab_files: tuple[Path, Path]) -> None:
    assert simvms(lab_files, "down", "--purge").returncode == 0
    assert not lab_files[1].exists()
    assert namespaces_with_prefix() == []


def test_not_root_is_a_clear_error(
    lab_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["--topology", str(lab_files[0]), "--state", str(lab_files[1]), "status"]) == 1
    assert capsys.readouterr().err.strip() == "simvms: needs root"


def test_missing_tool_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lab_module.REQUIRED_TOOLS, "/nonexistent/sshd", "openssh-server")
    problems = lab_module.prerequisite_problems()
    assert "simvms: missing /nonexistent/sshd: apt-get install openssh-server" in problems
