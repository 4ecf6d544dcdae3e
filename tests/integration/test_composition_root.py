"""The composition root on moto's server: every adapter built from one Settings, and the job store's
transition table enforced by DynamoDB's conditional writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings, SettingsError
from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.topology.store import TABLE_ENV_VARS, create_tables
from tests.conftest import aim_boto3_at, queued_job


@pytest.fixture
def settings(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    aim_boto3_at(moto_server, monkeypatch)
    prefix = f"root-{uuid.uuid4().hex[:8]}"
    names = {var: f"{prefix}-{var.split('_')[0].lower()}" for var in TABLE_ENV_VARS.values()}
    create_tables(boto3.resource("dynamodb"), names)
    queue = boto3.client("sqs").create_queue(QueueName=prefix)["QueueUrl"]
    return Settings.from_env({**names, "JOBS_QUEUE_URL": queue, "LIMITS_JSON": '{"vmConcurrentRuns": 2}'})


def _job() -> Job:
    return queued_job()


def test_every_adapter_is_built_on_the_tables_the_settings_name(settings: Settings) -> None:
    service = bootstrap.service(settings)
    assert isinstance(service, DiagnosticsService)
    assert bootstrap.topology_store(settings).topology_table.name == settings.topology_table
    assert bootstrap.job_store(settings).table.name == settings.jobs_table
    assert bootstrap.limit_store(settings).table.name == settings.limits_table
    assert bootstrap.audit_store(settings).table.name == settings.audit_table
    assert bootstrap.playbook_store(settings).table.name == settings.topology_table
    assert bootstrap.playbook_runs(settings).topic_arn is None
    assert bootstrap.idempotency_table(settings) == settings.idempotency_table


def test_a_missing_part_names_its_variable(settings: Settings) -> None:
    bare = settings.model_copy(update={"jobs_table": None, "idempotency_table": None})
    with pytest.raises(RuntimeError, match="JOBS_TABLE"):
        bootstrap.job_store(bare)
    with pytest.raises(RuntimeError, match="IDEMPOTENCY_TABLE"):
        bootstrap.idempotency_table(bare)
    with pytest.raises(SettingsError, match="TOPOLOGY_TABLE"):
        Settings.from_env({"ACCOUNTS_TABLE": "accounts"})


def test_the_job_store_moves_only_as_the_table_allows(settings: Settings) -> None:
    jobs = bootstrap.job_store(settings)
    job = _job()
    jobs.create(job, audit='{"id": "req-1"}')
    assert jobs.transition(job, JobStatus.SUCCEEDED) is None  # queued never jumps to succeeded
    running, audit = jobs.transition(job, JobStatus.RUNNING)
    assert running.status is JobStatus.RUNNING and audit == '{"id": "req-1"}'
    assert jobs.transition(job, JobStatus.DENIED) is None  # only a queued job is denied
    done, _ = jobs.transition(running, JobStatus.SUCCEEDED)
    assert jobs.get(job.id) == done and jobs.overdue(datetime.now(UTC) + timedelta(hours=1)) == []
    assert jobs.transition(done, JobStatus.FAILED) is None  # final is final
    with pytest.raises(ValueError, match="no job moves to queued"):
        jobs.transition(done, JobStatus.QUEUED)


def test_the_sync_is_built_from_the_cloudstack_settings(settings: Settings) -> None:
    from sysvmdiag.cloudstack.apikeys import ApiKeyPair

    configured = settings.model_copy(
        update={
            "cloudstack_url": "https://cloud.example/client/api",
            "cloudstack_zone": "zone-1",
            "cloudstack_secret_name": "sysvmdiag/dev/cloudstack-api-keys",
            "cloudstack_timeout_seconds": 12.0,
        }
    )
    client = bootstrap.cloudstack_client(configured, ApiKeyPair("api", "secret"))
    assert (client.url, client.api_key, client.timeout.read_timeout) == (
        configured.cloudstack_url,
        "api",
        12.0,
    )
    sync = bootstrap.topology_sync(configured)
    assert (sync.url, sync.zone, sync.secret) == (
        configured.cloudstack_url,
        "zone-1",
        "sysvmdiag/dev/cloudstack-api-keys",
    )
    assert sync.store.topology_table.name == settings.topology_table
    with pytest.raises(RuntimeError, match="CLOUDSTACK_URL"):
        bootstrap.cloudstack_client(settings, ApiKeyPair("api", "secret"))
    with pytest.raises(RuntimeError, match="CLOUDSTACK_SECRET_NAME"):
        bootstrap.cloudstack_keys(settings)
    with pytest.raises(SettingsError, match="CLOUDSTACK_URL"):
        Settings.from_env({"TOPOLOGY_TABLE": "top", "ACCOUNTS_TABLE": "acc", "CLOUDSTACK_URL": "cloud:8080"})
