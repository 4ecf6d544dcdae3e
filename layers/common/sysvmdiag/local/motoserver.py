"""moto's server on loopback, the embedded DynamoDB / Secrets Manager / SQS / SNS of the local stack."""

from __future__ import annotations

import logging
import socket
from contextlib import closing
from dataclasses import dataclass

from moto.server import ThreadedMotoServer


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


def start_moto_server(port: int | None = None) -> EmbeddedAws:
    """Start moto's threaded server bound to 127.0.0.1 only (never a routable address)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call is noise
    port = port or free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return EmbeddedAws(server=server, endpoint_url=f"http://127.0.0.1:{port}")
