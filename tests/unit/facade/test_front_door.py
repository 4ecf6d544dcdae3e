"""The CloudStack front door in process (the Lambda handler on HTTP API events, the pipeline on fakes):
signed requests as cmk, cs and libcloud send them, CloudStack's envelopes and job states back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from sysvmdiag.cloudstack.signing import expires_at, sign, signed_params
from sysvmdiag.facade.auth import REFUSED
from sysvmdiag.facade.front_door import CloudStackFrontDoor
from sysvmdiag.local.gateway import LambdaContext, http_api_event
from sysvmdiag.topology.model import Account
from tests.unit.conftest import World
from tests.unit.fakes import LAB, runner_error, state_output
from tests.unit.test_vm_state_reads import EVERYTHING

WEB = "198.51.100.80"
MISSING = "0b5c4f9e-0000-4000-8000-000000000000"
SECRETS = {name: f"secret-of-{name}-" + "x" * 60 for name in ("admin", "alice", "bob")}


class FakeKeyPairs:
    """The key pair store: api key -> (account, clear secret)."""

    def __init__(self) -> None:
        self.pairs: dict[str, tuple[Account, str]] = {
            f"key-{name}": (LAB.account(name), secret) for name, secret in SECRETS.items()
        }

    def resolve(self, api_key: str) -> tuple[Account, str] | None:
        return self.pairs.get(api_key)


@pytest.fixture
def front(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    from functions.cloudstack_api import app

    door = CloudStackFrontDoor(world.service(), FakeKeyPairs(), clock=world.clock)
    monkeypatch.setattr(app, "_front_door", lambda: door)
    yield app


def send(
    front: Any, query: str = "", *, method: str = "GET", body: bytes = b"", content_type: str = ""
) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    event = http_api_event(
        method, f"/client/api?{query}" if query else "/client/api", headers, body, "192.0.2.7"
    )
    answer = front.app.resolve(event, LambdaContext("cloudstack-api"))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers") or {}


def signed(who: str, command: str, **params: str) -> str:
    return urlencode(
        signed_params({"command": command, "response": "json", **params}, f"key-{who}", SECRETS[who])
    )


def call(front: Any, who: str, command: str, **params: str) -> tuple[int, dict, dict]:
    status, body, headers = send(front, signed(who, command, **params))
    return status, body, headers


def run_ping(front: Any, who: str, target: str, **extra: str) -> tuple[int, dict, dict]:
    return call(front, who, "runDiagnostics", targetid=target, ipaddress=WEB, type="ping", **extra)


def finish(world: World, job_id: str) -> None:
    """The worker's half, as the queue would deliver the job."""
    world.service().process_job(job_id)


def test_run_diagnostics_is_an_async_job_whose_result_is_cloudstack_s_shape(front: Any, world: World) -> None:
    vm = LAB.system_vm("r-4-VM")
    status, body, _ = run_ping(front, "alice", vm.uuid, params="-c 1")
    assert status == 200, body
    job = body["rundiagnosticsresponse"]
    assert set(job) == {"jobid", "id"} and job["id"] == vm.uuid
    assert world.queue.sent[0][0] == job["jobid"]
    _, pending, _ = call(front, "alice", "queryAsyncJobResult", jobid=job["jobid"])
    assert pending["queryasyncjobresultresponse"]["jobstatus"] == 0

    finish(world, job["jobid"])
    status, done, _ = call(front, "alice", "queryAsyncJobResult", jobid=job["jobid"])
    answer = done["queryasyncjobresultresponse"]
    assert status == 200 and (answer["jobstatus"], answer["jobresultcode"]) == (1, 0)
    diagnostics = answer["jobresult"]["diagnostics"]
    assert set(diagnostics) == {"stdout", "stderr", "exitcode"}
    assert "0% packet loss" in diagnostics["stdout"] and diagnostics["exitcode"] == "0"
    ours = answer["jobresult"]["sysvmdiag"]
    assert ours["success"] is True and ours["result"]["tool"] == "ping" and ours["egressInterface"]


def test_an_ssh_failure_is_a_failed_job_never_a_success_with_exit_code_minus_one(
    front: Any, world: World
) -> None:
    world.runner.outputs.append(runner_error("TIMEOUT"))
    _, body, _ = run_ping(front, "admin", "r-4-VM")
    jobid = body["rundiagnosticsresponse"]["jobid"]
    finish(world, jobid)
    _, done, _ = call(front, "admin", "queryAsyncJobResult", jobid=jobid)
    answer = done["queryasyncjobresultresponse"]
    assert (answer["jobstatus"], answer["jobresultcode"]) == (2, 530)
    assert answer["jobresult"]["errorcode"] == 530 and answer["jobresult"]["errortext"]
    assert "diagnostics" not in answer["jobresult"]


def test_a_policy_denial_is_cloudstack_s_envelope_with_the_reason_and_is_audited(
    front: Any, world: World
) -> None:
    status, body, _ = run_ping(front, "alice", "s-1-VM")
    error = body["rundiagnosticsresponse"]
    assert status == error["errorcode"] == 531 and error["cserrorcode"] == 4365
    assert error["errortext"] and world.queue.sent == []
    [record] = world.audit.records.values()
    assert record.account_id == LAB.account("alice").id and record.decision == "denied"


def test_a_user_s_denial_of_another_tenant_s_router_reads_as_a_missing_one(front: Any) -> None:
    """Nothing about other tenants leaks: another tenant's router and no router answer alike."""
    other = next(vm for vm in LAB.system_vms() if vm.vm_name == "r-9-VM")
    answers = [
        run_ping(front, "alice", target)[:2]
        for target in (other.uuid, "0b5c4f9e-0000-4000-8000-000000000000")
    ]
    assert answers[0] == (answers[1][0], json.loads(json.dumps(answers[1][1]).replace(MISSING, other.uuid)))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: q.replace("signature=", "signature=A"),
        lambda q: signed("alice", "listRouters").replace("key-alice", "key-bob"),
        lambda q: urlencode(
            signed_params({"command": "listRouters", "response": "json"}, "key-alice", "wrong")
        ),
        lambda q: urlencode(signed_params({"command": "listRouters"}, "key-nobody", "whatever")),
        lambda q: "command=listRouters&response=json",
    ],
    ids=["changed-signature", "other-key", "wrong-secret", "unknown-key", "unsigned"],
)
def test_a_bad_signature_is_401_and_says_nothing_more(front: Any, world: World, tamper: Any) -> None:
    status, body, _ = send(front, tamper(signed("alice", "listRouters")))
    error = body["listroutersresponse"]
    assert status == error["errorcode"] == 401 and error["errortext"] == REFUSED
    assert world.limiter.requests == {"SOURCE#192.0.2.7": 1} and world.audit.records == {}


def test_an_expired_request_is_refused_and_an_unexpired_one_taken(front: Any, world: World) -> None:
    def query(expires: datetime) -> str:
        params = {"command": "listApis", "response": "json", "apikey": "key-alice"}
        params |= {"signatureversion": "3", "expires": expires_at(expires)}
        return urlencode({**params, "signature": sign(params, SECRETS["alice"])})

    assert send(front, query(world.clock() - timedelta(seconds=1)))[0] == 401
    assert send(front, query(world.clock() + timedelta(minutes=5)))[0] == 200


def test_libcloud_s_lowercased_name_order_and_python_s_quoting_are_accepted(front: Any) -> None:
    """libcloud sorts the lowercased names (``apiKey`` among lowercase names) and quotes like Python."""
    params = {"command": "listRouters", "response": "json", "apiKey": "key-alice", "keyword": "r-4~"}
    text = "&".join(
        f"{name.lower()}={value}" for name, value in sorted(params.items(), key=lambda kv: kv[0].lower())
    ).lower()
    import base64
    import hashlib
    import hmac

    digest = hmac.new(SECRETS["alice"].encode(), text.encode(), hashlib.sha1).digest()
    query = urlencode({**params, "signature": base64.b64encode(digest).decode()})
    status, body, _ = send(front, query)
    assert status == 200, body


def test_a_form_body_is_taken_and_a_json_body_refused(front: Any) -> None:
    form = signed("alice", "listApis").encode()
    assert send(front, method="POST", body=form, content_type="application/x-www-form-urlencoded")[0] == 200
    status, body, _ = send(
        front, method="POST", body=b'{"command": "listApis"}', content_type="application/json"
    )
    assert status == 431 and body["errorresponse"]["errorcode"] == 431


def test_an_unknown_command_is_432_errorresponse(front: Any) -> None:
    status, body, _ = call(front, "alice", "deployVirtualMachine")
    assert status == 432 and body["errorresponse"]["errorcode"] == 432


def test_get_diagnostics_data_answers_a_job_whose_result_is_the_bundle_url(front: Any, world: World) -> None:
    vm = LAB.system_vm("r-4-VM")
    world.runner.outputs.append(state_output(EVERYTHING))
    status, body, _ = call(front, "alice", "getDiagnosticsData", targetid=vm.uuid, files="IFCONFIG,ROUTE")
    assert status == 200, body
    job = body["getdiagnosticsdataresponse"]
    assert job["id"] == vm.uuid and world.runner.commands[0][1] == "state addresses routes rules"
    status, done, _ = call(front, "alice", "queryAsyncJobResult", jobid=job["jobid"])
    answer = done["queryasyncjobresultresponse"]
    assert status == 200 and (answer["jobstatus"], answer["jobresultcode"]) == (1, 0)
    assert answer["cmd"].endswith("GetDiagnosticsDataCmd") and answer["jobinstanceid"] == vm.uuid
    url = answer["jobresult"]["diagnostics"]["url"]
    assert url.startswith("https://bundles.example/vm-state/acct-alice/") and url.endswith("?expires=900")
    assert answer["jobresult"]["sysvmdiag"]["parts"] == ["addresses", "routes", "rules"]
    status, hidden, _ = call(front, "bob", "queryAsyncJobResult", jobid=job["jobid"])
    assert status == 431 and "No job" in hidden["queryasyncjobresultresponse"]["errortext"]
    status, _, _ = call(front, "admin", "queryAsyncJobResult", jobid=job["jobid"])
    assert status == 200


@pytest.mark.parametrize(
    ("who", "files", "status", "text"),
    [
        ("alice", "IPTABLES", 531, "Only admins may read iptables"),
        ("alice", "/var/log/cloud.log", 531, "Only admins may read log:cloud"),
        ("admin", "DHCPFILES,/etc/dnsmasq.conf", 431, "does not collect DHCPFILES, /etc/dnsmasq.conf"),
    ],
)
def test_get_diagnostics_data_refuses_what_the_caller_may_not_have(
    front: Any, world: World, who: str, files: str, status: int, text: str
) -> None:
    answer_status, body, _ = call(front, who, "getDiagnosticsData", targetid="r-4-VM", files=files)
    assert answer_status == status and text in body["getdiagnosticsdataresponse"]["errortext"]
    assert world.runner.commands == [] and world.bundles.objects == {}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"ipaddress": WEB, "type": "ping"}, "targetid"),
        ({"targetid": "r-4-VM", "type": "ping"}, "ipaddress"),
        ({"targetid": "r-4-VM", "ipaddress": WEB, "type": "dig"}, "type"),
        ({"targetid": "r-4-VM", "ipaddress": WEB, "type": "ping", "params": "-c 1; reboot"}, "contains ';'"),
    ],
)
def test_bad_parameters_are_431_naming_the_parameter_and_are_counted(
    front: Any, world: World, params: dict[str, str], named: str
) -> None:
    status, body, _ = call(front, "alice", "runDiagnostics", **params)
    error = body["rundiagnosticsresponse"]
    assert status == error["errorcode"] == 431 and named in error["errortext"], error
    assert world.limiter.requests == {LAB.account("alice").id: 1} and world.queue.sent == []
    assert len(world.audit.records) == 1


def test_a_parameter_given_twice_is_refused(front: Any) -> None:
    status, body, _ = send(front, signed("alice", "listRouters") + "&command=listSystemVms")
    assert status == 431 and "more than once" in body["errorresponse"]["errortext"]  # which command?


def test_over_the_limit_is_436_with_retry_after(front: Any, world: World) -> None:
    world.limiter.requests[LAB.account("alice").id] = 5  # TIGHT: users make 5 requests a minute
    status, body, headers = run_ping(front, "alice", "r-4-VM")
    error = body["rundiagnosticsresponse"]
    assert status == error["errorcode"] == 436 and headers["Retry-After"] == "42"
    assert (headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == ("0", "42")


def test_a_counted_command_carries_the_quota_headers_as_the_json_api_does(front: Any) -> None:
    _status, _body, headers = run_ping(front, "alice", "r-4-VM")
    counted = {name: value for name, value in headers.items() if name.startswith("X-RateLimit-")}
    assert counted == {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "42"}


def test_ping6_and_traceroute6_are_the_same_tools(front: Any, world: World) -> None:
    status, body, _ = call(front, "admin", "runDiagnostics", targetid="r-4-VM", ipaddress=WEB, type="ping6")
    assert status == 200, body
    job = world.jobs.get(body["rundiagnosticsresponse"]["jobid"])
    assert job is not None and job.type.value == "ping"


def test_another_tenant_s_job_is_not_found(front: Any, world: World) -> None:
    _, body, _ = run_ping(front, "alice", "r-4-VM")
    status, answer, _ = call(
        front, "bob", "queryAsyncJobResult", jobid=body["rundiagnosticsresponse"]["jobid"]
    )
    assert status == 431 and answer["queryasyncjobresultresponse"]["errorcode"] == 431


def test_list_apis_reads_as_cmk_s_sync_reads_it(front: Any) -> None:
    """cmk's config.UpdateCache type-asserts these fields (a missing or mistyped one panics) and splits
    each name into a verb (its leading lowercase letters) and a noun."""
    status, body, _ = call(front, "alice", "listApis")
    response = body["listapisresponse"]
    assert status == 200 and response["count"] == len(response["api"])
    verbs = {}
    for api in response["api"]:
        assert isinstance(api["name"], str) and isinstance(api["isasync"], bool)
        assert isinstance(api["description"], str)
        for arg in api["params"]:
            assert isinstance(arg["name"], str) and isinstance(arg["type"], str)
            assert isinstance(arg["required"], bool) and isinstance(arg["description"], str)
            assert arg.get("related") is None or isinstance(arg["related"], str)
        verb = api["name"][: len(api["name"]) - len(api["name"].lstrip("abcdefghijklmnopqrstuvwxyz"))]
        verbs[api["name"]] = (verb, api["name"][len(verb) :].lower(), api["isasync"])
    assert verbs["runDiagnostics"] == ("run", "diagnostics", True)
    assert verbs["queryAsyncJobResult"] == ("query", "asyncjobresult", False)
    assert {"listRouters", "listSystemVms", "listApis"} <= set(verbs)
    required = {
        a["name"]
        for api in response["api"]
        if api["name"] == "runDiagnostics"
        for a in api["params"]
        if a["required"]
    }
    assert required == {"targetid", "ipaddress", "type"}


def test_list_routers_shows_a_user_only_its_routers_without_control_addresses(front: Any) -> None:
    _, admin, _ = call(front, "admin", "listRouters")
    _, alice, _ = call(front, "alice", "listRouters")
    everyone = {router["name"] for router in admin["listroutersresponse"]["router"]}
    hers = alice["listroutersresponse"]["router"]
    assert {router["name"] for router in hers} < everyone and "r-4-VM" in {router["name"] for router in hers}
    assert all("linklocalip" not in router and "privateip" not in router for router in hers)
    assert all(nic["traffictype"] in ("Public", "Guest") for router in hers for nic in router["nic"])
    assert any("linklocalip" in router for router in admin["listroutersresponse"]["router"])


def test_list_system_vms_is_what_the_caller_may_target(front: Any) -> None:
    _, admin, _ = call(front, "admin", "listSystemVms")
    kinds = {vm["name"]: vm["systemvmtype"] for vm in admin["listsystemvmsresponse"]["systemvm"]}
    assert kinds == {"s-1-VM": "secondarystoragevm", "v-2-VM": "consoleproxy"}
    _, alice, _ = call(front, "alice", "listSystemVms")
    assert alice["listsystemvmsresponse"] == {}


def test_lists_filter_and_page_as_cloudstack_does(front: Any) -> None:
    _, everything, _ = call(front, "admin", "listRouters")
    names = [router["name"] for router in everything["listroutersresponse"]["router"]]
    _, second, _ = call(front, "admin", "listRouters", page="2", pagesize="1")
    assert second["listroutersresponse"]["count"] == len(names)
    assert [router["name"] for router in second["listroutersresponse"]["router"]] == names[1:2]
    _, one, _ = call(front, "admin", "listRouters", name="r-4-VM")
    assert [router["name"] for router in one["listroutersresponse"]["router"]] == ["r-4-VM"]
    assert call(front, "admin", "listRouters", page="2")[0] == 431
    assert call(front, "admin", "listRouters", pagesize="-1")[0] == 431


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"])
def test_a_method_other_than_get_head_and_post_is_405(front: Any, method: str) -> None:
    """The route is ANY /client/api: methods the resolver has no route for reach the front door too."""
    status, body, _ = send(front, signed("alice", "listApis"), method=method)
    assert status == 405 and body["errorresponse"]["errorcode"] == 405


def test_head_is_answered_as_get(front: Any) -> None:
    assert send(front, signed("alice", "listApis"), method="HEAD")[0] == 200


def test_a_bug_is_530_in_cloudstack_s_envelope(front: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    door = front._front_door()

    def broken(*_args: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(door, "answer", broken)
    status, body, _ = send(front, signed("alice", "listApis"))
    assert status == 530 and body["errorresponse"]["errorcode"] == 530


_ = UTC


@pytest.mark.parametrize(
    ("files", "parts", "logs"),
    [
        (None, [], []),
        ("IPTABLES", ["iptables"], []),
        ("ifconfig, route,IPROUTE", ["addresses", "routes", "rules"], []),
        ("ARP,/var/log/cloud.log,sysvmdiag", ["neighbours"], ["cloud", "sysvmdiag"]),
        (",,", [], []),
    ],
)
def test_get_diagnostics_data_files_map_to_parts_and_logs(files: str | None, parts: list, logs: list) -> None:
    from sysvmdiag.facade.diagnostics_data import parts_and_logs

    assert parts_and_logs(files) == (parts, logs)
