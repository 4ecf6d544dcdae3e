"""Worker Lambda (SQS): runs queued diagnostic jobs; and the scheduled sweeper that fails overdue ones.

SQS delivers at least once, so each message runs through powertools' idempotency utility keyed on
``[jobId, attempt]`` (a duplicate of one message runs nothing; a deliberate retry after "VM busy" is a new
attempt), and the job's own conditional status moves stop a second run even past the idempotency window.
"""

from __future__ import annotations

# Before the heavy imports below: the zone's bastion connects while they run (sysvmdiag.warmup).
from sysvmdiag.warmup import start_bastion_warmup

start_bastion_warmup()

# isort: split
import warnings
from collections.abc import Callable
from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.observability import logger, metrics, tracer
from sysvmdiag.pipeline.service import DiagnosticsService

warnings.filterwarnings("ignore", message="No application metrics to publish")

# A result stays cached long enough to cover SQS's redelivery of a message that was not deleted in time.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

idempotency_config = IdempotencyConfig(
    event_key_jmespath="[jobId, attempt]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
)


class JobMessage(BaseModel):
    """The queue's message body (see sysvmdiag.jobs.JobQueue)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(alias="jobId", min_length=1, max_length=64)
    attempt: int = Field(default=1, ge=1, le=100)


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _service() -> DiagnosticsService:
    settings = _settings()
    return bootstrap.service(settings, job_finished=bootstrap.job_finished_hook(settings))


def run_job(message: dict) -> dict:
    """Run one job attempt; wrapped by :func:`_idempotent_run_job` (the only way the worker calls it)."""
    job = _service().process_job(message["jobId"], attempt=message["attempt"])
    status = job.status.value if job else None
    return {"jobId": message["jobId"], "attempt": message["attempt"], "status": status}


@cache
def _idempotent_run_job() -> Callable[..., dict]:
    """``run_job`` under powertools' idempotency, built on first use from IDEMPOTENCY_TABLE (like the
    service: the environment and endpoint of this process, not of whoever imported the module)."""
    persistence = DynamoDBPersistenceLayer(table_name=bootstrap.idempotency_table(_settings()))
    return idempotent_function(
        data_keyword_argument="message", config=idempotency_config, persistence_store=persistence
    )(run_job)


def record_handler(record: SQSRecord) -> dict:
    message = JobMessage.model_validate_json(record.body)
    return _idempotent_run_job()(message={"jobId": message.job_id, "attempt": message.attempt})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency_config.register_lambda_context(context)
    # One processor per invocation: its state is per batch (and the local stack invokes from threads).
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


@logger.inject_lambda_context
@metrics.log_metrics
def sweep_handler(event: dict, context: LambdaContext) -> dict:
    """Scheduled: fail every queued or running job past its deadline, so none stays open forever."""
    expired = _service().sweep_overdue()
    return {"expired": [job.id for job in expired]}
