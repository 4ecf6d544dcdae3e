"""Sync Lambda (EventBridge Scheduler): the zone read from CloudStack into the topology tables. No logic
lives here (sysvmdiag.cloudstack.scheduled).

``{"dryRun": true}`` says what would change and writes nothing. A failed sync (CloudStack's error, an
unknown zone, tables holding another zone, an unreadable secret) logs one error line and fails the
invocation, so Lambda's retry, its Errors metric and the SyncFailures metric see it. Nothing is written
before the zone is read and mapped, so the tables stay as they were (short of DynamoDB failing in the
middle of the load's writes: the next run then writes what still differs).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag import bootstrap
from sysvmdiag.cloudstack.scheduled import InvalidSyncEvent, ScheduledSync, SyncFailed, SyncRequest
from sysvmdiag.config import Settings
from sysvmdiag.observability import logger, metrics, tracer


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _sync() -> ScheduledSync:
    return bootstrap.topology_sync(_settings())


def reset_clients() -> None:
    """What a new Lambda process starts with (tests point the handler at another endpoint)."""
    for cached in (_settings, _sync):
        cached.cache_clear()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = SyncRequest.from_event(event)
    except InvalidSyncEvent as err:
        logger.error("topology sync refused its event", extra={"error": str(err)})
        raise
    mode = "dryRun" if request.dry_run else "sync"
    logger.append_keys(dry_run=request.dry_run)
    try:
        outcome = _sync().run(dry_run=request.dry_run)
    except SyncFailed as err:
        logger.error("topology sync failed", extra={"reason": err.reason, "error": str(err)})
        metrics.add_dimension(name="Mode", value=mode)
        metrics.add_metric(name="SyncFailures", unit=MetricUnit.Count, value=1)
        raise
    logger.info("topology sync done", extra={"sync": outcome.summary()})
    metrics.add_dimension(name="Mode", value=mode)
    for name, (value, unit) in outcome.metric_values().items():
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
    return outcome.to_dict()
