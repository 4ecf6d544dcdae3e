"""Every field of POST /diagnostics fuzzed with hostile values, through the API handler in process.

The handler runs against the local stack's DynamoDB (the real topology store); only the SSH runner is
replaced, by a recorder, so "nothing runs outside policy" can be checked on every example cheaply:
each command the recorder receives must be one the policy allows on the topology *file* (not the
store's slice the service decided on) and must be in canonical form, exactly as the VM side accepts it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sysvmdiag.identity import authorizer_context
from sysvmdiag.local.gateway import LambdaContext, http_api_event
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.policy import Caller, decide
from sysvmdiag.toolargs import TOOLS, parse_command_line
from sysvmdiag.topology.model import HostKind, Role, SshEndpoint
from tests.lab.fuzz.hostile import (
    HOST_ADDRESSES,
    HOSTILE_TYPES,
    INFRASTRUCTURE_NETWORKS,
    LAB_PLANE,
    TOPOLOGY,
    TYPES,
    allowed_flags,
    examples,
    hostile_destination,
    hostile_params,
    hostile_target,
    mapped_ipv6,
    non_canonical_ipv4,
)

pytestmark = pytest.mark.lab

# 202 (async job) and 429 (rate limit) are coming with the lead's jobs/limits work: valid, non-5xx.
ACCEPTABLE_STATUSES = {200, 202, 400, 401, 403, 404, 409, 413, 415, 422, 429}
ACCOUNTS = {account.name: account for account in TOPOLOGY.accounts}


@dataclass
class _FakeOutput:
    exit_code: int | None = 1
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_ms: int = 1


@dataclass
class RecordingRunner:
    """Stands in for the SSH runner: records what would have run, runs nothing."""

    calls: list[tuple[SshEndpoint, SshEndpoint, str, float]] = field(default_factory=list)

    def runner_for(self, bastion: SshEndpoint) -> RecordingRunner._Bound:
        return RecordingRunner._Bound(self, bastion)

    @dataclass
    class _Bound:
        owner: RecordingRunner
        bastion: SshEndpoint

        def run(
            self, vm: SshEndpoint, command: str, timeout: float, *, connect_allowance: float = 0.0
        ) -> _FakeOutput:
            self.owner.calls.append((self.bastion, vm, command, timeout))
            return _FakeOutput()


@pytest.fixture
def recording_api(handler_env: None, local_store: Any) -> Iterator[RecordingRunner]:
    """The API handler wired to the local stack's store and a recording runner."""
    from functions.api import app as api_app

    recorder = RecordingRunner()
    service = DiagnosticsService(local_store, recorder.runner_for)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api_app, "_service", lambda: service)
        yield recorder


def call_api(
    account_name: str, body: bytes | str | None, content_type: str | None = "application/json"
) -> tuple[int, dict[str, Any]]:
    """One POST /diagnostics as API Gateway would deliver it after the authorizer let it through."""
    from functions.api.app import lambda_handler

    raw = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else (body or b"")
    headers = {} if content_type is None else {"content-type": content_type}
    event = http_api_event("POST", "/diagnostics", headers, raw, "127.0.0.1")
    event["requestContext"]["authorizer"] = {"lambda": authorizer_context(ACCOUNTS[account_name])}
    response = lambda_handler(event, LambdaContext("sysvmdiag-api"))
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    status = response["statusCode"]
    assert "Traceback" not in text, text
    try:
        parsed = json.loads(text)
    except ValueError:
        pytest.fail(f"{status} answer is not JSON: {text[:300]!r}")
    assert isinstance(parsed, dict), text[:300]
    return status, parsed


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def caller_of(account_name: str) -> Caller:
    account = ACCOUNTS[account_name]
    return Caller(account.id, account.role, account.domain)


def assert_answer_is_clean(status: int, body: dict[str, Any]) -> None:
    assert status < 500, f"server error {status}: {body}"
    assert status in ACCEPTABLE_STATUSES, f"unexpected status {status}: {body}"
    if status >= 400:
        assert isinstance(body.get("code"), str) and body["code"], body
        assert isinstance(body.get("message"), str), body


def assert_runs_were_within_policy(account_name: str, payload: Any, calls: list) -> None:
    """Whatever reached the runner: allowed by the policy on the file topology, canonical, on that VM."""
    if not calls:
        return
    assert len(calls) == 1, calls
    _bastion, vm_endpoint, command, timeout = calls[0]
    try:
        request = DiagnosticRequest.model_validate(payload)
    except ValidationError as err:
        pytest.fail(f"{command!r} ran for a request the model refuses: {err}")
    caller = caller_of(account_name)
    decision = decide(
        caller, request.target_id, request.type.value, request.ip_address, request.params, TOPOLOGY
    )
    assert decision.allowed, f"{command!r} ran although the policy says {decision.code}: {decision.message}"
    assert decision.invocation is not None
    assert command == decision.invocation.command_line()
    vm = TOPOLOGY.system_vm(request.target_id)
    assert vm.ssh is not None and vm_endpoint.address == vm.ssh.address
    assert timeout <= 30

    # Canonical form, checked without the policy: the VM side takes it back token for token,
    # every option is on the tool's allow-list, the destination is a canonical literal.
    tokens = shlex.split(command)
    assert parse_command_line(command) == tokens
    tool, *options, destination = tokens
    assert tool in TOOLS and tool == request.type.value
    address = ipaddress.ip_address(destination)
    assert str(address) == destination
    assert not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped)
    flags = allowed_flags(tool)
    for token in options:
        assert token in flags or not token.startswith("-"), f"{token} is not on the {tool} allow-list"
    if caller.role is not Role.ADMIN:
        assert vm.kind in (HostKind.VR, HostKind.VPCVR)
        for network in INFRASTRUCTURE_NETWORKS + LAB_PLANE:
            assert address not in network, f"{caller.account_id} probed {address} in {network}"


# -- request bodies --------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
WRONG_TYPES = st.one_of(
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3),
)
ALIASES = {
    "targetId": ["targetId", "uuid", "targetid", "target_id", "TargetId", "target-id"],
    "type": ["type", "diagnosisTest", "Type", "diagnosistest"],
    "ipAddress": ["ipAddress", "destinationIpAddress", "ipaddress", "ip_address", "IPAddress"],
    "params": ["params", "Params", "parameters"],
}


VALID_PARAMS = [
    None,
    "",
    "-c 1",
    "-c1",
    "-c 2 -i 0.2",
    "-n -w 2",
    "-I eth0",
    "-i eth0",
    "-4",
    "-6",
    "-w 2",
    "-m 5 -q 1",
    "-T -p 22",
    "-c 1 -W 1",
    "-s 56",
    "-t 64",
]


def _allowed_bases() -> list[tuple[str, str, str, str]]:
    """(account, VM, test, destination) the policy allows with no params: the starting points that
    make a mutated request reach the runner, where what runs can be checked."""
    bases = []
    for account in sorted(ACCOUNTS):
        for vm in TOPOLOGY.system_vms():
            for test in TYPES:
                for address in map(str, HOST_ADDRESSES):
                    if decide(caller_of(account), vm.name, test, address, None, TOPOLOGY).allowed:
                        bases.append((account, vm.vm_name or vm.name, test, address))
    return bases


ALLOWED_BASES = _allowed_bases()


@st.composite
def account_and_payload(draw: st.DrawFn) -> tuple[str, Any]:
    """A caller and a JSON body: mostly a request the policy allows, with one or two fields made
    hostile (another spelling of the same address, smuggled options, ...), so many examples reach the
    runner; sometimes renamed, wrongly typed or missing fields, an unknown extra field, or no object."""
    if draw(st.integers(0, 29)) == 0:
        return draw(st.sampled_from(sorted(ACCOUNTS))), draw(WRONG_TYPES)
    account, target, test, destination = draw(st.sampled_from(ALLOWED_BASES))
    if draw(st.booleans()):
        account = draw(st.sampled_from(sorted(ACCOUNTS)))  # someone else asks for the same
    address = ipaddress.ip_address(destination)
    same_address = [destination]
    if address.version == 4:
        same_address += mapped_ipv6(address) + non_canonical_ipv4(address)
    else:
        same_address += [destination.upper(), address.exploded, f"{destination}%eth0", f"[{destination}]"]
    hostile_values = {
        "targetId": hostile_target(),
        "type": st.one_of(st.sampled_from(TYPES), st.sampled_from(HOSTILE_TYPES), st.text(max_size=16)),
        "ipAddress": st.one_of(st.sampled_from(same_address), hostile_destination()),
        "params": st.one_of(st.sampled_from(VALID_PARAMS), hostile_params()),
    }
    base = {"targetId": target, "type": test, "ipAddress": destination, "params": None}
    hostile_fields = draw(st.sets(st.sampled_from(sorted(base)), max_size=2))
    payload: dict[str, Any] = {}
    for name, value in base.items():
        shape = draw(st.integers(0, 39))
        if shape == 0:
            continue  # missing
        key = name if shape > 2 else draw(st.sampled_from(ALIASES[name]))
        if shape == 1:
            payload[key] = draw(WRONG_TYPES)
        elif name in hostile_fields:
            payload[key] = draw(hostile_values[name])
        elif value is not None:
            payload[key] = value
    if draw(st.integers(0, 19)) == 0:
        payload[draw(st.text(min_size=1, max_size=24))] = draw(WRONG_TYPES)  # an unknown extra field
    return account, payload


# Found by this suite and fixed in functions/api/app.py (they were 500s): deep nesting, not UTF-8.
RAW_BODIES = [
    None,
    "",
    "{",
    "{}",
    "null",
    "[]",
    '"ping"',
    "NaN",
    '{"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11", "targetId": "s-1-VM"}',
    '{"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11"}  trailing',
    '{"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11\\u0000"}',
    '{"targetId": "\\ud800", "type": "ping", "ipAddress": "10.1.1.11"}',
    '{"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11", "params": "-c 1e99999"}',
    '{"targetId": "r-4-VM", "type": "ping", "ipAddress": 1e999}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 2000 + "1" + "}" * 2000,
    b"\xff\xfe\x00",
]


@settings(
    max_examples=examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=account_and_payload())
@example(request=("alice", {"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11"}))
@example(request=("admin", {"uuid": "s-1-VM", "type": "ping", "ipAddress": "::ffff:ac1f:c80a"}))
def test_no_hostile_field_gets_a_server_error_or_a_run_outside_policy(
    recording_api: RecordingRunner, request: tuple[str, Any]
) -> None:
    account_name, payload = request
    recording_api.calls.clear()
    body = json.dumps(payload, ensure_ascii=False)
    if not body.isascii() and not _encodes(body):
        body = json.dumps(payload)  # lone surrogates travel as \ud800 escapes; raw ones are not UTF-8
    status, answer = call_api(account_name, body)
    event(f"{status} {answer.get('code', '')} {answer.get('field', '')}")
    assert_answer_is_clean(status, answer)
    assert_runs_were_within_policy(account_name, payload, recording_api.calls)
    if status == 200:
        assert len(recording_api.calls) == 1, "a result without a run"


@pytest.mark.parametrize("raw", RAW_BODIES, ids=lambda raw: repr(raw)[:40])
def test_malformed_bodies_are_refused_cleanly(
    recording_api: RecordingRunner, raw: str | bytes | None
) -> None:
    recording_api.calls.clear()
    status, answer = call_api("admin", raw)
    assert_answer_is_clean(status, answer)
    if status != 200:
        assert not recording_api.calls
    else:  # the duplicate-key body: JSON's last key wins, and what ran must match that reading
        assert_runs_were_within_policy("admin", json.loads(raw), recording_api.calls)


# Unsupported types get our 415 UNSUPPORTED_MEDIA_TYPE (powertools' own 415 had no code; multipart
# without a boundary was a 500).
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",  # powertools compares case-sensitively: a clean 415, not a 500
    None,
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "text/plain",
    "application/xml",
    "application/json\r\nX-Injected: 1",
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64 encoding")
def test_request_content_types_are_answered_cleanly(
    recording_api: RecordingRunner, content_type: str | None
) -> None:
    payload = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "10.1.1.11"}
    recording_api.calls.clear()
    status, answer = call_api("alice", json.dumps(payload), content_type)
    assert_answer_is_clean(status, answer)
    assert_runs_were_within_policy("alice", payload, recording_api.calls)


# The nastiest cases with the exact answer each must get: the hostile form is refused for what it is,
# not by accident further down.
EXPECTED = [
    # (account, target, type, ip, params) -> (status, code)
    (("alice", "r-4-VM", "ping", "10.1.1.11", None), (200, None)),
    (("admin", "s-1-VM", "ping", "::ffff:172.31.200.10", None), (200, None)),
    (("alice", "r-4-VM", "ping", "::ffff:172.31.200.5", None), (403, "DESTINATION_IN_MANAGEMENT_RANGE")),
    (("alice", "r-4-VM", "ping", "::ffff:ac1f:c805", None), (403, "DESTINATION_IN_MANAGEMENT_RANGE")),
    (("alice", "r-4-VM", "ping", "::ffff:169.254.1.10", None), (403, "VR_CONTROL_OR_MANAGEMENT_ADDRESS")),
    (("alice", "r-4-VM", "ping", "fe80::1%eth1", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "010.001.001.011", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "0x0a01010b", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "167837963", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10.1.267", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11.", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "\uff11\uff10.1.1.11", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10\u30021\u30021\u300211", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "\u200f10.1.1.11", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11\x00", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11;id", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "$(id)", None), (400, "INVALID_DESTINATION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-c5;id"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-c 1 `id`"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-- -I eth1"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-I eth1"), (403, "INTERFACE_NOT_ALLOWED")),
    (("alice", "r-4-VM", "ping", "203.0.113.1", "-I eth0"), (403, "INTERFACE_NOT_ALLOWED")),
    (("bob", "r-4-VM", "ping", "10.1.1.11", None), (404, "TARGET_NOT_FOUND")),
    (("bob", "r-9-VM", "ping", "10.1.1.11", "-I eth0"), (404, "TARGET_NOT_FOUND")),
    (("dave", "r-11-VM", "ping", "10.4.0.21", "-I eth3"), (403, "SHARED_NETWORK_NOT_EXCLUSIVE")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-w 1e9"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-c 1 10.1.1.12"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-\u2010c 5"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-c\u00a05"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-c 5\n-I eth1"), (400, "INVALID_OPTION")),
    (("alice", "r-4-VM", "ping", "10.1.1.11", "-n " * 100), (400, "INVALID_REQUEST")),
    (("alice", "r-4-VM", "ping", "1" * 65, None), (400, "INVALID_REQUEST")),
    (("alice", "r-4-VM\u200f", "ping", "10.1.1.11", None), (404, "TARGET_NOT_FOUND")),
    (("alice", "\ud800", "ping", "10.1.1.11", None), (400, "INVALID_REQUEST")),
    (("admin", "r-4-VM", "ping", "10.1.1.11", "-I 10.1.1.1"), (403, "INTERFACE_NOT_ALLOWED")),
    (("alice", "r-4-VM", "ping;id", "10.1.1.11", None), (400, "INVALID_REQUEST")),
]


@pytest.mark.parametrize(("request_fields", "expected"), EXPECTED, ids=lambda v: repr(v)[:60])
def test_nastiest_inputs_get_their_exact_answer(
    recording_api: RecordingRunner, request_fields: tuple, expected: tuple[int, str | None]
) -> None:
    account_name, target, test, ip, params = request_fields
    payload: dict[str, Any] = {"targetId": target, "type": test, "ipAddress": ip}
    if params is not None:
        payload["params"] = params
    recording_api.calls.clear()
    status, answer = call_api(account_name, json.dumps(payload))
    assert (status, answer.get("code")) == expected, answer
    assert_runs_were_within_policy(account_name, payload, recording_api.calls)
    assert len(recording_api.calls) == (1 if status == 200 else 0)
