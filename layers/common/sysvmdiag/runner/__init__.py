"""Run a tool's command line on a system VM over SSH, through the zone's bastion.

``RunnerError`` and ``RunOutput`` import without paramiko; the SSH machinery (``BastionRunner``,
``get_runner``, ``load_private_key``) is loaded on first use so the API's cold start stays light.

The layers, each testable without sshd (tests/unit/runner): ``deadline`` (budget, watchdog),
``pinning`` (key exchange against the pinned key, auth), ``tunnel`` (the shared bastion Transport,
direct-tcpip channels), ``pool`` (VM connections keyed by endpoint and pin), ``session`` (exec,
output cap, deadline); ``bastion`` composes them; ``plumbing`` is what they reach the world through.
``hostscan`` reuses the tunnel for a first-use scan of a VM's host key (key exchange only), which
``sysvmdiag topology pin-host-keys`` shows an operator to confirm before it is pinned.

Typical use in a handler::

    runner = get_runner(bastion_host.ssh, lambda: load_private_key(settings.ssh_key_secret_id))
    output = runner.run(vm_host.ssh, invocation.command_line(), timeout=budget_seconds)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode, RunOutput
from sysvmdiag.topology.model import SshEndpoint  # the runner's endpoint type is the topology's

if TYPE_CHECKING:
    from sysvmdiag.runner.bastion import BastionRunner, clear_runners, get_runner
    from sysvmdiag.runner.hostscan import HostKeyScanner, ScannedKey, scan_host_key
    from sysvmdiag.runner.keys import key_fingerprint, load_private_key, parse_private_key

_LAZY = {
    "BastionRunner": "sysvmdiag.runner.bastion",
    "get_runner": "sysvmdiag.runner.bastion",
    "clear_runners": "sysvmdiag.runner.bastion",
    "load_private_key": "sysvmdiag.runner.keys",
    "parse_private_key": "sysvmdiag.runner.keys",
    "key_fingerprint": "sysvmdiag.runner.keys",
    "HostKeyScanner": "sysvmdiag.runner.hostscan",
    "ScannedKey": "sysvmdiag.runner.hostscan",
    "scan_host_key": "sysvmdiag.runner.hostscan",
}

__all__ = [
    "BastionRunner",
    "HostKeyScanner",
    "RunOutput",
    "RunnerError",
    "RunnerErrorCode",
    "ScannedKey",
    "SshEndpoint",
    "clear_runners",
    "get_runner",
    "key_fingerprint",
    "load_private_key",
    "parse_private_key",
    "scan_host_key",
]


def __getattr__(name: str) -> Any:
    """Import the paramiko-backed parts only when someone asks for them."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
