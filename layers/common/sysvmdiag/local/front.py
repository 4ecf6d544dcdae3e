"""The local API Gateway's HTTP front: an ASGI app (served by uvicorn with h11, ``local.http_server``)
that turns each request into the gateway's invocation and its answer back into HTTP.

h11 does the HTTP/1.1 (request framing, chunked bodies, Content-Length validation, header syntax);
this app adds what API Gateway does before an integration runs: the payload limit (413), its header
size quota (431), one Authorization header (400, never last-wins), no request framed by both
Content-Length and Transfer-Encoding (400 and close, RFC 9112 6.1), a bound on reading the body (408),
and JSON answers of API Gateway's shape for all of them. HEAD is served as GET without the body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from http import HTTPStatus
from typing import Any

from sysvmdiag.local.gateway import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    GatewayResponse,
    LocalGateway,
    gateway_error,
)
from sysvmdiag.observability import logger

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# A client gets this long to send a request's whole body once its headers are in.
BODY_READ_SECONDS = 10.0
# Headers that must come once: two Hosts make a bad request (RFC 9112 3.2); two Authorizations leave
# the caller ambiguous (API Gateway would join them with a comma; this stand-in refuses them).
SINGLE_HEADERS = (b"authorization", b"host")
# Hop-by-hop or framing headers of a function's answer: the server writes its own.
_FRAMING = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})


class RequestRefused(Exception):
    """Raised while reading a body that must not be read on (too large): the answer it carries."""

    def __init__(self, response: GatewayResponse) -> None:
        super().__init__(response.status)
        self.response = response


def refusal_for(headers: list[tuple[bytes, bytes]]) -> GatewayResponse | None:
    """What API Gateway answers before reading the body, from the request's headers alone."""
    names = [name.lower() for name, _value in headers]
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        return gateway_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    if any(names.count(name) > 1 for name in SINGLE_HEADERS):
        return gateway_error(HTTPStatus.BAD_REQUEST)
    if b"transfer-encoding" in names and b"content-length" in names:
        return gateway_error(HTTPStatus.BAD_REQUEST)
    declared = [value for name, value in headers if name.lower() == b"content-length"]
    if declared and int(declared[0]) > MAX_BODY_BYTES:  # h11 let only digits through
        return gateway_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
    return None


def event_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header lines as the v2 event has them: names lowercased, repeated ones joined with commas."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def request_target(scope: Scope) -> str:
    """The path and query exactly as sent (percent-encoding kept), as the event's raw fields want it."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole body (chunked or not, h11 decodes it); None if the client went away; 413 past ``limit``."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestRefused(
                gateway_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
            )
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def respond(send: Send, response: GatewayResponse, *, close: bool = False) -> None:
    """The answer with the server's own framing (a function cannot set Content-Length or Connection);
    ``close`` when what follows on the connection cannot be trusted."""
    headers = [
        (name.lower().encode("latin-1"), str(value).encode("latin-1"))
        for name, value in response.headers.items()
        if name.lower() not in _FRAMING
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class GatewayApp:
    """ASGI app: one request -> LocalGateway.invoke (in ``executor``: it blocks on a function instance)."""

    def __init__(
        self, gateway: LocalGateway, executor: Executor, body_read_seconds: float = BODY_READ_SECONDS
    ) -> None:
        self._gateway = gateway
        self._executor = executor
        self._body_read_seconds = body_read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        refusal = refusal_for(scope["headers"])
        if refusal is not None:
            await respond(send, refusal, close=True)
            return
        try:
            body = await asyncio.wait_for(read_body(receive), self._body_read_seconds)
        except RequestRefused as refused:
            await respond(send, refused.response, close=True)
            return
        except TimeoutError:
            await respond(send, gateway_error(HTTPStatus.REQUEST_TIMEOUT), close=True)
            return
        if body is None:
            return
        await respond(send, await self._invoke(scope, body))

    async def _invoke(self, scope: Scope, body: bytes) -> GatewayResponse:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        client = scope.get("client") or ("127.0.0.1", 0)
        call = (method, request_target(scope), event_headers(scope["headers"]), body, client[0])
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._gateway.invoke, *call
            )
        except Exception:  # the real gateway answers 500 when the authorizer or the integration fails
            logger.exception("local gateway: invocation failed", extra={"method": method})
            return gateway_error(HTTPStatus.INTERNAL_SERVER_ERROR)


def json_bad_request() -> bytes:
    """The body of API Gateway's 400 (for requests h11 could not parse)."""
    return json.dumps({"message": HTTPStatus.BAD_REQUEST.phrase}).encode()
