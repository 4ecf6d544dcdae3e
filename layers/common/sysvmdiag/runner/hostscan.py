"""First-use scan of a system VM's SSH host key through the bastion, for an operator to confirm.

The bastion is connected to as the runner connects to it (its pinned key, the runner's login key).
Through a direct-tcpip channel to the VM's control address only the key exchange runs, offering the
usual host-key types; the connection is then closed without authenticating, so the VM never sees our
key's signature. What comes back is a candidate, never a pin: ``sysvmdiag topology pin-host-keys``
shows its fingerprint and pins it only when an operator confirms it (or said ``--yes`` beforehand).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from types import TracebackType

import paramiko

from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerErrorCode
from sysvmdiag.runner.names import describe
from sysvmdiag.runner.pinning import key_exchange
from sysvmdiag.runner.plumbing import Plumbing
from sysvmdiag.runner.tunnel import DEFAULT_CONNECT_TIMEOUT, BastionTunnel, TunnelSocket
from sysvmdiag.topology.model import SshEndpoint

# The host-key algorithms a scan offers, most preferred first (OpenSSH's order): a server with an
# Ed25519 key shows it. RSA only with SHA-2 signatures, as the runner verifies it (see pinning).
SCAN_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
DEFAULT_SCAN_TIMEOUT = 10.0


def fingerprint_sha256(blob_base64: str) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key blob (base64, as pinned)."""
    try:
        blob = base64.b64decode(blob_base64, validate=True)
    except (binascii.Error, ValueError):
        return "SHA256:(not a key)"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def pinned_fingerprint(host_key: str | None) -> str | None:
    """``ssh-ed25519 SHA256:...`` for a pinned key line, None for no pin."""
    parts = (host_key or "").split()
    if len(parts) < 2:
        return None
    return f"{parts[0]} {fingerprint_sha256(parts[1])}"


@dataclass(frozen=True)
class ScannedKey:
    """The host key a server showed in a key exchange: not verified by anything but the operator."""

    key_type: str  # as pinned: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
    base64: str
    fingerprint_sha256: str  # "SHA256:..." as `ssh-keygen -lf` prints it

    @classmethod
    def of(cls, key: paramiko.PKey) -> ScannedKey:
        blob = key.get_base64()
        return cls(key_type=key.get_name(), base64=blob, fingerprint_sha256=fingerprint_sha256(blob))

    @property
    def host_key(self) -> str:
        """The pin's form: ``ssh-ed25519 AAAA...`` (what ``SshEndpoint.host_key`` holds)."""
        return f"{self.key_type} {self.base64}"

    def is_pinned_as(self, host_key: str | None) -> bool:
        """Whether ``host_key`` pins exactly this key (type and blob, as the runner compares)."""
        return (host_key or "").split()[:2] == [self.key_type, self.base64]


class HostKeyScanner:
    """Scans system VMs' host keys over one bastion connection (closed by ``close`` or ``with``)."""

    def __init__(
        self,
        bastion: SshEndpoint,
        private_key: paramiko.PKey,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        plumbing: Plumbing | None = None,
    ):
        if bastion.address is None:
            raise ValueError("the bastion endpoint has no address")
        self.connect_timeout = connect_timeout
        self._plumbing = plumbing or Plumbing()
        self._tunnel = BastionTunnel(
            bastion, private_key, connect_timeout=connect_timeout, plumbing=self._plumbing
        )

    def connect_bastion(self, *, timeout: float) -> None:
        """Connect to the bastion now, so a bastion that fails is told once rather than once per VM."""
        self._tunnel.live(Deadline(timeout, self._plumbing.clock))

    def scan(self, vm: SshEndpoint, *, timeout: float, vm_label: str | None = None) -> ScannedKey:
        """The key ``vm``'s sshd shows, within ``timeout`` seconds (the bastion connect included).

        Raises RunnerError: BASTION_UNREACHABLE, AUTH_FAILED or HOST_KEY_MISMATCH for the bastion (its
        pinned key is checked as for every run), VM_UNREACHABLE or TIMEOUT for the VM, and
        HOST_KEY_MISMATCH when the VM offers none of SCAN_KEY_TYPES. ``vm.host_key`` is not used.
        """
        if vm.address is None:
            raise ValueError("the VM endpoint has no address")
        deadline = Deadline(timeout, self._plumbing.clock)
        name = describe(vm, "system VM", vm_label)
        channel = self._tunnel.open_channel(vm, name, deadline)
        transport = self._plumbing.new_transport(TunnelSocket(channel))
        try:
            transport.get_security_options().key_types = SCAN_KEY_TYPES
            offered = "any host key type the runner verifies (" + ", ".join(SCAN_KEY_TYPES) + ")"
            step = deadline.step(self.connect_timeout)
            server_key = key_exchange(transport, name, step, RunnerErrorCode.VM_UNREACHABLE, offered)
        finally:
            transport.close()  # no authentication: the VM sees no signature of ours
        return ScannedKey.of(server_key)

    def close(self) -> None:
        self._tunnel.close()

    def __enter__(self) -> HostKeyScanner:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def scan_host_key(
    bastion_endpoint: SshEndpoint,
    bastion_login: paramiko.PKey,
    vm_endpoint: SshEndpoint,
    *,
    timeout: float = DEFAULT_SCAN_TIMEOUT,
    vm_label: str | None = None,
) -> ScannedKey:
    """One VM's host key through its own bastion connection (``HostKeyScanner`` for several).

    ``bastion_login`` is the runner's private key; the user is ``bastion_endpoint.user``.
    """
    with HostKeyScanner(bastion_endpoint, bastion_login) as scanner:
        return scanner.scan(vm_endpoint, timeout=timeout, vm_label=vm_label)
