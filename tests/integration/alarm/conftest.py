"""Fixtures of the alarm tests: tables, a results topic (read back through SQS) on the session's moto."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from sysvmdiag.topology.store import TABLE_ENV_VARS, create_tables

REPO_ROOT = Path(__file__).resolve().parents[3]
EVENTS = REPO_ROOT / "events" / "alarm"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def aws_env(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 clients built without arguments (as the functions build them) reach the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto_server.endpoint_url


@pytest.fixture
def tables(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fresh tables of every kind, named in the environment like on Lambda."""
    prefix = f"alarm-{uuid.uuid4().hex[:8]}"
    names = {var: f"{prefix}-{var.split('_')[0].lower()}" for var in TABLE_ENV_VARS.values()}
    for var, name in names.items():
        monkeypatch.setenv(var, name)
    created = create_tables(boto3.resource("dynamodb"), names)
    return created


class ResultsTopic:
    """An SNS topic with an SQS queue subscribed: what a subscriber of the results topic receives."""

    def __init__(self, topic_arn: str | None = None) -> None:
        """A new topic, or a subscription to ``topic_arn`` (a local stack's results topic)."""
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        name = f"alarm-results-{uuid.uuid4().hex[:8]}"
        self.arn = topic_arn or self.sns.create_topic(Name=name)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn)

    def receive(self, expected: int, timeout: float = 10.0, settle: float = 1.0) -> list[dict[str, Any]]:
        """SNS envelopes (Subject, Message, ...) received until ``expected`` came and ``settle`` s passed
        without more (so a duplicate would show), or ``timeout``."""
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(received) >= expected:
                quiet_since = quiet_since or time.monotonic()
                if response.get("Messages"):
                    quiet_since = time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    break
        return received


@pytest.fixture
def results_topic(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> ResultsTopic:
    topic = ResultsTopic()
    monkeypatch.setenv("RESULTS_TOPIC_ARN", topic.arn)
    return topic


@pytest.fixture
def job_finished(tables: dict[str, Any], results_topic: ResultsTopic) -> Callable[[Any], None]:
    """The worker's hook as the composition root builds it, on this test's tables and topic."""
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings

    return bootstrap.job_finished_hook(Settings.from_env())
