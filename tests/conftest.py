"""Shared fixtures. The lab fixture lives here too (see the lab section below)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from simvms.lab import Lab
from sysvmdiag.local.motoserver import EmbeddedAws, start_moto_server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedAws]:
    """One moto server on loopback for the session; tests isolate by table/secret names."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    aws = start_moto_server()
    yield aws
    aws.stop()


# -- the namespace lab (simvms) ------------------------------------------------------------------

LAB_PREREQUISITES = {
    "ip": "iproute2",
    "/usr/sbin/sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ping": "iputils-ping",
    "traceroute": "traceroute",
    "arping": "arping",
}


def check_lab_prerequisites() -> None:
    """Lab tests fail (never skip) when the machine cannot host the lab, saying what to install."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces, veth, sshd): run them as root")
    missing = [f"{tool} (apt-get install {package})" for tool, package in LAB_PREREQUISITES.items()
               if shutil.which(tool) is None]
    if missing:
        pytest.fail("the lab tests need: " + ", ".join(missing))


@pytest.fixture(scope="session")
def lab() -> Lab:
    """The shared lab, brought up once (idempotent); left up at the end for other runs to reuse."""
    check_lab_prerequisites()
    shared = Lab()
    shared.up()
    return shared


@pytest.fixture(scope="session")
def lab_status(lab: Lab) -> dict[str, Any]:
    """`simvms status --json` of the shared lab, as `Lab.up()` returned it."""
    status = lab.status()
    assert status["up"], f"lab degraded: {status['problems']}"
    return status
