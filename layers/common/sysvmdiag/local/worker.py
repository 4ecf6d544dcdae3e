"""What Lambda's SQS event source mapping and a schedule do on AWS, for the local stack.

:class:`QueuePoller` long-polls the jobs queue on moto's server, hands each message to the worker
handler as an SQS event (batch size 1, partial batch responses) and deletes it only when the handler did
not report it failed, so a failed message comes back after its visibility timeout and, after
``maxReceiveCount`` receives, lands in the dead-letter queue, as on AWS. It also calls the sweeper every
``sweep_every`` seconds like the template's schedule. Several poller threads play several concurrent
Lambda instances.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.observability import logger

Handler = Callable[[dict, Any], dict]
# The worker function's timeout in template.yaml: a job's context gets the same remaining time.
WORKER_TIMEOUT_MS = 180_000


def sqs_event(message: dict, queue_arn: str, region: str) -> dict:
    """An SQS event as Lambda delivers it (one record), from a ReceiveMessage result."""
    body = message["Body"]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        ]
    }


class QueuePoller:
    """Long-poll a queue and invoke ``handler`` per message from ``concurrency`` threads."""

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        handler: Handler,
        *,
        sweeper: Handler | None = None,
        concurrency: int = 3,
        sweep_every: float = 15.0,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._region = sqs_client.meta.region_name
        self._handler = handler
        self._sweeper = sweeper
        self._concurrency = concurrency
        self._sweep_every = sweep_every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self._concurrency):
            thread = threading.Thread(target=self._poll, name=f"local-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self._sweeper is not None:
            thread = threading.Thread(target=self._sweep, name="local-sweeper", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:  # moto going away at shutdown, or a blip: try again shortly
                if self._stop.wait(1.0):
                    return
                logger.exception("local worker: receive failed")
                continue
            for message in response.get("Messages", []):
                self._deliver(message)

    def _deliver(self, message: dict) -> None:
        context = LambdaContext("sysvmdiag-worker", timeout_ms=WORKER_TIMEOUT_MS)
        try:
            result = self._handler(sqs_event(message, self._queue_arn, self._region), context) or {}
        except Exception:  # the whole invocation failed: Lambda retries the batch after the timeout
            logger.exception("local worker: invocation failed", extra={"message_id": message["MessageId"]})
            return
        failed = {item.get("itemIdentifier") for item in result.get("batchItemFailures", [])}
        if message["MessageId"] not in failed:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _sweep(self) -> None:
        assert self._sweeper is not None
        while not self._stop.wait(self._sweep_every):
            try:
                self._sweeper({"source": "local.schedule"}, LambdaContext("sysvmdiag-sweeper"))
            except Exception:
                logger.exception("local sweeper failed")
