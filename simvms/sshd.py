"""OpenSSH for the lab: keys, sshd configs, authorized_keys, known_hosts, ssh_config, and sshd processes.

Every system VM runs a real sshd whose only authorized key is forced to run the VM-side
diagnostics program; the bastion's sshd only opens forwarded connections to the VMs' 3922.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sysvmdiag.local.processes import children_of, cmdline_words, pid_alive

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
SSH = "/usr/bin/ssh"
PRIVSEP_DIR = Path("/run/sshd")
LISTEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class SshdSpec:
    """One sshd of the lab: where it listens, in which namespace, and what its key may do."""

    host: str
    namespace: str
    address: str
    port: int
    user: str
    key_options: str  # authorized_keys options placed before the lab public key
    extra_config: tuple[str, ...] = ()


class StatePaths:
    """The layout of the state folder (see simvms/README.md)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"
        self.private_key = self.keys / "id_ed25519"
        self.public_key = self.keys / "id_ed25519.pub"
        self.hostkeys = root / "hostkeys"
        self.sshd = root / "sshd"
        self.runtime = root / "run"
        self.runs = root / "runs"
        self.known_hosts = root / "known_hosts"
        self.ssh_config = root / "ssh_config"
        self.status = root / "status.json"

    def hostkey(self, host: str) -> Path:
        return self.hostkeys / f"{host}_ed25519"

    def sshd_config(self, host: str) -> Path:
        return self.sshd / f"{host}.conf"

    def sshd_log(self, host: str) -> Path:
        return self.sshd / f"{host}.log"

    def authorized_keys(self, host: str) -> Path:
        return self.sshd / f"{host}.authorized_keys"

    def pidfile(self, host: str) -> Path:
        return self.runtime / f"sshd-{host}.pid"

    def run_log(self, host: str) -> Path:
        return self.runs / f"{host}.jsonl"


def generate_key(path: Path, comment: str) -> None:
    """A fresh ed25519 keypair at path (private) and path.pub, replacing any old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def ensure_key(path: Path, comment: str) -> None:
    """Keep existing keys (host keys stay stable across down/up), create missing ones."""
    if not (path.exists() and path.with_name(path.name + ".pub").exists()):
        generate_key(path, comment)
    path.chmod(0o600)


def public_key_text(path: Path) -> str:
    """'ssh-ed25519 AAAA...' without the comment, the form known_hosts and the API pin."""
    kind, blob, *_ = path.with_name(path.name + ".pub").read_text().split()
    return f"{kind} {blob}"


def vmside_command(*args: str) -> str:
    """The forced command: this venv's python running the VM-side program (absolute, no PATH lookup;
    -I so neither the login's working directory nor PYTHON* variables can change what is imported)."""
    return " ".join([sys.executable, "-I", "-m", "sysvmdiag.vmside", *args])


def sshd_config_text(spec: SshdSpec, paths: StatePaths) -> str:
    lines = [
        f"# simvms: sshd of {spec.host} in namespace {spec.namespace} (generated)",
        f"ListenAddress {spec.address}:{spec.port}",
        f"HostKey {paths.hostkey(spec.host)}",
        "PidFile none",
        f"AuthorizedKeysFile {paths.authorized_keys(spec.host)}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {spec.user}",
        "StrictModes no",
        "MaxStartups 50:30:100",
        "PermitUserEnvironment no",
        "AllowAgentForwarding no",
        "AllowStreamLocalForwarding no",
        "X11Forwarding no",
        "PermitTunnel no",
        "PermitTTY no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "LogLevel INFO",
        *spec.extra_config,
    ]
    return "\n".join(lines) + "\n"


def write_sshd_files(spec: SshdSpec, paths: StatePaths) -> bool:
    """Write the sshd config and authorized_keys; True when the config changed (sshd must restart)."""
    paths.sshd.mkdir(parents=True, exist_ok=True)
    changed = _write_if_changed(paths.sshd_config(spec.host), sshd_config_text(spec, paths))
    pubkey = paths.public_key.read_text().strip()
    _write_if_changed(paths.authorized_keys(spec.host), f"{spec.key_options} {pubkey}\n")  # read per login
    return changed


def _write_if_changed(path: Path, text: str) -> bool:
    """Rewrite only when the content differs, so an idempotent `up` touches nothing."""
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def known_host_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def write_known_hosts(entries: list[tuple[str, int, str]], paths: StatePaths) -> None:
    """entries: (address, port, "ssh-ed25519 AAAA...")."""
    lines = []
    for address, port, key in entries:
        lines.append(f"{known_host_pattern(address, port)} {key}")
        if port == 22:
            lines.append(f"[{address}]:22 {key}")
    _write_if_changed(paths.known_hosts, "\n".join(lines) + "\n")


def write_ssh_config(bastion: SshdSpec, vms: list[tuple[SshdSpec, list[str]]], paths: StatePaths) -> None:
    """An ssh_config for `ssh -F <state>/ssh_config vr ping -c 1 ...`, jumping through the bastion.

    Each VM jumps with an explicit ProxyCommand that passes -F again, so the jump itself uses the
    lab key and known_hosts too, whatever the user's own ~/.ssh/config says.
    """
    common = [
        f"  IdentityFile {paths.private_key}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {paths.known_hosts}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  CheckHostIP no",
        "  BatchMode yes",
        "  PasswordAuthentication no",
        "  ConnectTimeout 10",
        "  LogLevel ERROR",
    ]
    blocks = [
        "# simvms: lab ssh_config (generated). Usage: ssh -F <this file> vr ping -c 1 198.51.100.80",
        f"Host bastion {bastion.address}",
        f"  HostName {bastion.address}",
        f"  Port {bastion.port}",
        f"  User {bastion.user}",
        *common,
    ]
    for spec, aliases in vms:
        blocks += [
            "",
            "Host " + " ".join([spec.host, *aliases, spec.address]),
            f"  HostName {spec.address}",
            f"  Port {spec.port}",
            f"  User {spec.user}",
            f"  ProxyCommand {SSH} -F {paths.ssh_config} -W %h:%p bastion",
            *common,
        ]
    _write_if_changed(paths.ssh_config, "\n".join(blocks) + "\n")


# -- processes -----------------------------------------------------------------------------


def read_pid(paths: StatePaths, host: str) -> int | None:
    try:
        return int(paths.pidfile(host).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _sshd_config_of(pid: int) -> Path | None:
    """The -f config of a live sshd process, or None if pid is not a live sshd.

    sshd rewrites its argv into one title ("sshd: /usr/sbin/sshd -D -f CONF ... [listener]"),
    so the words are split on NULs and spaces; the executable is checked through /proc/<pid>/exe.
    """
    try:
        if os.readlink(f"/proc/{pid}/exe") != SSHD:
            return None
    except OSError:
        return None
    if not pid_alive(pid):
        return None
    words = cmdline_words(pid)
    for flag, value in itertools.pairwise(words):
        if flag == "-f":
            return Path(value)
    return None


def is_our_sshd(pid: int, config: Path) -> bool:
    """True when pid is alive and is an sshd started with our config file (guards against pid reuse)."""
    return _sshd_config_of(pid) == config


def sshd_running(paths: StatePaths, host: str) -> int | None:
    """The pid of this host's sshd when it runs, else None."""
    pid = read_pid(paths, host)
    if pid is not None and is_our_sshd(pid, paths.sshd_config(host)):
        return pid
    return None


def start_sshd(spec: SshdSpec, paths: StatePaths) -> int:
    """Start sshd in the host's namespace as a detached session; wait until it listens."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    paths.runtime.mkdir(parents=True, exist_ok=True)
    log = paths.sshd_log(spec.host)
    log.write_text("")
    config = paths.sshd_config(spec.host)
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", spec.namespace, SSHD, "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    paths.pidfile(spec.host).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < deadline:
        if "Server listening on" in log.read_text(errors="replace"):
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"simvms: sshd of {spec.host} did not start; see {log}: {log.read_text()[-500:]}")


def stop_pid(pid: int, config: Path, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after grace, an sshd we verified is ours; reap it if it is our child."""
    if not is_our_sshd(pid, config):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_our_sshd(pid, config):
            return
        time.sleep(0.02)
    if is_our_sshd(pid, config):
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            _reap(pid)
            if not is_our_sshd(pid, config):
                return
            time.sleep(0.02)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_sshd(paths: StatePaths, host: str) -> None:
    """Stop the listener and end its open connections, as a VM that is rebuilt or rebooted does (a
    client holding a connection, like a ControlMaster, must not go on as if nothing happened)."""
    pid = read_pid(paths, host)
    if pid is not None and is_our_sshd(pid, paths.sshd_config(host)):
        for child in children_of(pid):  # children of our verified listener: its connections
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        stop_pid(pid, paths.sshd_config(host))
    paths.pidfile(host).unlink(missing_ok=True)


def stray_sshd_pids(paths: StatePaths) -> list[tuple[int, Path]]:
    """sshd processes running one of our configs whose pid file was lost (for a thorough `down`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        config = _sshd_config_of(int(entry.name))
        if config is not None and config.parent == paths.sshd and config.suffix == ".conf":
            found.append((int(entry.name), config))
    return found
