"""Shared fixtures. The lab fixture lives here too (see the lab section below)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
