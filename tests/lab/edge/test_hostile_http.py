"""Issue 14: hostile HTTP against the local stack over raw sockets. Every request gets a correct JSON
answer (or a close where HTTP requires one) within a bound; a request hidden in a body never reaches
the API function or the audit trail; every method on every route is answered as API Gateway and the
API answer it."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
import requests

from sysvmdiag.local.gateway import MAX_BODY_BYTES
from sysvmdiag.local.http_server import HEADER_READ_SECONDS
from tests.rawhttp import Answer, chunked, exchange, request

pytestmark = pytest.mark.lab

BOUND = 10.0  # seconds any answer may take (they come in milliseconds)
HOST = ("Host", "127.0.0.1")
JSON = ("Content-Type", "application/json")
CLOSE = ("Connection", "close")
ROUTES = {  # path -> the one method the API serves on it
    "/diagnostics": "POST",
    "/diagnostics/no-such-job": "GET",
    "/audit": "GET",
    "/systemvms": "GET",
    "/openapi.json": "GET",
    "/swagger": "GET",
}
PUBLIC = {"/openapi.json", "/swagger"}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


@pytest.fixture(scope="module")
def port(local_stack: dict) -> int:
    return int(urlsplit(local_stack["apiUrl"]).port or 80)


@pytest.fixture(scope="module")
def admin(api_keys: dict[str, str]) -> tuple[str, str]:
    return ("Authorization", f"Bearer {api_keys['admin']}")


def one_answer(port: int, raw: bytes, *, head: bool = False) -> tuple[Answer, bool]:
    result = exchange(port, raw, bound=BOUND, head=head)
    assert len(result.answers) == 1, result
    assert result.seconds < BOUND
    return result.answers[0], result.closed


def assert_api_gateway_json(answer: Answer, status: int) -> None:
    assert answer.status == status
    assert answer.header("content-type") == "application/json"
    assert set(answer.json()) == {"message"}
    assert answer.header("server") is None


def audited_target_ids(local_stack: dict, api_keys: dict[str, str]) -> set[str]:
    page = requests.get(
        f"{local_stack['apiUrl']}/audit",
        params={"account": "acct-admin", "limit": 200},
        headers={"Authorization": f"Bearer {api_keys['admin']}"},
        timeout=30,
    )
    assert page.status_code == 200, page.text
    return {record.get("targetId") or "" for record in page.json()["items"]}


@pytest.mark.parametrize(
    ("length", "status"),
    [
        ("-1", 400),
        ("-0", 400),
        ("abc", 400),
        ("0x10", 400),
        ("1 2", 400),
        ("99999999999999999999", 413),
        (str(MAX_BODY_BYTES + 1), 413),
    ],
)
def test_content_length_that_is_negative_huge_or_not_a_number(port, admin, length, status) -> None:
    raw = request("POST", "/diagnostics", [HOST, admin, JSON, ("Content-Length", length)], b"{}")
    answer, closed = one_answer(port, raw)
    assert_api_gateway_json(answer, status)
    assert closed  # the body's framing is unknown: nothing after it can be trusted (RFC 9112 6.3)


def test_a_request_inside_a_chunked_body_is_never_run_nor_audited(port, admin, local_stack, api_keys) -> None:
    marker = f"smuggled-{uuid.uuid4()}"
    body = b'{"targetId": "%s", "type": "ping", "ipAddress": "198.51.100.80"}' % marker.encode()
    embedded = request("POST", "/diagnostics", [HOST, admin, JSON, ("Content-Length", str(len(body)))], body)
    outer = request("POST", "/diagnostics", [HOST, admin, JSON, ("Transfer-Encoding", "chunked"), CLOSE])
    answer, _closed = one_answer(port, outer + chunked(embedded[:7], embedded[7:]))
    assert answer.status == 400 and answer.json()["code"] == "INVALID_JSON"  # the body, read as one
    # Content-Length and Transfer-Encoding together: refused and closed, so the tail never runs.
    both = request(
        "POST", "/diagnostics", [HOST, admin, JSON, ("Content-Length", "5"), ("Transfer-Encoding", "chunked")]
    )
    result = exchange(port, both + b"0\r\n\r\n" + embedded, expect=2, bound=BOUND)
    assert [a.status for a in result.answers] == [400] and result.closed
    assert marker not in audited_target_ids(local_stack, api_keys)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"GET /systemvms HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\n"
            b"Authorization: Bearer b\r\n\r\n",
            id="two-authorization-headers",
        ),
        pytest.param(
            b"GET /systemvms HTTP/1.1\r\nHost: h\r\nHost: i\r\nAuthorization: Bearer a\r\n\r\n",
            id="two-host-headers",
        ),
        pytest.param(
            b"GET /systemvms HTTP/1.1\r\nHost: h\r\nX-A: 1\rAuthorization: Bearer a\r\n\r\n",
            id="cr-split-header",
        ),
        pytest.param(
            b"GET /systemvms HTTP/1.1\r\nHost: h\r\nAuthorization : Bearer a\r\n\r\n", id="space-before-colon"
        ),
    ],
)
def test_duplicate_and_split_headers_are_refused_never_last_wins(port, raw: bytes) -> None:
    answer, closed = one_answer(port, raw)
    assert_api_gateway_json(answer, 400)
    assert closed


def test_a_folded_header_is_unfolded_as_http_allows_and_judged_whole(port) -> None:
    """RFC 9112 5.2: a server rejects obs-fold or replaces it with spaces (h11 does the latter): the key
    "Bearer a folded" is then simply not a key."""
    raw = b"GET /systemvms HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\n \tfolded\r\n\r\n"
    answer, _closed = one_answer(port, raw)
    assert_api_gateway_json(answer, 403)


def test_two_authorization_headers_of_valid_keys_are_refused(port, api_keys) -> None:
    raw = request(
        "GET",
        "/systemvms",
        [
            HOST,
            ("Authorization", f"Bearer {api_keys['alice']}"),
            ("Authorization", f"Bearer {api_keys['admin']}"),
        ],
    )
    answer, _closed = one_answer(port, raw)
    assert_api_gateway_json(answer, 400)


def test_slowloris_headers_are_cut_off_within_the_bound(port) -> None:
    trickle = [b"GET /systemvms HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % n for n in range(60)]
    result = exchange(port, trickle, pause=0.5, bound=HEADER_READ_SECONDS + 5)
    assert result.closed and result.answers == []
    assert result.seconds < HEADER_READ_SECONDS + 5


@pytest.mark.parametrize("path", [*ROUTES, "/nope"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_every_route_gets_its_status_in_json(port, admin, path: str, method: str) -> None:
    raw = request(method, path, [HOST, admin, ("Content-Length", "0"), CLOSE])
    answer, _closed = one_answer(port, raw, head=method == "HEAD")
    served = ROUTES.get(path)
    effective = "GET" if method == "HEAD" else method
    if served is None:
        expected, code = 404, "ROUTE_NOT_FOUND"
    elif effective != served:
        expected, code = 405, "METHOD_NOT_ALLOWED"
        assert answer.header("allow") == served
    else:
        expected = {"/diagnostics": 400, "/diagnostics/no-such-job": 404}.get(path, 200)
        code = {400: "INVALID_REQUEST", 404: "JOB_NOT_FOUND"}.get(expected)
    assert answer.status == expected and answer.header("server") is None
    if method == "HEAD":
        assert answer.body == b""
    elif path == "/swagger" and expected == 200:
        assert answer.header(
            "content-type",
        ).startswith("text/html")
    else:
        assert answer.header("content-type") == "application/json"
        assert answer.json().get("code") == code


@pytest.mark.parametrize("path", [*ROUTES, "/nope"])
@pytest.mark.parametrize("method", METHODS)
def test_without_a_key_every_route_but_the_public_ones_is_401(port, path: str, method: str) -> None:
    raw = request(method, path, [HOST, ("Content-Length", "0"), CLOSE])
    answer, _closed = one_answer(port, raw, head=method == "HEAD")
    if path in PUBLIC and method in ("GET", "HEAD"):
        assert answer.status == 200
        return
    assert answer.status == 401 and answer.header("content-type") == "application/json"
    if method != "HEAD":
        assert answer.json() == {"message": "Unauthorized"}


def test_the_source_address_is_the_peer_whatever_x_forwarded_for_says(port, admin, local_stack, api_keys):
    raw = request("PUT", "/systemvms", [HOST, admin, ("X-Forwarded-For", "203.0.113.77"), CLOSE])
    answer, _closed = one_answer(port, raw)
    assert answer.status == 405
    page = requests.get(
        f"{local_stack['apiUrl']}/audit",
        params={"account": "acct-admin", "limit": 50},
        headers={"Authorization": f"Bearer {api_keys['admin']}"},
        timeout=30,
    ).json()
    [record] = [r for r in page["items"] if r["id"] == answer.header("x-request-id")]
    assert record["sourceIp"] == "127.0.0.1" and record["reasonCode"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_the_cloudstack_api_gets_cloudstack_s_envelope(port, method: str) -> None:
    """/client/api takes GET and POST (an unsigned request: 401 under its command's name); any other
    method is 405 in CloudStack's envelope. Never API Gateway's own answer: the route has no authorizer."""
    raw = request(
        method, "/client/api?command=listApis&response=json", [HOST, ("Content-Length", "0"), CLOSE]
    )
    answer, _closed = one_answer(port, raw, head=method == "HEAD")
    expected = 401 if method in ("GET", "HEAD", "POST") else 405
    assert answer.status == expected and answer.header("server") is None
    if method != "HEAD":
        envelope = answer.json()["listapisresponse" if expected == 401 else "errorresponse"]
        assert envelope["errorcode"] == expected and answer.header("content-type") == "application/json"


def test_a_chunked_form_body_reaches_the_cloudstack_api_whole(port) -> None:
    body = b"command=listApis&response=json&apikey=nobody&signature=x"
    form = ("Content-Type", "application/x-www-form-urlencoded")
    raw = request("POST", "/client/api", [HOST, form, ("Transfer-Encoding", "chunked"), CLOSE], chunked(body))
    answer, _closed = one_answer(port, raw)
    assert answer.status == 401 and answer.json()["listapisresponse"]["errorcode"] == 401
