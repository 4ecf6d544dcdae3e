"""Many writes at once: BatchWriteItem, 25 requests a call, items serialised once, unprocessed ones resent.

A zone of 20,000 networks is tens of thousands of items; boto3's resource ``batch_writer`` validates and
serialises each item through the resource layer, which costs more than the writes themselves. This
goes to the low-level client of the same endpoint and region, with the items serialised by boto3's own
TypeSerializer.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config

BATCH = 25  # DynamoDB's limit per BatchWriteItem
_SERIALIZER = TypeSerializer()


def _low_level_client(table: Any) -> Any:
    """A client like the table's (endpoint, region, credentials) without parameter validation, which
    costs more than the write itself for 20,000 items. The credentials are the table's own: a table made
    with explicit keys (an operator's, the local stack's) must not fall back to the default chain."""
    meta = table.meta.client.meta
    config = Config(parameter_validation=False, retries={"mode": "standard"})
    credentials = table.meta.client._get_credentials()  # botocore keeps no public accessor for them
    keys = {}
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        keys = {
            "aws_access_key_id": frozen.access_key,
            "aws_secret_access_key": frozen.secret_key,
            "aws_session_token": frozen.token,
        }
    return boto3.client(
        "dynamodb", endpoint_url=meta.endpoint_url, region_name=meta.region_name, config=config, **keys
    )


def _serialised(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def bulk_write(table: Any, puts: list[dict[str, Any]], deletes: list[dict[str, Any]]) -> None:
    """Put ``puts`` and delete the keys in ``deletes``, in batches; throttled requests are resent with
    a growing pause, as AWS advises for UnprocessedItems."""
    requests = [{"PutRequest": {"Item": _serialised(item)}} for item in puts]
    requests += [{"DeleteRequest": {"Key": _serialised(key)}} for key in deletes]
    if not requests:
        return
    client = _low_level_client(table)
    for start in range(0, len(requests), BATCH):
        pending = {table.name: requests[start : start + BATCH]}
        pause = 0.05
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
