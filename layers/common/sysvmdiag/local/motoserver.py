"""moto's server on loopback, the embedded DynamoDB / Secrets Manager / SQS / SNS of the local stack."""

from __future__ import annotations

import functools
import logging
import socket
import threading
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

_DYNAMODB_REQUESTS = threading.RLock()


def free_loopback_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedAws:
    """A running moto server; ``endpoint_url`` is what boto3 takes (or AWS_ENDPOINT_URL)."""

    server: ThreadedMotoServer
    endpoint_url: str

    def stop(self) -> None:
        self.server.stop()


def serialise_dynamodb() -> None:
    """One DynamoDB request at a time in this process's moto, as DynamoDB isolates them.

    moto applies a TransactWriteItems item by item and, when one fails, puts back a copy of every table
    it touches taken before it began: a write another thread made in between is lost, and two
    transactions on the same items both pass their conditions. DynamoDB serialises transactions with
    every other write; the embedded server does the same by taking DynamoDB's requests one after the
    other (each a few milliseconds). Idempotent."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "serialised", False):
        return
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _DYNAMODB_REQUESTS:
            return original(self)

    call_action.serialised = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def start_moto_server(port: int | None = None) -> EmbeddedAws:
    """Start moto's threaded server bound to 127.0.0.1 only (never a routable address), its DynamoDB
    requests isolated from each other (:func:`serialise_dynamodb`)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call is noise
    serialise_dynamodb()
    port = port or free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return EmbeddedAws(server=server, endpoint_url=f"http://127.0.0.1:{port}")
