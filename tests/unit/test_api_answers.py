"""The API handler's own answers, in process on HTTP API events (no sockets): every one a coded JSON body
from the error catalogue, and the pipeline's answers passed through with their status and Retry-After."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sysvmdiag.local.gateway import LambdaContext, http_api_event
from tests.unit.conftest import World

ALICE = {"accountId": "acct-alice", "accountName": "alice", "role": "user", "domain": "ROOT/acme/engineering"}
BODY = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80", "params": "-c 1"}
GOOD = json.dumps(BODY).encode()
# One digit past Python's int max str digits (4300): int() raises a bare ValueError inside json.loads.
HUGE_INTEGER = (
    b'{"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80", "params": 9' + b"9" * 4300 + b"}"
)
FORM = b"targetId=r-4-VM&type=ping&ipAddress=198.51.100.80"
MULTIPART = (
    b'--x\r\nContent-Disposition: form-data; name="targetId"\r\n\r\nr-4-VM\r\n'
    b'--x\r\nContent-Disposition: form-data; name="type"\r\n\r\nping\r\n'
    b'--x\r\nContent-Disposition: form-data; name="ipAddress"\r\n\r\n198.51.100.80\r\n--x--\r\n'
)


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API handler with the pipeline on fakes behind it (its composition root swapped out)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from functions.api import app

    service = world.service()
    monkeypatch.setattr(app, "_service", lambda: service)
    yield app


def call(
    api: Any,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
    identity: dict[str, str] | None = ALICE,
) -> Any:
    event = http_api_event(method, path, {"content-type": content_type}, body, "192.0.2.7")
    if identity is not None:
        event["requestContext"]["authorizer"] = {"lambda": identity}
    answer = api.app.resolve(event, LambdaContext("api"))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers") or {}


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("GET", "/nope", b"", "application/json", 404, "ROUTE_NOT_FOUND"),
        ("PUT", "/systemvms", b"", "application/json", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/swagger", b"", "application/json", 405, "METHOD_NOT_ALLOWED"),  # registered when asked
        ("GET", "/diagnostics", b"", "application/json", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/diagnostics", b"{not json", "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b"[" * 5000 + b"]" * 5000, "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b"\xff\xfe\x00", "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b'{"type": "ping"}', "application/json", 400, "INVALID_REQUEST"),
        ("POST", "/diagnostics", b"a=b", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", b"--x--", "multipart/form-data", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", HUGE_INTEGER, "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", b"-" + b"9" * 4301, "application/json", 400, "INVALID_JSON"),
        ("POST", "/diagnostics", FORM, "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", MULTIPART, "multipart/form-data; boundary=x", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", GOOD, "application/jsonp", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/diagnostics", GOOD, "text/json", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_the_handlers_own_answers_are_coded(
    api: Any, method: str, path: str, body: bytes, content_type: str, status: int, code: str
) -> None:
    got_status, got, _headers = call(api, method, path, body, content_type)
    assert (got_status, got["code"]) == (status, code) and got["message"]


def test_a_result_and_a_refusal_come_through_with_their_status(api: Any, world: World) -> None:
    status, result, _ = call(api, "POST", "/diagnostics", json.dumps(BODY).encode())
    assert status == 200 and result["success"] is True and result["result"]["received"] == 3
    hidden = json.dumps({**BODY, "targetId": "r-9-VM"}).encode()
    status, refusal, _ = call(api, "POST", "/diagnostics", hidden)
    assert (status, refusal["code"], refusal["field"]) == (404, "TARGET_NOT_FOUND", "targetId")


def test_a_limit_answers_429_with_retry_after(api: Any, world: World) -> None:
    world.limiter.requests["acct-alice"] = 5
    status, refusal, headers = call(api, "POST", "/diagnostics", json.dumps(BODY).encode())
    assert (status, refusal["code"], headers.get("Retry-After")) == (429, "RATE_LIMITED", "42")


def test_a_bug_is_a_coded_500(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(api, "_service", broken)
    status, answer, _ = call(api, "GET", "/systemvms")
    assert (status, answer["code"]) == (500, "INTERNAL_ERROR")


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/JSON",
        "Application/Json; charset=UTF-8",
        "application/json;charset=utf-8",
        " application/json ",
    ],
)
def test_json_is_json_whatever_the_case_of_its_media_type(api: Any, content_type: str) -> None:
    status, result, _ = call(api, "POST", "/diagnostics", GOOD, content_type)
    assert status == 200 and result["success"] is True


EDGE_REFUSALS = [
    ("POST", "/diagnostics", b"{not json", "application/json", "INVALID_JSON"),
    ("POST", "/diagnostics", HUGE_INTEGER, "application/json", "INVALID_JSON"),
    ("POST", "/diagnostics", b"\xff\xfe\x00", "application/json", "INVALID_JSON"),
    ("POST", "/diagnostics", b'{"type": "ping"}', "application/json", "INVALID_REQUEST"),
    ("GET", "/audit?limit=0", b"", "application/json", "INVALID_REQUEST"),
    ("POST", "/diagnostics", FORM, "application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE"),
    ("POST", "/diagnostics", MULTIPART, "multipart/form-data; boundary=x", "UNSUPPORTED_MEDIA_TYPE"),
    ("DELETE", "/diagnostics", b"", "application/json", "METHOD_NOT_ALLOWED"),
    ("GET", "/nope", b"", "application/json", "ROUTE_NOT_FOUND"),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code"), EDGE_REFUSALS)
def test_a_refusal_at_the_edge_is_audited_and_counted(
    api: Any, world: World, method: str, path: str, body: bytes, content_type: str, code: str
) -> None:
    status, answer, _ = call(api, method, path, body, content_type)
    assert answer["code"] == code and status >= 400
    assert world.limiter.requests == {"acct-alice": 1}
    [record] = world.audit.records.values()
    assert (record.account_id, record.reason_code, record.decision, record.status) == (
        "acct-alice",
        code,
        "rejected",
        "rejected",
    )
    assert (record.source_ip, record.role, record.reason) == ("192.0.2.7", "user", answer["message"])


def test_a_bug_is_audited_and_counted(api: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    service = api._service()

    def broken(_caller: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(service, "list_targets", broken)
    status, answer, _ = call(api, "GET", "/systemvms")
    assert (status, answer["code"]) == (500, "INTERNAL_ERROR")
    [record] = world.audit.records.values()
    assert (record.reason_code, record.decision) == ("INTERNAL_ERROR", "rejected")
    assert world.limiter.requests == {"acct-alice": 1}


def test_a_valid_request_is_counted_and_audited_once(api: Any, world: World) -> None:
    status, _result, _ = call(api, "POST", "/diagnostics", GOOD)
    assert status == 200
    assert world.limiter.requests == {"acct-alice": 1} and len(world.audit.records) == 1


def test_probing_past_the_minute_is_rate_limited(api: Any, world: World) -> None:
    """Bad bodies spend the caller's minute like good ones; past it the answer is 429 and the audit keeps
    the refusal it replaced."""
    answers = [call(api, "POST", "/diagnostics", b"{not json")[:2] for _ in range(6)]
    assert [status for status, _ in answers] == [400] * 5 + [429]
    assert answers[-1][1]["code"] == "RATE_LIMITED"
    reasons = sorted((r.reason_code, r.detail_code or "") for r in world.audit.records.values())
    assert reasons == [("INVALID_JSON", "")] * 5 + [("RATE_LIMITED", "INVALID_JSON")]
    status, answer, headers = call(api, "POST", "/diagnostics", GOOD)
    assert (status, answer["code"], headers.get("Retry-After")) == (429, "RATE_LIMITED", "42")


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/diagnostics", b"{not json", "INVALID_JSON"),
        ("GET", "/systemvms", b"", "UNAUTHENTICATED"),
        ("GET", "/nope", b"", "ROUTE_NOT_FOUND"),
    ],
)
def test_a_request_without_a_caller_is_logged_and_counted_per_source(
    api: Any, world: World, caplog: pytest.LogCaptureFixture, method: str, path: str, body: bytes, code: str
) -> None:
    status, answer, _ = call(api, method, path, body, identity=None)
    assert answer["code"] == code and status >= 400
    assert world.limiter.requests == {"SOURCE#192.0.2.7": 1} and world.audit.records == {}
    [refusal] = [entry for entry in caplog.records if entry.getMessage() == "refused without a caller"]
    assert (refusal.source_ip, refusal.code) == ("192.0.2.7", code)  # type: ignore[attr-defined]


def test_a_source_without_a_caller_is_rate_limited_at_a_users_rate(api: Any, world: World) -> None:
    statuses = [call(api, "GET", "/systemvms", identity=None)[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # TIGHT: 5 requests a minute for users


def test_a_failing_limits_store_does_not_change_the_refusal(
    api: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(_account: str, _per_minute: int) -> None:
        raise RuntimeError("limits table down")

    monkeypatch.setattr(world.limiter, "count_request", down)
    status, answer, _ = call(api, "POST", "/diagnostics", b"{not json")
    assert (status, answer["code"]) == (400, "INVALID_JSON")
    [record] = world.audit.records.values()
    assert record.reason_code == "INVALID_JSON"


@pytest.mark.parametrize(
    ("method", "path", "allow"), [("GET", "/diagnostics", "POST"), ("DELETE", "/systemvms", "GET")]
)
def test_a_wrong_method_is_405_naming_the_methods_the_route_takes(
    api: Any, method: str, path: str, allow: str
) -> None:
    status, answer, headers = call(api, method, path)
    assert (status, answer["code"], headers.get("Allow")) == (405, "METHOD_NOT_ALLOWED", allow)
    assert allow in answer["message"]


# -- rate-limit transparency: X-RateLimit-* on counted answers, GET /limits ---------------------------

ADMIN = {"accountId": "acct-admin", "accountName": "admin", "role": "admin", "domain": "ROOT"}
BOB = {"accountId": "acct-bob", "accountName": "bob", "role": "user", "domain": "ROOT/globex"}


def quota_headers(headers: dict[str, str]) -> tuple[str | None, ...]:
    return tuple(headers.get(f"X-RateLimit-{name}") for name in ("Limit", "Remaining", "Reset"))


def test_a_counted_success_says_what_is_left_of_the_minute(api: Any, world: World) -> None:
    """TIGHT: users have 5 requests a minute; the fake's clock stands 42 s before its window ends."""
    status, _result, headers = call(api, "POST", "/diagnostics", GOOD)
    assert status == 200 and quota_headers(headers) == ("5", "4", "42")
    world.limiter.clock.now += 2.5
    assert quota_headers(call(api, "POST", "/diagnostics", GOOD)[2]) == ("5", "3", "40")


def test_an_edge_refusal_and_a_denial_carry_the_headers_too(api: Any, world: World) -> None:
    status, answer, headers = call(api, "POST", "/diagnostics", b"{not json")
    assert (status, answer["code"], quota_headers(headers)) == (400, "INVALID_JSON", ("5", "4", "42"))
    hidden = json.dumps({**BODY, "targetId": "r-9-VM"}).encode()
    status, answer, headers = call(api, "POST", "/diagnostics", hidden)
    assert (status, answer["code"], quota_headers(headers)) == (404, "TARGET_NOT_FOUND", ("5", "3", "42"))
    status, _answer, headers = call(api, "GET", "/systemvms", identity=None)  # per source address
    assert status == 401 and quota_headers(headers) == ("5", "4", "42")


def test_a_429_has_nothing_remaining_and_resets_when_retry_after_says(api: Any, world: World) -> None:
    world.limiter.requests["acct-alice"] = 5
    status, answer, headers = call(api, "POST", "/diagnostics", GOOD)
    assert (status, answer["code"], headers["Retry-After"]) == (429, "RATE_LIMITED", "42")
    assert quota_headers(headers) == ("5", "0", "42")
    world.limiter.clock.now += 42  # the next fixed window: a fresh minute
    status, _result, headers = call(api, "POST", "/diagnostics", GOOD)
    assert status == 200 and quota_headers(headers) == ("5", "4", "60")


def test_an_answer_that_counted_nothing_has_no_quota_headers(api: Any) -> None:
    for path in ("/systemvms", "/limits"):
        status, _answer, headers = call(api, "GET", path)
        assert status == 200 and quota_headers(headers) == (None, None, None)


def test_limits_shows_the_callers_quota_and_reading_it_spends_none(api: Any, world: World) -> None:
    call(api, "POST", "/diagnostics", GOOD)
    world.limiter.slots["ACCOUNT#acct-alice"] = {"job-1"}
    world.limiter.clock.now += 10
    for _ in range(3):
        status, view, _headers = call(api, "GET", "/limits")
        assert status == 200
    assert view == {
        "accountId": "acct-alice",
        "role": "user",
        "enforced": True,
        "requestsPerMinute": {"limit": 5, "used": 1, "remaining": 4, "resetSeconds": 32},
        "concurrentJobs": {"limit": 2, "inUse": 1},
        "vmConcurrentRuns": 1,
    }
    assert world.limiter.requests == {"acct-alice": 1} and len(world.audit.records) == 1  # the POST


def test_an_admin_may_read_another_accounts_limits(api: Any, world: World) -> None:
    call(api, "POST", "/diagnostics", GOOD)  # alice's request
    status, view, _ = call(api, "GET", "/limits?account=acct-alice", identity=ADMIN)
    assert status == 200 and view["accountId"] == "acct-alice" and view["role"] == "user"
    assert view["requestsPerMinute"] == {"limit": 5, "used": 1, "remaining": 4, "resetSeconds": 42}
    status, view, _ = call(api, "GET", "/limits?account=acct-unknown", identity=ADMIN)
    assert status == 200 and view["role"] is None  # the topology does not name it: use only
    assert view["requestsPerMinute"] == {"limit": None, "used": 0, "remaining": None, "resetSeconds": 42}
    assert view["concurrentJobs"] == {"limit": None, "inUse": 0}


def test_a_user_asking_about_another_account_learns_nothing(api: Any, world: World) -> None:
    call(api, "POST", "/diagnostics", GOOD, identity=BOB)
    answers = [call(api, "GET", f"/limits?account={who}") for who in ("acct-bob", "acct-nobody")]
    assert answers[0] == answers[1]
    status, answer, headers = answers[0]
    assert (status, answer["code"]) == (403, "LIMITS_ADMIN_ONLY")
    assert set(answer) == {"code", "message"} and "bob" not in answer["message"]
    assert quota_headers(headers) == (None, None, None)
    status, view, _ = call(api, "GET", "/limits?account=acct-alice")  # naming oneself is fine
    assert status == 200 and view["accountId"] == "acct-alice"


def test_limits_without_a_limits_table_say_nothing_is_enforced(
    api: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlimited = world.service(limits=None)
    monkeypatch.setattr(api, "_service", lambda: unlimited)
    status, _result, headers = call(api, "POST", "/diagnostics", GOOD)
    assert status == 200 and quota_headers(headers) == (None, None, None)
    status, view, _ = call(api, "GET", "/limits")
    assert status == 200 and view["enforced"] is False and view["requestsPerMinute"]["used"] == 0


def test_limits_and_the_quota_headers_are_in_the_openapi_document(api: Any) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    answers = document["paths"]["/limits"]["get"]["responses"]
    assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/LimitsView")
    assert "403" in answers
    posted = document["paths"]["/diagnostics"]["post"]["responses"]
    assert {"200", "202", "400", "429"} <= set(posted)
    for status in ("200", "202", "400", "429"):
        assert set(posted[status]["headers"]) == {
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        }
