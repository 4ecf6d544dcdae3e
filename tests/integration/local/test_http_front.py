"""The local gateway's HTTP front (uvicorn + h11) over loopback, with a recording stand-in for the
functions: hostile framing gets API Gateway's JSON answer or a close, within a bound, and never reaches
a function; slow clients are cut off."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sysvmdiag.local.gateway import MAX_BODY_BYTES, GatewayResponse
from sysvmdiag.local.http_server import KEEP_ALIVE_SECONDS, HttpFront
from sysvmdiag.local.motoserver import free_loopback_port
from tests.rawhttp import chunked, exchange, request

HEADER_BOUND = 1.0
BODY_BOUND = 1.0
AUTH = ("Authorization", "Bearer k")
HOST = ("Host", "127.0.0.1")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict, bytes, str]] = []

    def invoke(self, method: str, path: str, headers: dict, body: bytes, source_ip: str) -> GatewayResponse:
        self.calls.append((method, path, headers, body, source_ip))
        payload = json.dumps({"method": method, "path": path}).encode()
        return GatewayResponse(200, {"content-type": "application/json"}, payload)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder()
    port = free_loopback_port()
    front = HttpFront(
        recorder,  # type: ignore[arg-type]
        "127.0.0.1",
        port,
        max_in_flight=8,
        header_read_seconds=HEADER_BOUND,
        body_read_seconds=BODY_BOUND,
    ).start()
    yield port, recorder
    front.stop()


@pytest.fixture
def port(served: tuple[int, Recorder]) -> int:
    served[1].calls.clear()
    return served[0]


@pytest.fixture
def calls(served: tuple[int, Recorder]) -> list:
    return served[1].calls


def post(extra: list[tuple[str, str]], body: bytes = b"") -> bytes:
    return request("POST", "/diagnostics", [HOST, AUTH, *extra], body)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (post([("Content-Length", "-1")], b"{}"), 400),
        (post([("Content-Length", "abc")], b"{}"), 400),
        (post([("Content-Length", "1e3")], b"{}"), 400),
        (post([("Content-Length", "99999999999999999999")], b"{}"), 413),
        (post([("Content-Length", str(MAX_BODY_BYTES + 1))], b"{}"), 413),
        (post([("Content-Length", "2"), ("Content-Length", "3")], b"{}"), 400),
        (post([("Transfer-Encoding", "gzip, chunked")], chunked(b"{}")), 400),
        (post([("Transfer-Encoding", "chunked")], b"zz\r\n{}\r\n0\r\n\r\n"), 400),
        (post([("Transfer-Encoding", "chunked")], chunked(b"x" * 40_000, b"y" * 40_000)), 413),
        (request("GET", "/systemvms", [HOST, AUTH, AUTH]), 400),
        (request("GET", "/systemvms", [HOST, HOST, AUTH]), 400),
        (request("GET", "/systemvms", [AUTH]), 400),  # HTTP/1.1 without Host
        (b"GET /systemvms HTTP/1.1\r\nHost: h\r\nX-A: 1\rAuthorization: Bearer k\r\n\r\n", 400),
        (request("GET", "/systemvms", [HOST, AUTH, ("X-Big", "b" * 11_000)]), 431),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),  # TLS to a plain port
    ],
)
def test_hostile_framing_gets_a_json_answer_and_a_close_and_reaches_no_function(
    port: int, calls: list, raw: bytes, status: int
) -> None:
    result = exchange(port, raw, bound=5)
    [answer] = result.answers
    assert answer.status == status and answer.header("content-type") == "application/json"
    assert "message" in answer.json()
    assert result.closed and result.seconds < 5
    assert calls == []


def test_a_head_that_keeps_growing_is_refused_before_it_is_whole(port: int, calls: list) -> None:
    pieces = [b"GET /systemvms HTTP/1.1\r\nHost: h\r\n"] + [b"X-Big: " + b"b" * 8000 + b"\r\n"] * 4
    result = exchange(port, pieces, pause=0.05, bound=5)
    assert [answer.status for answer in result.answers] == [400] and result.closed
    assert calls == []


def test_a_chunked_body_is_one_body_and_the_request_inside_it_never_runs(port: int, calls: list) -> None:
    embedded = request("GET", "/smuggled", [HOST, AUTH])
    result = exchange(port, post([("Transfer-Encoding", "chunked")], chunked(embedded[:10], embedded[10:])))
    [answer] = result.answers
    assert answer.status == 200
    assert [(method, path, body) for method, path, _h, body, _ip in calls] == [
        ("POST", "/diagnostics", embedded)
    ]


def test_content_length_with_transfer_encoding_is_refused_and_what_follows_never_runs(
    port: int, calls: list
) -> None:
    smuggled = request("GET", "/smuggled", [HOST, AUTH])
    raw = post([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], b"0\r\n\r\n" + smuggled)
    result = exchange(port, raw, expect=2, bound=3)
    assert [answer.status for answer in result.answers] == [400] and result.closed
    assert calls == []


def test_pipelined_requests_are_answered_in_order(port: int, calls: list) -> None:
    raw = request("GET", "/a", [HOST, AUTH]) + request("GET", "/b", [HOST, AUTH, ("Connection", "close")])
    result = exchange(port, raw, expect=2)
    assert [answer.json()["path"] for answer in result.answers] == ["/a", "/b"]


def test_head_answers_get_s_headers_without_a_body(port: int, calls: list) -> None:
    result = exchange(port, request("HEAD", "/systemvms", [HOST, AUTH, ("Connection", "close")]), head=True)
    [answer] = result.answers
    assert answer.status == 200 and int(answer.header("content-length") or 0) > 0
    assert result.leftover == b"" and calls[0][0] == "GET"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "QUERY"])
def test_every_method_reaches_the_gateway_as_sent(port: int, calls: list, method: str) -> None:
    result = exchange(port, request(method, "/systemvms", [HOST, AUTH, ("Content-Length", "0")]))
    assert result.answers[0].json()["method"] == method


def test_no_server_header_and_the_source_is_the_peer_not_x_forwarded_for(port: int, calls: list) -> None:
    result = exchange(port, request("GET", "/systemvms", [HOST, AUTH, ("X-Forwarded-For", "203.0.113.5")]))
    [answer] = result.answers
    assert answer.header("server") is None and answer.header("date")
    assert calls[0][4] == "127.0.0.1"


def test_headers_sent_too_slowly_get_the_connection_closed(port: int, calls: list) -> None:
    trickle = [b"GET /systemvms HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % n for n in range(20)]
    result = exchange(port, trickle, pause=0.2, bound=HEADER_BOUND + 3)
    assert result.closed and result.answers == []
    assert result.seconds < HEADER_BOUND + 3
    assert calls == []


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    result = exchange(port, b"", bound=HEADER_BOUND + 3)
    assert result.closed and result.seconds < HEADER_BOUND + 3


def test_a_body_sent_too_slowly_gets_408(port: int, calls: list) -> None:
    result = exchange(port, post([("Content-Length", "100")], b"{"), bound=BODY_BOUND + 3)
    [answer] = result.answers
    assert (answer.status, answer.json()) == (408, {"message": "Request Timeout"}) and result.closed
    assert calls == []


def test_a_kept_alive_connection_serves_again_then_closes_when_idle(port: int, calls: list) -> None:
    raw = request("GET", "/a", [HOST, AUTH])
    result = exchange(port, [raw, raw], pause=0.1, expect=3, bound=KEEP_ALIVE_SECONDS + 3)
    assert [answer.json()["path"] for answer in result.answers] == ["/a", "/a"]
    assert result.closed and result.seconds < KEEP_ALIVE_SECONDS + 3
