"""Alarm Lambda (EventBridge "CloudWatch Alarm State Change"): playbooks run as jobs. No logic lives here.

A delivery of an event already handled (EventBridge delivers at least once, and retries) returns the
first delivery's summary from the idempotency table and starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.observability import logger
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.playbooks.alarm import AlarmStateChangeEvent, RunSummary, start_playbook_runs
from sysvmdiag.playbooks.runs import PlaybookRuns
from sysvmdiag.playbooks.store import PlaybookStore

# EventBridge retries a failed delivery for up to 24 hours: remember handled events that long.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=24 * 3600)


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _service() -> DiagnosticsService:
    return bootstrap.service(_settings())


@cache
def _playbooks() -> PlaybookStore:
    return bootstrap.playbook_store(_settings())


@cache
def _runs() -> PlaybookRuns:
    return bootstrap.playbook_runs(_settings())


@cache
def _cloudwatch() -> Any:
    return boto3.client("cloudwatch")


def _start_runs(alarm_event: AlarmStateChangeEvent) -> dict[str, Any]:
    summary: RunSummary = start_playbook_runs(
        alarm_event,
        service=_service(),
        playbooks=_playbooks(),
        runs=_runs(),
        cloudwatch_client=_cloudwatch(),
    )
    return summary.to_dict()


@cache
def _start_runs_once() -> Callable[..., dict[str, Any]]:
    """``_start_runs`` made idempotent on the event id; built on first use, since the persistence
    layer opens its DynamoDB client when created (after the environment names the table)."""
    persistence = DynamoDBPersistenceLayer(table_name=bootstrap.idempotency_table(_settings()))
    return idempotent_function(
        data_keyword_argument="alarm_event", persistence_store=persistence, config=IDEMPOTENCY
    )(_start_runs)


def reset_clients() -> None:
    """What a new Lambda process starts with (tests point the handler at another endpoint)."""
    for cached in (_settings, _service, _playbooks, _runs, _cloudwatch, _start_runs_once):
        cached.cache_clear()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    alarm_event = parse(event=event, model=AlarmStateChangeEvent)
    logger.append_keys(alarm=alarm_event.detail.alarm_name, event_id=alarm_event.id)
    if not alarm_event.starts_runs:
        logger.info("alarm state is not ALARM: nothing runs", extra={"state": alarm_event.detail.state.value})
        return RunSummary(
            event_id=alarm_event.id,
            alarm_name=alarm_event.detail.alarm_name,
            state=alarm_event.detail.state.value,
        ).to_dict()
    IDEMPOTENCY.register_lambda_context(context)
    return _start_runs_once()(alarm_event=alarm_event)
