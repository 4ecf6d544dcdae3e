"""The local gateway's ASGI front without a server: what it refuses before a function runs, how a request
becomes the gateway's call, and that every answer it makes itself is API Gateway's JSON."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sysvmdiag.local.front import GatewayApp, event_headers, refusal_for, request_target
from sysvmdiag.local.gateway import MAX_BODY_BYTES, GatewayResponse

AUTH = (b"authorization", b"Bearer k")


class RecordingGateway:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail

    def invoke(self, method: str, path: str, headers: dict, body: bytes, source_ip: str) -> GatewayResponse:
        self.calls.append((method, path, headers, body, source_ip))
        if self.fail:
            raise RuntimeError("the function instance died")
        return GatewayResponse(200, {"content-type": "application/json", "Connection": "x"}, b'{"ok": 1}')


def scope(method: str = "POST", headers: list | None = None, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": "/diagnostics",
        "raw_path": b"/diagnostics",
        "query_string": query,
        "headers": [(b"host", b"h"), AUTH, *(headers or [])],
        "client": ("127.0.0.9", 5000),
    }


def run(
    app_scope: dict,
    chunks: list[bytes] | None = None,
    gateway: Any = None,
    receive: Any = None,
    body_read_seconds: float = 5.0,
):
    """Call the app; the answer as (status, headers dict, body) or None if it answered nothing."""
    gateway = gateway or RecordingGateway()
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks or [b""]) - 1}
        for i, c in enumerate(chunks or [b""])
    ]
    sent: list[dict] = []

    async def next_message() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with ThreadPoolExecutor(max_workers=2) as pool:
        app = GatewayApp(gateway, pool, body_read_seconds)
        asyncio.run(app(app_scope, receive or next_message, send))
    if not sent:
        return None
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([AUTH], 400),  # a second Authorization: refused, never last-wins
        ([(b"host", b"other")], 400),
        ([(b"content-length", b"4"), (b"transfer-encoding", b"chunked")], 400),
        ([(b"content-length", str(MAX_BODY_BYTES + 1).encode())], 413),
        ([(b"content-length", b"99999999999999999999")], 413),
        ([(b"x-big", b"b" * 10_300)], 431),
    ],
)
def test_refused_from_the_headers_alone_with_a_json_answer_and_close(headers: list, status: int) -> None:
    gateway = RecordingGateway()
    answer = run(scope(headers=headers), gateway=gateway)
    assert answer is not None
    code, sent_headers, body = answer
    assert code == status and sent_headers["connection"] == "close"
    assert sent_headers["content-type"] == "application/json" and "message" in json.loads(body)
    assert gateway.calls == []  # nothing reached the authorizer or the function


def test_one_of_each_header_is_fine() -> None:
    assert refusal_for([(b"host", b"h"), AUTH, (b"content-length", str(MAX_BODY_BYTES).encode())]) is None


def test_a_body_over_the_limit_in_chunks_is_413_and_never_invoked() -> None:
    gateway = RecordingGateway()
    chunk = b"x" * (MAX_BODY_BYTES // 2)
    status, headers, _ = run(scope(), [chunk, chunk, b"y"], gateway)
    assert (status, headers["connection"]) == (413, "close") and gateway.calls == []


def test_a_body_in_chunks_arrives_whole_and_the_event_is_built_from_the_request() -> None:
    gateway = RecordingGateway()
    status, headers, body = run(
        scope(headers=[(b"x-a", b"1"), (b"X-A", b"2")], query=b"a=%20b"), [b'{"a"', b": 1}"], gateway
    )
    assert (status, body) == (200, b'{"ok": 1}')
    assert headers["content-length"] == "9" and "Connection" not in headers  # framing is the server's
    [(method, path, event_headers_, sent_body, source)] = gateway.calls
    assert (method, path, sent_body, source) == ("POST", "/diagnostics?a=%20b", b'{"a": 1}', "127.0.0.9")
    assert event_headers_["x-a"] == "1,2"  # repeated headers joined with commas, as API Gateway does


def test_head_is_served_as_get() -> None:
    gateway = RecordingGateway()
    run(scope("HEAD"), gateway=gateway)
    assert gateway.calls[0][0] == "GET"


def test_a_failed_invocation_is_api_gateway_s_json_500() -> None:
    status, _headers, body = run(scope(), gateway=RecordingGateway(fail=True))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_a_client_that_never_sends_its_body_gets_408() -> None:
    gateway = RecordingGateway()

    async def never() -> dict:
        await asyncio.Event().wait()
        return {}

    status, headers, body = run(scope(), gateway=gateway, receive=never, body_read_seconds=0.05)
    assert (status, headers["connection"], json.loads(body)) == (408, "close", {"message": "Request Timeout"})
    assert gateway.calls == []


def test_a_client_gone_before_its_body_is_not_invoked() -> None:
    gateway = RecordingGateway()

    async def gone() -> dict:
        return {"type": "http.disconnect"}

    assert run(scope(), gateway=gateway, receive=gone) is None and gateway.calls == []


def test_the_raw_target_and_headers_are_kept_as_sent() -> None:
    assert request_target(scope(query=b"x=%2F")) == "/diagnostics?x=%2F"
    assert event_headers([(b"Content-Type", b"APPLICATION/JSON")]) == {"content-type": "APPLICATION/JSON"}
