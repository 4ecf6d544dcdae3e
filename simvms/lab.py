"""The namespace lab: one network namespace per host, one switch namespace holding a bridge per network.

`Lab.up()` builds it (idempotent: a healthy lab is left untouched, a broken one is rebuilt),
`Lab.down()` removes it, `Lab.status()` reports what is really there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from simvms import plan as lab_plan
from simvms import sshd
from simvms.plan import LabPlan, PlannedHost, interface_status
from simvms.sshd import SshdSpec, StatePaths
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Host, Topology, load_topology

DEFAULT_STATE_DIR = Path("/run/simvms")
NETNS_DIR = Path("/run/netns")
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "sysctl": "procps",
    sshd.SSHD: "openssh-server",
    sshd.SSH_KEYGEN: "openssh-client",
    sshd.SSH: "openssh-client",
}
DIAGNOSTIC_TOOLS = {
    "ping": "iputils-ping",
    "traceroute": "traceroute",
    "arping": "arping",
    "mtr": "mtr-tiny",
    "tracepath": "iputils-tracepath",
    "ndisc6": "ndisc6",
    "iptables-save": "iptables",  # the VM-state verb's firewall part (POST /diagnostics/data)
}


class LabError(RuntimeError):
    """A lab operation failed; the message says what to do."""


def prerequisite_problems(with_diagnostic_tools: bool = False) -> list[str]:
    """What this machine lacks to run the lab, each as "simvms: ..." with the package to install."""
    if os.geteuid() != 0:
        return ["simvms: needs root"]
    tools = {**REQUIRED_TOOLS, **(DIAGNOSTIC_TOOLS if with_diagnostic_tools else {})}
    problems = []
    for tool, package in tools.items():
        found = os.access(tool, os.X_OK) if "/" in tool else shutil.which(tool) is not None
        if not found:
            problems.append(f"simvms: missing {tool}: apt-get install {package}")
    return problems


def check_prerequisites() -> None:
    """Fail early and clearly: the lab needs root and a few packages."""
    problems = prerequisite_problems()
    if problems:
        raise LabError("; ".join(problems))


def _ip(
    args: list[str], namespace: str | None = None, batch: list[str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = ["ip"]
    if namespace is not None:
        argv += ["-n", namespace]
    argv += args
    if batch is not None:
        argv += ["-batch", "-"]
    proc = subprocess.run(
        argv, input="\n".join(batch) + "\n" if batch is not None else None, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise LabError(f"simvms: {' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def _ip_json(args: list[str], namespace: str) -> list[dict[str, Any]]:
    proc = _ip(["-j", *args], namespace=namespace, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return json.loads(proc.stdout)


def existing_namespaces() -> set[str]:
    try:
        return {p.name for p in NETNS_DIR.iterdir()}
    except FileNotFoundError:
        return set()


class Lab:
    """The lab described by a topology file, with its runtime state in state_dir."""

    def __init__(self, topology_path: str | Path | None = None, state_dir: str | Path | None = None) -> None:
        self.topology_path = Path(topology_path or DEFAULT_TOPOLOGY_FILE).resolve()
        state = state_dir or os.environ.get("SIMVMS_STATE_DIR") or DEFAULT_STATE_DIR
        self.state_dir = Path(state).resolve()
        self.paths = StatePaths(self.state_dir)
        self.topology: Topology = load_topology(self.topology_path)
        self.plan: LabPlan = lab_plan.build_plan(self.topology)

    # -- descriptions --------------------------------------------------------------------------

    def namespace(self, host: str) -> str:
        return self.plan.hosts[host].namespace

    def system_vms(self) -> list[Host]:
        return [h for h in self.topology.system_vms() if h.ssh is not None and h.ssh.address is not None]

    def bastion_spec(self) -> SshdSpec:
        bastion = self.topology.bastion()
        vm_opens = ",".join(
            f'permitopen="{vm.ssh.address}:{vm.ssh.port}"' for vm in self.system_vms() if vm.ssh
        )
        permit = " ".join(f"{vm.ssh.address}:{vm.ssh.port}" for vm in self.system_vms() if vm.ssh)
        command = sshd.vmside_command("--bastion", "--log", str(self.paths.run_log(bastion.name)))
        return SshdSpec(
            host=bastion.name,
            namespace=self.namespace(bastion.name),
            address=str(self.plan.host_link_bastion_address.ip),
            port=bastion.ssh.port if bastion.ssh else 22,
            user=bastion.ssh.user if bastion.ssh else "root",
            key_options=f'restrict,port-forwarding,{vm_opens},command="{command}"',
            extra_config=(
                "AllowTcpForwarding local",
                f"PermitOpen {permit}",
                "PermitListen none",
                "GatewayPorts no",
            ),
        )

    def vm_spec(self, vm: Host) -> SshdSpec:
        assert vm.ssh is not None and vm.ssh.address is not None
        run_log = str(self.paths.run_log(vm.name))
        # A state request's log:sysvmdiag reads this VM's own run log; the lab has no other VM logs.
        command = sshd.vmside_command(
            "--host", vm.name, "--log", run_log, "--state-log", f"sysvmdiag={run_log}"
        )
        return SshdSpec(
            host=vm.name,
            namespace=self.namespace(vm.name),
            address=str(vm.ssh.address),
            port=vm.ssh.port,
            user=vm.ssh.user,
            key_options=f'restrict,command="{command}"',
            extra_config=("AllowTcpForwarding no",),
        )

    def sshd_specs(self) -> list[SshdSpec]:
        return [self.bastion_spec(), *(self.vm_spec(vm) for vm in self.system_vms())]

    # -- up ------------------------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        """Bring the lab up; if it is already up and healthy, change nothing."""
        check_prerequisites()
        changed_configs = self._prepare_state()
        for host in changed_configs:
            sshd.stop_sshd(self.paths, host)  # restarted below with its new config
        if self.problems():
            self._teardown_network()
            self._stop_all_sshd()
            self._build_network()
        for spec in self.sshd_specs():
            if sshd.sshd_running(self.paths, spec.host) is None:
                sshd.stop_sshd(self.paths, spec.host)
                sshd.start_sshd(spec, self.paths)
        status = self.status()
        self.write_status(status)
        if not status["up"]:
            raise LabError(f"simvms: lab is degraded after up: {'; '.join(status['problems'])}")
        return status

    def _prepare_state(self) -> list[str]:
        """Keys, sshd configs, known_hosts and ssh_config; existing keys are kept (stable host keys).

        Returns the hosts whose sshd config changed."""
        for directory in (self.state_dir, self.paths.runtime, self.paths.runs, self.paths.sshd):
            directory.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        sshd.ensure_key(self.paths.private_key, "simvms-lab")
        changed = []
        for spec in self.sshd_specs():
            sshd.ensure_key(self.paths.hostkey(spec.host), f"simvms-{spec.host}-hostkey")
            if sshd.write_sshd_files(spec, self.paths):
                changed.append(spec.host)
        self._write_client_files()
        return changed

    def _write_client_files(self) -> None:
        specs = self.sshd_specs()
        sshd.write_known_hosts(
            [(s.address, s.port, sshd.public_key_text(self.paths.hostkey(s.host))) for s in specs], self.paths
        )
        vms = [(self.vm_spec(vm), [a for a in (vm.vm_name, vm.uuid) if a]) for vm in self.system_vms()]
        sshd.write_ssh_config(specs[0], vms, self.paths)

    def _build_network(self) -> None:
        plan = self.plan
        _ip(["-batch", "-"], batch=[f"netns add {ns}" for ns in plan.namespaces])
        sysctl_jobs = [(plan.switch_namespace, lab_plan.SWITCH_SYSCTLS)] + [
            (h.namespace, h.sysctls) for h in plan.hosts.values()
        ]
        self._run_parallel(
            [
                ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values)]
                for ns, values in sysctl_jobs
            ]
        )
        _ip([], namespace=plan.switch_namespace, batch=lab_plan.switch_batch(plan))
        bastion_ns = plan.hosts[plan.bastion].namespace
        root_if = plan.host_link_root_ifname
        _ip(
            [
                "link",
                "add",
                root_if,
                "type",
                "veth",
                "peer",
                "name",
                lab_plan.HOST_LINK_BASTION_IFNAME,
                "netns",
                bastion_ns,
            ]
        )
        # The host link is IPv4 only: no link-local IPv6 path between the host and the lab.
        Path(f"/proc/sys/net/ipv6/conf/{root_if}/disable_ipv6").write_text("1\n")
        _ip(["addr", "add", plan.host_link_root_address.with_prefixlen, "dev", root_if])
        _ip(["link", "set", root_if, "up"])
        self._run_parallel(
            [["ip", "-n", h.namespace, "-batch", "-"] for h in plan.hosts.values()],
            inputs=["\n".join(lab_plan.host_batch(h)) + "\n" for h in plan.hosts.values()],
        )
        uplink = lab_plan.HOST_LINK_BASTION_IFNAME
        _ip(["netns", "exec", bastion_ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{uplink}.disable_ipv6=1"])
        _ip(
            [],
            namespace=bastion_ns,
            batch=[
                f"addr add {plan.host_link_bastion_address.with_prefixlen} dev {uplink}",
                f"link set {uplink} up",
            ],
        )

    @staticmethod
    def _run_parallel(commands: list[list[str]], inputs: list[str] | None = None) -> None:
        def run(index: int) -> subprocess.CompletedProcess[str]:
            data = inputs[index] if inputs is not None else None
            return subprocess.run(commands[index], input=data, capture_output=True, text=True)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(run, range(len(commands))))
        for argv, proc in zip(commands, results, strict=True):
            if proc.returncode != 0:
                raise LabError(f"simvms: {' '.join(argv)} failed: {proc.stderr.strip()}")

    # -- health and status ---------------------------------------------------------------------

    def _observe(self) -> dict[str, dict[str, Any]]:
        """Per namespace: its addresses/links and v4/v6 routes, read with `ip -j` in parallel."""
        present = existing_namespaces()
        jobs = [
            (h.namespace, kind)
            for h in self.plan.hosts.values()
            if h.namespace in present
            for kind in ("addr", "route4", "route6")
        ]
        if self.plan.switch_namespace in present:
            jobs.append((self.plan.switch_namespace, "addr"))
        args = {
            "addr": ["addr", "show"],
            "route4": ["-4", "route", "show"],
            "route6": ["-6", "route", "show"],
        }

        def fetch(job: tuple[str, str]) -> list[dict[str, Any]]:
            return _ip_json(args[job[1]], job[0])

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(fetch, jobs))
        observed: dict[str, dict[str, Any]] = {}
        for (ns, kind), result in zip(jobs, results, strict=True):
            observed.setdefault(ns, {})[kind] = result
        return observed

    def problems(self, observed: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """Everything that differs from the plan (empty when the lab is up and healthy)."""
        observed = self._observe() if observed is None else observed
        issues: list[str] = []
        for ns in self.plan.namespaces:
            if ns not in observed:
                issues.append(f"namespace {ns} missing")
        switch_links = {
            link["ifname"]: link for link in observed.get(self.plan.switch_namespace, {}).get("addr", [])
        }
        for host in self.plan.hosts.values():
            if host.namespace not in observed:
                continue
            issues += self._host_problems(host, observed[host.namespace])
            for iface in host.interfaces:
                peer = switch_links.get(iface.peer)
                if peer is None or peer.get("master") != iface.bridge or "UP" not in peer.get("flags", []):
                    issues.append(f"switch port {iface.peer} of {host.name}/{iface.name} is off its bridge")
        links = {ns: {link["ifname"]: link for link in seen.get("addr", [])} for ns, seen in observed.items()}
        issues += lab_plan.mtu_problems(self.plan, links)
        root_link = self._root_link()
        if root_link is None or self.plan.host_link_root_address.with_prefixlen not in _addresses(root_link):
            issues.append(f"host link {self.plan.host_link_root_ifname} missing")
        bastion_ns = self.plan.hosts[self.plan.bastion].namespace
        bastion_links = {link["ifname"]: link for link in observed.get(bastion_ns, {}).get("addr", [])}
        uplink = bastion_links.get(lab_plan.HOST_LINK_BASTION_IFNAME)
        if uplink is None or self.plan.host_link_bastion_address.with_prefixlen not in _addresses(uplink):
            issues.append("bastion uplink missing")
        return issues

    def _root_link(self) -> dict[str, Any] | None:
        proc = _ip(["-j", "addr", "show", "dev", self.plan.host_link_root_ifname], check=False)
        if proc.returncode != 0 or not proc.stdout.strip():
            return None
        links = json.loads(proc.stdout)
        return links[0] if links else None

    @staticmethod
    def _host_problems(host: PlannedHost, seen: dict[str, Any]) -> list[str]:
        issues = []
        links = {link["ifname"]: link for link in seen.get("addr", [])}
        if "UP" not in links.get("lo", {}).get("flags", []):
            issues.append(f"{host.name}: lo down")
        for iface in host.interfaces:
            link = links.get(iface.name)
            if link is None:
                issues.append(f"{host.name}: {iface.name} missing")
                continue
            if link.get("address") != iface.mac:
                issues.append(f"{host.name}: {iface.name} has MAC {link.get('address')}, want {iface.mac}")
            if link.get("operstate") != "UP":
                issues.append(f"{host.name}: {iface.name} is {link.get('operstate')}")
            have = _addresses(link)
            for want in (iface.ipv4, iface.ipv6):
                if want is not None and want.with_prefixlen not in have:
                    issues.append(f"{host.name}: {iface.name} lacks {want.with_prefixlen}")
        routes = {(r.get("dst"), r.get("gateway")) for r in seen.get("route4", []) + seen.get("route6", [])}
        for route in host.routes:
            key = (route.ip_destination, str(route.via) if route.via is not None else None)
            if route.via is None:
                if not any(dst == route.ip_destination for dst, _ in routes):
                    issues.append(f"{host.name}: route {route.ip_destination} missing")
            elif key not in routes:
                issues.append(f"{host.name}: route {route.ip_destination} via {route.via} missing")
        return issues

    def status(self) -> dict[str, Any]:
        """What is really there: namespaces, interfaces (MACs read back), sshd pids and host keys."""
        observed = self._observe()
        issues = self.problems(observed)
        hosts: dict[str, Any] = {}
        for host in self.topology.hosts:
            planned = self.plan.hosts[host.name]
            links = {link["ifname"]: link for link in observed.get(planned.namespace, {}).get("addr", [])}
            interfaces = []
            for iface in host.interfaces:
                interfaces.append(interface_status(iface, links.get(iface.name)))
            entry: dict[str, Any] = {
                "kind": str(host.kind),
                "namespace": planned.namespace,
                "uuid": host.uuid,
                "vm_name": host.vm_name,
                "interfaces": interfaces,
            }
            if host.is_system_vm and host.ssh is not None:
                entry["ssh"] = self._ssh_status(self.vm_spec(host))
                if not entry["ssh"]["running"]:
                    issues.append(f"sshd of {host.name} not running")
            hosts[host.name] = entry
        bastion = self._ssh_status(self.bastion_spec())
        if not bastion["running"]:
            issues.append("sshd of bastion not running")
        return {
            "up": not issues,
            "problems": issues,
            "prefix": self.plan.prefix,
            "state_dir": str(self.state_dir),
            "topology": str(self.topology_path),
            "bastion": {
                "namespace": self.namespace(self.plan.bastion),
                "address": bastion["address"],
                "port": bastion["port"],
                "user": bastion["user"],
                "host_key": bastion["host_key"],
            },
            "host_link": {
                "interface": self.plan.host_link_root_ifname,
                "address": self.plan.host_link_root_address.with_prefixlen,
            },
            "private_key": str(self.paths.private_key),
            "public_key": str(self.paths.public_key),
            "known_hosts": str(self.paths.known_hosts),
            "ssh_config": str(self.paths.ssh_config),
            "hosts": hosts,
        }

    def _ssh_status(self, spec: SshdSpec) -> dict[str, Any]:
        hostkey = self.paths.hostkey(spec.host)
        pid = sshd.sshd_running(self.paths, spec.host)
        return {
            "address": spec.address,
            "port": spec.port,
            "user": spec.user,
            "host_key": sshd.public_key_text(hostkey)
            if hostkey.with_name(hostkey.name + ".pub").exists()
            else None,
            "pid": pid,
            "running": pid is not None,
        }

    def write_status(self, status: dict[str, Any]) -> None:
        """status.json for other tools (the DynamoDB loader, tests); rewritten only when it changed."""
        text = json.dumps(status, indent=2, sort_keys=True) + "\n"
        self.paths.status.parent.mkdir(parents=True, exist_ok=True)
        if not self.paths.status.exists() or self.paths.status.read_text() != text:
            tmp = self.paths.status.with_name("status.json.tmp")
            tmp.write_text(text)
            tmp.replace(self.paths.status)

    # -- down ----------------------------------------------------------------------------------

    def down(self, purge: bool = False) -> None:
        """Stop our sshds (by verified pid), delete the lab's namespaces and host link; idempotent.

        Generated keys are kept so host keys stay stable across down/up; purge removes the state folder.
        """
        check_prerequisites()
        self._stop_all_sshd()
        self._teardown_network()
        self.paths.status.unlink(missing_ok=True)
        shutil.rmtree(self.paths.runtime, ignore_errors=True)
        if purge:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _stop_all_sshd(self) -> None:
        for spec in self.sshd_specs():
            sshd.stop_sshd(self.paths, spec.host)
        if self.paths.sshd.exists():
            for pid, config in sshd.stray_sshd_pids(self.paths):
                sshd.stop_pid(pid, config)

    def _teardown_network(self) -> None:
        present = existing_namespaces()
        doomed = [ns for ns in self.plan.namespaces if ns in present]
        if doomed:
            _ip(["-batch", "-"], batch=[f"netns del {ns}" for ns in doomed])
        if self._root_link() is not None:
            _ip(["link", "del", self.plan.host_link_root_ifname])

    # -- operations on one host ----------------------------------------------------------------

    def exec(self, host: str, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run argv inside the host's namespace (no shell), returning the completed process."""
        if host not in self.plan.hosts:
            raise LabError(f"simvms: no host {host!r} in {self.topology_path}")
        return subprocess.run(["ip", "netns", "exec", self.namespace(host), *argv], **kwargs)

    def _sshd_spec_for(self, host: str) -> SshdSpec:
        if host == self.plan.bastion:
            return self.bastion_spec()
        try:
            vm = self.topology.system_vm(host)
        except KeyError:
            raise LabError(f"simvms: {host!r} is not a system VM or the bastion") from None
        return self.vm_spec(vm)

    def stop_sshd(self, host: str) -> dict[str, Any]:
        """Stop one host's sshd (fault tests: an unreachable VM); returns the new status."""
        spec = self._sshd_spec_for(host)
        sshd.stop_sshd(self.paths, spec.host)
        return self._refresh_status()

    def start_sshd(self, host: str) -> dict[str, Any]:
        spec = self._sshd_spec_for(host)
        if sshd.sshd_running(self.paths, spec.host) is None:
            sshd.start_sshd(spec, self.paths)
        return self._refresh_status()

    def rekey(self, host: str) -> dict[str, Any]:
        """New host key for one host (known_hosts is regenerated) and restart its sshd."""
        spec = self._sshd_spec_for(host)
        sshd.stop_sshd(self.paths, spec.host)
        sshd.generate_key(self.paths.hostkey(spec.host), f"simvms-{spec.host}-hostkey")
        self._write_client_files()
        sshd.start_sshd(spec, self.paths)
        return self._refresh_status()

    def _refresh_status(self) -> dict[str, Any]:
        status = self.status()
        self.write_status(status)
        return status


def _addresses(link: dict[str, Any]) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])}
