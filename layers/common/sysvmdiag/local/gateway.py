"""A stand-in for API Gateway (HTTP API) on loopback: each HTTP request becomes a payload v2 event.

Like the real thing it runs the Lambda authorizer first (simple responses), puts its context in
``requestContext.authorizer.lambda`` and then invokes the API handler in process. It is what
``sam local start-api`` would do, without Docker.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

Handler = Callable[[dict, Any], dict]

# Routes open without an API key (same list as the template's Auth: NONE routes).
PUBLIC_ROUTES = frozenset({("GET", "/openapi.json"), ("GET", "/swagger")})
MAX_BODY_BYTES = 64 * 1024
API_ID = "local"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that powertools reads."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    deadline_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 30_000)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def http_api_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict:
    """An API Gateway HTTP API payload format 2.0 event, as AWS documents it."""
    parts = urlsplit(raw_path)
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time()
    text_body: str | None
    is_b64 = False
    if not body:
        text_body = None
    else:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_b64 = base64.b64encode(body).decode(), True
    query: dict[str, str] = {}
    for pair in filter(None, parts.query.split("&")):
        key, _, value = (unquote(part) for part in pair.partition("="))  # API Gateway percent-decodes
        query[key] = f"{query[key]},{value}" if key in query else value
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": API_ID,
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text_body,
        "isBase64Encoded": is_b64,
    }


def authorizer_event(event: dict) -> dict:
    """The REQUEST authorizer event (payload 2.0) API Gateway sends for ``event``."""
    auth = event["headers"].get("authorization")
    method = event["requestContext"]["http"]["method"]
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:000000000000:{API_ID}/$default/{method}"
        f"{event['rawPath']}",
        "identitySource": [auth] if auth else [],
        "routeKey": event["routeKey"],
        "rawPath": event["rawPath"],
        "rawQueryString": event["rawQueryString"],
        "headers": event["headers"],
        "requestContext": event["requestContext"],
    }


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class LocalGateway:
    """Authorizer + handler invocation, independent of the HTTP server (tests call it directly)."""

    def __init__(self, api_handler: Handler, authorizer_handler: Handler):
        self._api = api_handler
        self._authorizer = authorizer_handler

    def invoke(
        self, method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> GatewayResponse:
        event = http_api_event(method, path, headers, body, source_ip)
        if (method, event["rawPath"]) not in PUBLIC_ROUTES:
            if not event["headers"].get("authorization"):
                return _gateway_error(HTTPStatus.UNAUTHORIZED, "Unauthorized")
            verdict = self._authorizer(authorizer_event(event), LambdaContext("sysvmdiag-authorizer"))
            if not verdict.get("isAuthorized"):
                return _gateway_error(HTTPStatus.FORBIDDEN, "Forbidden")
            event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
        result = self._api(event, LambdaContext("sysvmdiag-api"))
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        headers = dict(result.get("headers") or {})
        headers.setdefault("content-type", "application/json")
        headers["x-request-id"] = event["requestContext"]["requestId"]
        return GatewayResponse(int(result.get("statusCode", 200)), headers, raw)


def _gateway_error(status: HTTPStatus, message: str) -> GatewayResponse:
    return GatewayResponse(
        int(status), {"content-type": "application/json"}, json.dumps({"message": message}).encode()
    )


def serve(gateway: LocalGateway, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    """Serve ``gateway`` on loopback in a background thread; returns the server (call shutdown())."""

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sysvmdiag-local"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(_gateway_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large"))
                return
            body = self.rfile.read(length) if length else b""
            try:
                response = gateway.invoke(
                    self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
            except Exception:  # the real gateway answers 500 when the integration fails
                traceback.print_exc()
                response = _gateway_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
            self._send(response)

        def _send(self, response: GatewayResponse) -> None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the handlers log as JSON
            return

    class Server(ThreadingHTTPServer):
        # socketserver's default backlog of 5 resets connections under a burst; API Gateway queues them.
        request_queue_size = 128

    server = Server((host, port), RequestHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="local-gateway", daemon=True).start()
    return server
