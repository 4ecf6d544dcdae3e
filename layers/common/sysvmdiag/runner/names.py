"""How the runner names the hosts in its error sentences (one wording for every layer)."""

from __future__ import annotations

from sysvmdiag.topology.model import SshEndpoint


def describe(endpoint: SshEndpoint, role: str, label: str | None = None) -> str:
    """``the system VM r-4-VM at 169.254.1.10:3922``: the phrase every message names a host by."""
    name = f" {label}" if label else ""
    return f"the {role}{name} at {endpoint.address}:{endpoint.port}"


def capitalized(phrase: str) -> str:
    """The phrase at the start of a sentence (``str.capitalize`` would lower the rest)."""
    return phrase[:1].upper() + phrase[1:]
