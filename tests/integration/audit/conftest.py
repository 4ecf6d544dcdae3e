"""Fixtures of the audit tests: an audit table of their own on the session's moto server."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from sysvmdiag.audit import AuditStore
from sysvmdiag.topology.store import create_tables


@pytest.fixture(scope="module")
def dynamodb(moto_server: Any) -> Any:
    return boto3.resource("dynamodb", endpoint_url=moto_server.endpoint_url)


@pytest.fixture
def audit_table(dynamodb: Any) -> Any:
    """A fresh, uniquely named audit table per test (with both GSIs, as template.yaml declares)."""
    return create_tables(dynamodb, {"audit": f"audit-{uuid.uuid4().hex[:12]}"})["audit"]


@pytest.fixture
def audit(audit_table: Any) -> AuditStore:
    return AuditStore(audit_table)
