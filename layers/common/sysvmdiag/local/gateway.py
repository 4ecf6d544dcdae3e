"""A stand-in for API Gateway (HTTP API) on loopback: each HTTP request becomes a payload v2 event.

Like the real thing it runs the Lambda authorizer first (simple responses), puts its context in
``requestContext.authorizer.lambda`` and then invokes the API function. It is what ``sam local
start-api`` would do, without Docker. The HTTP itself is served by ``sysvmdiag.local.front`` (uvicorn);
this module is the part that knows API Gateway's events and answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from sysvmdiag.ttl_cache import TtlCache

Handler = Callable[[dict, Any], dict]

# Routes open without an API key (same list as the template's Auth: NONE routes).
PUBLIC_ROUTES = frozenset({("GET", "/openapi.json"), ("GET", "/swagger")})
MAX_BODY_BYTES = 64 * 1024  # API Gateway's payload limit is 10 MB; the API takes small JSON bodies
# API Gateway (HTTP API) quota: the request line and header values together, 10,240 bytes.
MAX_HEADER_BYTES = 10 * 1024
API_ID = "local"
# API Gateway keeps a Lambda authorizer's answer per identity source (the Authorization header) for the
# template's ReauthorizeEvery; the stand-in does the same, so a warm request costs the authorizer nothing.
AUTHORIZER_CACHE_SECONDS = 60
AUTHORIZER_CACHE_ENTRIES = 4096


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that powertools reads; the deadline is ``timeout_ms``
    from the invocation (``deadline_ms`` if given)."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    deadline_ms: int = 0
    timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        if not self.deadline_ms:
            self.deadline_ms = _now_ms() + self.timeout_ms

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - _now_ms())

    def started_now(self) -> LambdaContext:
        """This invocation's context with its deadline counted from now: Lambda starts a function's
        timeout when the instance takes the event, after any cold start."""
        return replace(self, deadline_ms=_now_ms() + self.timeout_ms)


def _now_ms() -> int:
    return int(time.time() * 1000)


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


class AuthorizerCache:
    """Authorizer answers by the hash of their Authorization header, for ``ttl`` seconds (allowed and
    refused alike, as API Gateway caches them), the oldest dropped past ``max_entries``."""

    def __init__(
        self,
        ttl: float = AUTHORIZER_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = AUTHORIZER_CACHE_ENTRIES,
    ) -> None:
        self._answers: TtlCache[str, dict] = TtlCache(ttl, max_entries, clock)

    @staticmethod
    def _key(authorization: str) -> str:
        return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()

    def answer(self, authorization: str, authorize: Callable[[], dict]) -> dict:
        """The kept answer, else ``authorize()``'s; requests arriving together with one header share
        one authorizer call (a burst with one API key costs one, not one per request)."""
        return self._answers.get_or_load(self._key(authorization), authorize) or {}  # {}: not authorized


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class LocalGateway:
    """Authorizer + handler invocation, independent of the HTTP server (tests call it directly).

    ``open_routes`` maps a path to the function serving every method on it with no authorizer (the
    template's ``ANY /client/api`` with ``Authorizer: NONE``: a CloudStack request's signature is its
    authentication, checked by the function)."""

    def __init__(
        self,
        api_handler: Handler,
        authorizer_handler: Handler,
        open_routes: dict[str, Handler] | None = None,
        authorizations: AuthorizerCache | None = None,
    ):
        self._api = api_handler
        self._authorizer = authorizer_handler
        self._open_routes = open_routes or {}
        self._authorizations = authorizations or AuthorizerCache()

    def invoke(
        self, method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> GatewayResponse:
        event = http_api_event(method, path, headers, body, source_ip)
        open_route = self._open_routes.get(event["rawPath"])
        if open_route is not None:
            event["routeKey"] = f"ANY {event['rawPath']}"
            return _answer(open_route(event, LambdaContext("sysvmdiag-cloudstack-api")), event)
        if (method, event["rawPath"]) not in PUBLIC_ROUTES:
            authorization = event["headers"].get("authorization")
            if not authorization:
                return gateway_error(HTTPStatus.UNAUTHORIZED, "Unauthorized")
            verdict = self._authorizations.answer(
                authorization,
                lambda: self._authorizer(authorizer_event(event), LambdaContext("sysvmdiag-authorizer")),
            )
            if not verdict.get("isAuthorized"):
                return gateway_error(HTTPStatus.FORBIDDEN, "Forbidden")
            event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
        return _answer(self._api(event, LambdaContext("sysvmdiag-api")), event)


def _answer(result: dict, event: dict) -> GatewayResponse:
    """A function's proxy result as API Gateway answers it."""
    payload = result.get("body") or ""
    raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    # HTTP header names are case-insensitive: one of each, as API Gateway sends them.
    headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    headers.setdefault("content-type", "application/json")
    headers["x-request-id"] = event["requestContext"]["requestId"]
    return GatewayResponse(int(result.get("statusCode", 200)), headers, raw)


def gateway_error(status: HTTPStatus, message: str | None = None) -> GatewayResponse:
    """An answer of API Gateway itself: ``{"message": ...}`` (the status phrase unless told)."""
    body = json.dumps({"message": message or status.phrase}).encode()
    return GatewayResponse(int(status), {"content-type": "application/json"}, body)
