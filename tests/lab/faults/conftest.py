"""Fixtures of the fault suite: the private fault lab and its API environment (see zone.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from simvms.lab import Lab
from sysvmdiag.local.motoserver import EmbeddedAws
from tests.lab.faults.zone import HOST_LINK, FaultZone, host_link_in_use, private_topology
from tests.lambdas import fresh_process


@pytest.fixture(scope="module")
def fault_lab(lab_prerequisites: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The private lab, up for a fault module and purged after it."""
    busy = host_link_in_use()
    if busy:
        pytest.fail(f"the fault lab's host link {HOST_LINK} is already on interface {busy}")
    base = tmp_path_factory.mktemp("fault-lab")
    lab = Lab(topology_path=private_topology(base), state_dir=base / "simvms-faults")
    try:
        lab.up()
        yield lab
    finally:
        lab.down(purge=True)


@pytest.fixture(scope="module")
def fault_zone(fault_lab: Lab, moto_server: EmbeddedAws) -> Iterator[FaultZone]:
    """Tables, the SSH key secret and a jobs queue of their own on the session moto server, loaded
    with the private lab; the process environment points the functions at them for the module."""
    import boto3

    from sysvmdiag.topology.store import TABLE_ENV_VARS, create_tables

    saved = dict(os.environ)
    suffix = uuid.uuid4().hex[:8]
    tables = {var: f"faults-{table}-{suffix}" for table, var in TABLE_ENV_VARS.items()}
    os.environ.update(tables)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": moto_server.endpoint_url,
            "SSH_KEY_SECRET_ID": f"faults/ssh-private-key-{suffix}",
            "POWERTOOLS_SERVICE_NAME": "sysvmdiag",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "SysVmDiag",
        }
    )
    os.environ.pop("LIMITS_JSON", None)
    try:
        create_tables(boto3.resource("dynamodb"), tables)
        boto3.client("secretsmanager").create_secret(
            Name=os.environ["SSH_KEY_SECRET_ID"], SecretString=fault_lab.paths.private_key.read_text()
        )
        queue_url = boto3.client("sqs").create_queue(QueueName=f"faults-jobs-{suffix}")["QueueUrl"]
        os.environ["JOBS_QUEUE_URL"] = queue_url
        zone = FaultZone(
            lab=fault_lab,
            aws=moto_server,
            tables=tables,
            secret_id=os.environ["SSH_KEY_SECRET_ID"],
            queue_url=queue_url,
        )
        zone.reload_topology()
        yield zone
    finally:
        fresh_process()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def zone(fault_zone: FaultZone) -> Iterator[FaultZone]:
    """The fault zone for one test, starting and ending like a fresh Lambda process."""
    fresh_process()
    yield fault_zone
    fresh_process()
