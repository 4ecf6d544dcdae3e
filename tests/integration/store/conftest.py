"""Fixtures of the store tests: tables of their own on the session's moto server."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(DEFAULT_TOPOLOGY_FILE)


def openssh_ed25519_public_key() -> str:
    """A fresh "ssh-ed25519 AAAA..." line, the form the lab pins for each sshd."""
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture(scope="module")
def lab_status_without_lab(topology: Topology) -> dict[str, Any]:
    """The parts of ``simvms status --json`` the loader reads, with freshly generated host keys.

    The store tests need pinned keys and a bastion endpoint, not running namespaces.
    """
    hosts = {}
    for vm in topology.system_vms():
        assert vm.ssh is not None
        hosts[vm.name] = {
            "kind": vm.kind.value,
            "ssh": {
                "address": str(vm.ssh.address),
                "port": vm.ssh.port,
                "user": vm.ssh.user,
                "host_key": openssh_ed25519_public_key(),
                "running": True,
            },
        }
    bastion = {
        "namespace": "svd-bastion",
        "address": "100.64.254.2",
        "port": 22,
        "user": "root",
        "host_key": openssh_ed25519_public_key(),
    }
    return {"up": True, "bastion": bastion, "hosts": hosts}
