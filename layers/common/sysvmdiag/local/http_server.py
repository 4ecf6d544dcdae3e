"""uvicorn (with h11) serving the local API Gateway's front on loopback, in a thread of the stack's server.

uvicorn is configured for an edge that faces hostile clients: no ``Server`` header, no trust in
X-Forwarded-For (the source address is the TCP peer, as API Gateway's ``sourceIp``), a bounded request
head (h11), a keep-alive timeout. Two things uvicorn leaves open are added in a small subclass of its
h11 protocol: a request that h11 cannot parse is answered with API Gateway's JSON 400 (not text), and
a connection gets ``HEADER_READ_SECONDS`` to deliver each request's headers (slowloris), after which
it is closed.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sysvmdiag.local.front import BODY_READ_SECONDS, GatewayApp, json_bad_request
from sysvmdiag.local.gateway import LocalGateway

HEADER_READ_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
# What h11 buffers of a request's head before refusing it (400): its default, 16 KiB. A head that
# arrives whole is held to API Gateway's quota by the app (gateway.MAX_HEADER_BYTES, 431).
MAX_INCOMPLETE_HEAD_BYTES = 16 * 1024
SHUTDOWN_SECONDS = 3
START_SECONDS = 10.0


class GatewayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with JSON 400s and a bound on reading each request's headers."""

    header_read_seconds = HEADER_READ_SECONDS
    _header_timer: Any = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        """While no request's headers are complete (h11: the client is IDLE), a timer runs."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._stop_header_timer()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_read_seconds, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request in time")
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request h11 could not parse: API Gateway's ``{"message": "Bad Request"}``, then close."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.transport.close()  # an answer is already on its way: nothing can follow it
            return
        body = json_bad_request()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class HttpFront:
    """The gateway served over HTTP on ``host:port`` until :meth:`stop`."""

    def __init__(
        self,
        gateway: LocalGateway,
        host: str,
        port: int,
        max_in_flight: int,
        *,
        header_read_seconds: float = HEADER_READ_SECONDS,
        body_read_seconds: float = BODY_READ_SECONDS,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="gateway")
        protocol = type("GatewayH11", (GatewayH11Protocol,), {"header_read_seconds": header_read_seconds})
        self._config = uvicorn.Config(
            GatewayApp(gateway, self._executor, body_read_seconds),
            http=protocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            h11_max_incomplete_event_size=MAX_INCOMPLETE_HEAD_BYTES,
        )
        self._server = uvicorn.Server(self._config)
        self._socket = socket.create_server((host, port), reuse_port=False)
        self._thread = threading.Thread(target=self._serve, name="local-gateway", daemon=True)

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self) -> HttpFront:
        """Serve in a background thread; returns once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local gateway's HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(SHUTDOWN_SECONDS + 2)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._socket.close()
