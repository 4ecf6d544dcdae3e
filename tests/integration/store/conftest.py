"""Fixtures of the store tests: tables of their own on the session's moto server."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology, load_topology
from sysvmdiag.topology.store import TABLE_ENV_VARS, create_tables
from tests.conftest import aim_boto3_at


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


@pytest.fixture
def settings(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch, topology: Topology, lab_status_without_lab: dict
) -> Settings:
    """Every table (named apart per test) and a jobs queue on moto's server, the lab's topology loaded:
    what the composition root builds a whole service on."""
    aim_boto3_at(moto_server, monkeypatch)
    prefix = f"zone-{uuid.uuid4().hex[:8]}"
    names = {var: f"{prefix}-{var.split('_')[0].lower()}" for var in TABLE_ENV_VARS.values()}
    create_tables(boto3.resource("dynamodb"), names)
    queue = boto3.client("sqs").create_queue(QueueName=prefix)["QueueUrl"]
    settings = Settings.from_env({**names, "JOBS_QUEUE_URL": queue})
    load_topology_into_tables(topology, bootstrap.topology_store(settings), lab_status_without_lab)
    return settings
