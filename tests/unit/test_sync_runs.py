"""Synchronous runs through the whole pipeline on fakes: admission, limits, policy, runner, parse, audit."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from tests.unit.conftest import World, caller
from tests.unit.fakes import captured, runner_error

WEB = "198.51.100.80"


def ping(
    vm: str = "r-4-VM", dest: str = WEB, params: str | None = "-c 3", **extra: object
) -> DiagnosticRequest:
    return DiagnosticRequest(target_id=vm, type="ping", ip_address=dest, params=params, **extra)


def refusal(world: World, who: str, request: DiagnosticRequest) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        world.service().submit(caller(who), request, world.origin())
    return raised.value


def test_an_allowed_ping_runs_once_is_parsed_and_audited(world: World) -> None:
    result = world.service().submit(caller("alice"), ping(), world.origin())
    assert isinstance(result, DiagnosticResult)
    assert result.success and result.status == "succeeded" and result.exit_code == 0
    assert result.result.packet_loss_percent == 0 and result.egress_interface == "eth2"
    assert result.target_id.endswith("000000000004") and result.target_name == "r-4-VM"
    [(address, command, timeout)] = world.runner.commands
    assert address == "169.254.1.10" and command.startswith("ping -n -c 3") and timeout > 3
    [record] = world.audit.records.values()
    assert (record.decision, record.status, record.mode) == ("allowed", "succeeded", "sync")
    assert (record.vm_name, record.exit_code, record.source_ip) == ("r-4-VM", 0, "192.0.2.9")
    assert world.limiter.held() == 0  # both slots given back


def test_a_traceroute_short_of_its_destination_is_a_failure(world: World) -> None:
    world.runner.outputs.append(captured("traceroute_net_unreachable"))
    result = world.service().submit(
        caller("admin"),
        DiagnosticRequest(target_id="r-4-VM", type="traceroute", ip_address=WEB),
        world.origin(),
    )
    assert isinstance(result, DiagnosticResult) and result.result.reached is False
    assert not result.success and result.status == "failed"
    assert world.audit.records["req-1"].status == "failed"


@pytest.mark.parametrize(
    ("who", "request_", "code", "detail_code"),
    [
        ("alice", ping(dest="172.31.200.10"), ErrorCode.DESTINATION_IN_MANAGEMENT_RANGE, None),
        ("bob", ping(), ErrorCode.TARGET_NOT_FOUND, "TARGET_NOT_OWNED"),
        ("alice", ping(vm="s-1-VM", params="-f"), ErrorCode.TARGET_NOT_FOUND, "SYSTEM_VM_KIND_ADMIN_ONLY"),
        ("alice", ping(vm="r-999-VM"), ErrorCode.TARGET_NOT_FOUND, None),
        ("alice", ping(vm="r-15-VM"), ErrorCode.VM_NOT_RUNNING, None),
        ("alice", ping(params="-c 8 -i 9"), ErrorCode.OPTION_OUT_OF_BOUNDS, None),
    ],
)
def test_refusals_are_audited_and_run_nothing(
    world: World, who: str, request_: DiagnosticRequest, code: ErrorCode, detail_code: str | None
) -> None:
    err = refusal(world, who, request_)
    assert err.code is code and err.status == code.status
    record = world.audit.records["req-1"]
    expected = "rejected" if code.status == 400 else "denied"
    assert (record.decision, record.status, record.reason_code) == (expected, expected, code.value)
    assert record.detail_code == detail_code
    assert world.runner.commands == [] and world.limiter.held() == 0


def test_a_missing_vm_and_a_hidden_one_answer_alike(world: World) -> None:
    hidden = refusal(world, "bob", ping(vm="r-4-VM"))
    missing = refusal(world, "bob", ping(vm="r-404-VM"))
    assert hidden.to_dict() == {**missing.to_dict(), "message": missing.message.replace("r-404-VM", "r-4-VM")}
    assert hidden.field == "targetId"


def test_over_the_requests_per_minute_nothing_runs(world: World) -> None:
    service = world.service()
    for _ in range(5):
        service.submit(caller("alice"), ping(), world.origin())
    err = refusal(world, "alice", ping())
    assert err.code is ErrorCode.RATE_LIMITED and err.headers() == {"Retry-After": "42"}
    assert len(world.runner.commands) == 5
    assert world.audit.records["req-6"].decision == "rejected"


@pytest.mark.parametrize(("held", "code"), [("ACCOUNT#acct-alice", "TOO_MANY_JOBS"), ("VM#", "VM_BUSY")])
def test_a_slot_held_elsewhere_refuses_the_run(world: World, held: str, code: str) -> None:
    """Hold the resource first, then prove the refusal: no timing decides this test."""
    key = held if held.startswith("ACCOUNT") else f"VM#{world.topology.topology.system_vm('r-4-VM').uuid}"
    world.limiter.slots[key] = {"someone", "else"} if code == "TOO_MANY_JOBS" else {"someone"}
    err = refusal(world, "alice", ping())
    assert err.code == code and err.status == 429 and err.retry_after == 7
    assert world.runner.commands == []
    assert world.audit.records["req-1"].decision == "rejected"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("BASTION_UNREACHABLE", 502),
        ("HOST_KEY_MISMATCH", 502),
        ("TIMEOUT", 504),
        ("SSH_KEY_UNAVAILABLE", 503),
    ],
)
def test_runner_failures_are_coded_and_audited_as_failed_runs(world: World, code: str, status: int) -> None:
    world.runner.outputs.append(runner_error(code))
    err = refusal(world, "alice", ping())
    assert (err.code, err.status) == (code, status)
    assert err.retry_after == (30 if status == 503 else None)
    record = world.audit.records["req-1"]
    assert (record.decision, record.status, record.error_code) == ("allowed", "failed", code)
    assert world.limiter.held() == 0


def test_a_store_failing_past_retries_is_503_and_a_bug_is_500(world: World) -> None:
    world.topology.fail_with = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetItem")
    assert refusal(world, "alice", ping()).code is ErrorCode.STORE_UNAVAILABLE
    world.topology.fail_with = ZeroDivisionError("bug")
    err = refusal(world, "alice", ping())
    assert err.code is ErrorCode.INTERNAL_ERROR and "ZeroDivisionError" in err.message
    assert [r.decision for r in world.audit.records.values()] == ["rejected", "rejected"]


def test_an_audit_outage_never_fails_the_run(world: World) -> None:
    world.audit.fail_with = ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
    result = world.service().submit(caller("alice"), ping(), world.origin())
    assert isinstance(result, DiagnosticResult) and result.success


def test_a_deployment_without_jobs_refuses_long_runs_with_a_code(world: World) -> None:
    service = world.service(jobs=None, queue=None)
    with pytest.raises(ServiceError) as raised:
        service.submit(caller("alice"), ping(params="-c 20 -i 2"), world.origin())
    assert raised.value.code is ErrorCode.SYNC_BUDGET_EXCEEDED and raised.value.field == "params"
    assert world.runner.commands == [] and world.audit.records["req-1"].decision == "rejected"


def test_a_run_without_ssh_endpoints_is_a_topology_error(world: World) -> None:
    data = world.topology.topology.model_dump(mode="json")
    for host in data["hosts"]:
        if host["kind"] == "bastion":
            host["ssh"] = None
    world.topology.topology = type(world.topology.topology).model_validate(data)
    assert refusal(world, "alice", ping()).code is ErrorCode.TOPOLOGY_INCOMPLETE
