"""The compose lab: the zone of a topology file in Docker containers, driven through compose.

`ComposeLab.up()` makes sure an engine runs (starting dockerd if none does), the base image exists
(simvms.baseimage), builds the lab image offline on it, writes the compose file generated from the
topology into its state folder and brings the project up; `status()` reports the same shape as the
namespace lab's (`simvms status --json`), so the local stack and the DynamoDB loader take either.
`down()` removes every container, network and image it made (not the cached base image) and stops
the dockerd it started.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simvms import baseimage, engine
from simvms import sshd as lab_sshd
from simvms.compose import (
    BASE_IMAGE_VARIABLE,
    IMAGE,
    PORT_VARIABLE,
    STATE_VARIABLE,
    ComposePlan,
    build_compose_plan,
    render_compose,
)
from simvms.plan import interface_status
from simvms.sshd import SshdSpec, StatePaths
from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology

DEFAULT_STATE_DIR = Path("/run/simvms-compose")
REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 90.0
BANNER_TIMEOUT_SECONDS = 2.0


class ComposeLabError(RuntimeError):
    """A compose lab operation failed; the message says what to do."""


class ComposeLab:
    """The compose lab of a topology file, with its runtime state in state_dir."""

    def __init__(self, topology_path: str | Path | None = None, state_dir: str | Path | None = None) -> None:
        self.topology_path = Path(topology_path or DEFAULT_TOPOLOGY_FILE).resolve()
        state = state_dir or os.environ.get("SIMVMS_COMPOSE_STATE_DIR") or DEFAULT_STATE_DIR
        self.state_dir = Path(state).resolve()
        self.topology: Topology = load_topology(self.topology_path)
        self.plan: ComposePlan = build_compose_plan(self.topology)
        self.private_key = self.state_dir / "keys" / "id_ed25519"
        self.compose_file = self.state_dir / "docker-compose.yml"
        self.dockerd_pid = self.state_dir / "dockerd.pid"
        self.port_file = self.state_dir / "bastion-port"

    # -- paths -------------------------------------------------------------------------------

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    def host_key(self, host: str) -> Path:
        return self.host_dir(host) / "ssh_host_ed25519_key"

    def run_log(self, host: str) -> Path:
        return self.host_dir(host) / "runs.jsonl"

    # -- up ----------------------------------------------------------------------------------

    def up(self, progress: Callable[[str], None] = print) -> dict[str, Any]:
        """Bring the lab up; a healthy one is left as it is."""
        self._check_prerequisites()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if engine.ensure_engine(self.dockerd_pid, self.state_dir / "dockerd.log"):
            progress(f"compose lab: started dockerd (pid {self.dockerd_pid.read_text().strip()})")
        current = self.status()
        if current["up"]:
            return current
        base = baseimage.ensure_base_image(progress)
        self._prepare_state()
        progress(f"compose lab: building {IMAGE} on {base} (no registry)")
        self._build_image(base)
        for host in self.plan.hosts:
            (self.host_dir(host) / "ready").unlink(missing_ok=True)
        progress(f"compose lab: starting project {self.plan.project} ({len(self.plan.hosts)} containers)")
        self._compose("up", "--no-start", "--no-build", "--force-recreate", "--remove-orphans")
        self._quiet_bridges()
        self._compose("start")
        self._wait_ready()
        self._write_client_files()
        status = self.status()
        if not status["up"]:
            raise ComposeLabError(f"compose lab degraded after up: {'; '.join(status['problems'])}")
        return status

    def _check_prerequisites(self) -> None:
        problems = engine.prerequisite_problems()
        if problems:
            raise ComposeLabError("; ".join(problems))

    def _prepare_state(self) -> None:
        lab_sshd.ensure_key(self.private_key, "simvms-compose-lab")
        authorized = self.state_dir / "authorized"
        authorized.mkdir(exist_ok=True)
        shutil.copyfile(self.private_key.with_name("id_ed25519.pub"), authorized / "id_ed25519.pub")
        for host in self.plan.hosts:
            self.host_dir(host).mkdir(parents=True, exist_ok=True)
        if not self._saved_port_free():
            self.port_file.write_text(f"{free_loopback_port()}\n")
        self.compose_file.write_text(render_compose(self.topology_path, context=str(REPO_ROOT)))

    def _saved_port_free(self) -> bool:
        """Keep the bastion's port across down/up (known_hosts pins [127.0.0.1]:port) while it is free."""
        if not self.port_file.exists():
            return False
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", self.bastion_port))
            except OSError:
                return False
        return True

    @property
    def bastion_port(self) -> int:
        return int(self.port_file.read_text().strip())

    def _build_image(self, base: str) -> None:
        proc = subprocess.run(
            [
                engine.docker_binary() or "docker",
                "build",
                "--network",
                "none",
                "--build-arg",
                f"BASE_IMAGE={base}",
                "-t",
                IMAGE,
                "-f",
                str(REPO_ROOT / "simvms" / "Dockerfile"),
                str(REPO_ROOT),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},  # the classic builder: no registry, no buildx needed
        )
        if proc.returncode != 0:
            raise ComposeLabError(f"building {IMAGE} failed: {(proc.stdout + proc.stderr)[-1500:]}")

    def _quiet_bridges(self) -> None:
        """No IPv6 on the host side of the lab's bridges (the kernel would give each a link-local
        address, a way from the lab to the host); bridging IPv6 between containers is unaffected."""
        for network in self.plan.networks.values():
            setting = Path(f"/proc/sys/net/ipv6/conf/{network.bridge}/disable_ipv6")
            if not setting.exists():
                raise ComposeLabError(f"compose lab: bridge {network.bridge} of {network.name} is missing")
            setting.write_text("1\n")

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = engine.compose_command()
        if command is None:
            raise ComposeLabError("compose lab: missing docker-compose: apt-get install docker-compose")
        env = {
            **os.environ,
            STATE_VARIABLE: str(self.state_dir),
            PORT_VARIABLE: str(self.bastion_port) if self.port_file.exists() else "0",
            BASE_IMAGE_VARIABLE: baseimage.BASE_TAG,
        }
        proc = subprocess.run(
            [*command, "-p", self.plan.project, "-f", str(self.compose_file), *args],
            capture_output=True,
            text=True,
            env=env,
        )
        if check and proc.returncode != 0:
            raise ComposeLabError(f"compose {' '.join(args)} failed: {proc.stderr.strip()[-1500:]}")
        return proc

    def _wait_ready(self) -> None:
        """Every entrypoint writes hosts/<host>/ready once its interfaces, routes and sshd are set."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        waiting = set(self.plan.hosts)
        while waiting:
            waiting = {h for h in waiting if not (self.host_dir(h) / "ready").exists()}
            if not waiting:
                return
            states = self._container_states()
            dead = [h for h in waiting if states.get(self.plan.container(h), {}).get("Status") == "exited"]
            if dead or time.monotonic() > deadline:
                host = (dead or sorted(waiting))[0]
                logs = engine.docker("logs", "--tail", "20", self.plan.container(host), check=False)
                raise ComposeLabError(
                    f"compose lab: {sorted(dead or waiting)} not ready; {host}'s log: "
                    f"{(logs.stdout + logs.stderr)[-800:]}"
                )
            time.sleep(0.2)

    def _write_client_files(self) -> None:
        """known_hosts (the host keys the entrypoints made or kept) and an ssh_config, as the namespace
        lab writes them: `ssh -F <state>/ssh_config vr ping -c 1 198.51.100.80`."""
        paths = StatePaths(self.state_dir)
        specs = {}
        for name, host in self.plan.hosts.items():
            if host.sshd is None:
                continue
            bastion = name == self.plan.bastion
            specs[name] = SshdSpec(
                host=name,
                namespace=host.container,
                address="127.0.0.1" if bastion else host.sshd["address"],
                port=self.bastion_port if bastion else host.sshd["port"],
                user=host.sshd["user"],
                key_options="",
            )
        lab_sshd.write_known_hosts(
            [(s.address, s.port, lab_sshd.public_key_text(self.host_key(s.host))) for s in specs.values()],
            paths,
        )
        vms = [
            (specs[vm.name], [a for a in (vm.vm_name, vm.uuid) if a])
            for vm in self.topology.system_vms()
            if vm.name in specs
        ]
        lab_sshd.write_ssh_config(specs[self.plan.bastion], vms, paths)

    # -- status ------------------------------------------------------------------------------

    def _container_states(self) -> dict[str, dict[str, Any]]:
        names = [h.container for h in self.plan.hosts.values()]
        listed = engine.docker("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
        present = [n for n in names if n in listed]
        if not present:
            return {}
        return {c["Name"].lstrip("/"): c["State"] for c in engine.docker_json("inspect", *present)}

    def _ready_report(self, host: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.host_dir(host) / "ready").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def status(self) -> dict[str, Any]:
        """What is really there: containers, interfaces (names and MACs read back), host keys, the port."""
        issues: list[str] = []
        running = engine.engine_running()
        states = self._container_states() if running else {}
        if not running:
            issues.append("no Docker engine answers")
        hosts: dict[str, Any] = {}
        for host in self.topology.hosts:
            planned = self.plan.hosts[host.name]
            state = states.get(planned.container, {})
            if not state.get("Running"):
                issues.append(f"container {planned.container} not running")
            report = self._ready_report(host.name) if state.get("Running") else None
            if state.get("Running") and report is None:
                issues.append(f"{host.name} not ready")
            links = {link["ifname"]: link for link in (report or {}).get("links", [])}
            interfaces = []
            for iface in host.interfaces:
                link = links.get(iface.name)
                if report is not None and (link is None or link.get("address") != iface.mac):
                    issues.append(f"{host.name}: {iface.name} missing or without MAC {iface.mac}")
                mtu = self.plan.networks[iface.network].mtu  # only one set: a dockerd may change the default
                if link is not None and mtu is not None and link.get("mtu") != mtu:
                    issues.append(f"{host.name}: {iface.name} has MTU {link.get('mtu')}, want {mtu}")
                interfaces.append(interface_status(iface, link))
            entry: dict[str, Any] = {
                "kind": str(host.kind),
                "container": planned.container,
                "uuid": host.uuid,
                "vm_name": host.vm_name,
                "interfaces": interfaces,
            }
            if planned.sshd is not None and host.name != self.plan.bastion:
                entry["ssh"] = self._ssh_status(host.name, planned.sshd, report)
                if not entry["ssh"]["running"]:
                    issues.append(f"sshd of {host.name} not running")
            hosts[host.name] = entry
        bastion_sshd = self.plan.hosts[self.plan.bastion].sshd or {}
        bastion = self._ssh_status(self.plan.bastion, bastion_sshd, self._ready_report(self.plan.bastion))
        bastion.update(
            {"address": "127.0.0.1", "port": self.bastion_port if self.port_file.exists() else None}
        )
        if not (bastion["running"] and bastion["port"] and _ssh_banner("127.0.0.1", bastion["port"])):
            issues.append("bastion not answering SSH on its published port")
        return {
            "up": not issues,
            "problems": issues,
            "kind": "compose",
            "prefix": self.plan.project,
            "project": self.plan.project,
            "state_dir": str(self.state_dir),
            "topology": str(self.topology_path),
            "compose_file": str(self.compose_file),
            "bastion": {
                "container": self.plan.container(self.plan.bastion),
                "address": bastion["address"],
                "port": bastion["port"],
                "user": bastion["user"],
                "host_key": bastion["host_key"],
            },
            "private_key": str(self.private_key),
            "public_key": str(self.private_key.with_name("id_ed25519.pub")),
            "known_hosts": str(self.state_dir / "known_hosts"),
            "ssh_config": str(self.state_dir / "ssh_config"),
            "hosts": hosts,
        }

    def _ssh_status(self, host: str, sshd: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
        pub = self.host_key(host).with_name(self.host_key(host).name + ".pub")
        return {
            "address": sshd.get("address"),
            "port": sshd.get("port"),
            "user": sshd.get("user", "root"),
            "host_key": lab_sshd.public_key_text(self.host_key(host)) if pub.exists() else None,
            "pid": (report or {}).get("sshd_pid"),
            "running": bool(report and report.get("sshd_pid")),
        }

    def write_status(self, status: dict[str, Any]) -> Path:
        path = self.state_dir / "status.json"
        path.write_text(json.dumps(status, indent=2, sort_keys=True) + "\n")
        return path

    # -- down --------------------------------------------------------------------------------

    def down(self, purge: bool = False) -> None:
        """Remove the project's containers, networks, volumes and the lab image; stop our dockerd.

        The cached base image stays. Host keys stay (stable across down/up) unless purge."""
        if engine.engine_running():
            if self.compose_file.exists():
                self._compose("down", "--volumes", "--remove-orphans", "--timeout", "3", check=False)
            self._remove_leftovers()
        engine.stop_engine(self.dockerd_pid)
        for host in self.plan.hosts:
            (self.host_dir(host) / "ready").unlink(missing_ok=True)
        if purge:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _remove_leftovers(self) -> None:
        """What compose may leave (a crashed up, an older file): ours by name, and the lab image."""
        containers = [h.container for h in self.plan.hosts.values()]
        listed = engine.docker("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
        if doomed := [c for c in containers if c in listed]:
            engine.docker("rm", "-f", "-v", *doomed, check=False)
        self._remove_networks()
        if engine.image_exists(IMAGE):
            engine.docker("image", "rm", IMAGE, check=False)

    def _remove_networks(self, within_seconds: float = 15.0) -> None:
        """Our networks, gone. dockerd may keep a removed container's endpoint on a network ("has active
        endpoints"): for a moment, or stale until it is disconnected by force (CI once kept one past a
        15 s wait). So each try first disconnects, by force, every endpoint our networks still list (no
        container of ours is left by now), then removes them; tried again for a bounded time."""
        names = {n.name for n in self.plan.networks.values()}
        deadline = time.monotonic() + within_seconds
        while True:
            listed = engine.docker("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
            doomed = sorted(names & set(listed))
            if not doomed or time.monotonic() > deadline:
                break
            for network in doomed:
                for endpoint in _endpoints(network):
                    engine.docker("network", "disconnect", "--force", network, endpoint, check=False)
            engine.docker("network", "rm", *doomed, check=False)
            time.sleep(0.2)
        if doomed:
            held = {network: _endpoints(network) for network in doomed}
            print(f"simvms: networks still in use: {held}", file=sys.stderr)

    # -- operations on one host --------------------------------------------------------------

    def exec(self, host: str, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run argv in the host's container (no shell)."""
        if host not in self.plan.hosts:
            raise ComposeLabError(f"compose lab: no host {host!r} in {self.topology_path}")
        return subprocess.run(
            [engine.docker_binary() or "docker", "exec", self.plan.container(host), *argv], **kwargs
        )


def _endpoints(network: str) -> list[str]:
    """The names of the endpoints a docker network still lists (stale ones included)."""
    inspected = engine.docker(
        "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", network, check=False
    )
    return inspected.stdout.split() if inspected.returncode == 0 else []


def _ssh_banner(address: str, port: int) -> bool:
    """An SSH server answers there (the published port reaches the bastion's sshd)."""
    try:
        with socket.create_connection((address, port), timeout=BANNER_TIMEOUT_SECONDS) as conn:
            conn.settimeout(BANNER_TIMEOUT_SECONDS)
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False
