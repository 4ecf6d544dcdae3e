"""POST /diagnostics/data through the pipeline on fakes: limits, policy, runner, scope, bundle, audit."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest, VmStateRequest
from sysvmdiag.pipeline.ports import NoBundles
from sysvmdiag.pipeline.vm_state import STATE_OUTPUT_CAP
from sysvmdiag.runner.errors import RunOutput
from sysvmdiag.state_bundle import INLINE_MAX_BYTES
from tests.unit.conftest import World, caller
from tests.unit.fakes import runner_error, state_output

ADDRESSES = json.dumps(
    [
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.1.1.1", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"family": "inet", "local": "169.254.1.10", "prefixlen": 16}]},
        {"ifname": "eth2", "addr_info": [{"family": "inet", "local": "203.0.113.10", "prefixlen": 24}]},
    ]
)
ROUTES4 = json.dumps(
    [
        {"dst": "default", "gateway": "203.0.113.1", "dev": "eth2"},
        {"dst": "10.1.1.0/24", "dev": "eth0"},
        {"dst": "169.254.0.0/16", "dev": "eth1"},
    ]
)
NEIGHBOURS = json.dumps(
    [
        {"dst": "10.1.1.20", "dev": "eth0", "lladdr": "02:aa:00:00:00:20"},
        {"dst": "169.254.0.1", "dev": "eth1"},
    ]
)
EVERYTHING = {
    "addresses": [ADDRESSES],
    "routes": [ROUTES4, "[]"],
    "rules": ['[{"priority":0,"src":"all","table":"local"}]', "[]"],
    "neighbours": [NEIGHBOURS],
}


def read(world: World, who: str, **body: object):
    request = VmStateRequest.model_validate({"targetId": "r-4-VM", **body})
    return world.service().read_vm_state(caller(who), request, world.origin())


def refusal(world: World, who: str, **body: object) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        read(world, who, **body)
    return raised.value


def test_alice_reads_her_routers_state_cut_to_her_networks(world: World) -> None:
    world.runner.outputs.append(state_output(EVERYTHING))
    view = read(world, "alice")
    [(address, command, _timeout)] = world.runner.commands
    assert address == "169.254.1.10" and command == "state addresses routes rules neighbours"
    assert view.scoped and view.parts == ["addresses", "routes", "rules", "neighbours"]
    assert [link["ifname"] for link in view.inline["addresses"]] == ["eth0", "eth2"]
    assert [route["dst"] for route in view.inline["routes"]] == ["default", "10.1.1.0/24"]
    assert [n["dst"] for n in view.inline["neighbours"]] == ["10.1.1.20"]
    assert view.bundle.key == f"vm-state/acct-alice/{view.target_id}/req-1.zip"
    assert world.limiter.held() == 0


def test_the_bundle_holds_what_the_answer_shows(world: World) -> None:
    world.runner.outputs.append(state_output(EVERYTHING))
    view = read(world, "alice")
    with zipfile.ZipFile(io.BytesIO(world.bundles.objects[view.bundle.key])) as bundle:
        names = bundle.namelist()
        routes = json.loads(bundle.read("routes.json"))
        manifest = json.loads(bundle.read("manifest.json"))
    assert names == ["manifest.json", "addresses.json", "routes.json", "rules.json", "neighbours.json"]
    assert routes == view.inline["routes"] and manifest["scoped"] is True
    assert view.bundle.bytes == len(world.bundles.objects[view.bundle.key])
    assert view.bundle.url.endswith("?expires=900")


def test_an_admin_reads_everything_with_firewall_and_logs(world: World) -> None:
    iptables = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"
    world.runner.outputs.append(
        state_output({**EVERYTHING, "iptables": [iptables, ""]}, {"cloud": "booted\n", "dnsmasq": None})
    )
    view = read(
        world,
        "admin",
        parts=["iptables", "routes", "addresses", "neighbours", "rules"],
        logs=["cloud", "dnsmasq"],
    )
    [(_, command, _)] = world.runner.commands
    assert command == "state addresses routes rules neighbours iptables log:cloud log:dnsmasq"
    assert not view.scoped and view.inline["iptables"] == iptables
    assert [n["dst"] for n in view.inline["neighbours"]] == ["10.1.1.20", "169.254.0.1"]
    assert [(log.name, log.present, log.text) for log in view.logs] == [
        ("cloud", True, "booted\n"),
        ("dnsmasq", False, ""),
    ]
    [record] = world.audit.records.values()
    assert (record.type, record.params, record.status) == (
        "state",
        "addresses routes rules neighbours iptables log:cloud log:dnsmasq",
        "succeeded",
    )


def test_a_large_part_is_in_the_bundle_only(world: World) -> None:
    many = json.dumps(
        [{"dst": f"10.1.1.{i % 250 + 2}", "dev": "eth0", "lladdr": "02:00:00:00:00:00"} for i in range(400)]
    )
    world.runner.outputs.append(state_output({"neighbours": [many]}))
    view = read(world, "admin", parts=["neighbours"])
    assert len(many) > INLINE_MAX_BYTES
    assert view.inline == {} and view.not_inline == ["neighbours"]


@pytest.mark.parametrize(
    ("who", "body", "code"),
    [
        ("alice", {"parts": ["iptables"]}, ErrorCode.STATE_PART_ADMIN_ONLY),
        ("alice", {"logs": ["cloud"]}, ErrorCode.STATE_PART_ADMIN_ONLY),
        ("bob", {}, ErrorCode.TARGET_NOT_FOUND),
        ("alice", {"targetId": "s-1-VM"}, ErrorCode.TARGET_NOT_FOUND),
        ("alice", {"targetId": "r-15-VM"}, ErrorCode.VM_NOT_RUNNING),
    ],
)
def test_refusals_run_nothing_and_are_audited(world: World, who: str, body: dict, code: ErrorCode) -> None:
    err = refusal(world, who, **body)
    assert err.code is code
    record = world.audit.records["req-1"]
    assert (record.type, record.decision, record.reason_code) == ("state", "denied", code.value)
    assert world.runner.commands == [] and world.bundles.objects == {} and world.limiter.held() == 0


def test_without_a_bucket_nothing_runs(world: World) -> None:
    with pytest.raises(ServiceError) as raised:
        world.service(bundles=NoBundles()).read_vm_state(
            caller("admin"), VmStateRequest(target_id="r-4-VM"), world.origin()
        )
    assert raised.value.code is ErrorCode.STATE_BUNDLES_UNAVAILABLE and raised.value.status == 503
    assert world.runner.commands == []


@pytest.mark.parametrize(
    "answer",
    [
        RunOutput(0, "not json", "", truncated=False, duration_ms=1),
        RunOutput(
            126, "", "sysvmdiag-vm: refused: this key runs diagnostics only", truncated=False, duration_ms=1
        ),
        RunOutput(0, '{"parts": {}, "logs": {}}', "", truncated=False, duration_ms=1),
        RunOutput(0, '{"parts": {"addr', "", truncated=True, duration_ms=1),
    ],
)
def test_an_unreadable_answer_is_a_502_and_stores_nothing(world: World, answer: RunOutput) -> None:
    world.runner.outputs.append(answer)
    err = refusal(world, "admin", parts=["addresses"])
    assert err.code is ErrorCode.VM_STATE_UNREADABLE and err.status == 502
    assert world.bundles.objects == {} and world.limiter.held() == 0
    assert world.audit.records["req-1"].status == "failed"


def test_a_runner_failure_keeps_its_code(world: World) -> None:
    world.runner.outputs.append(runner_error("VM_UNREACHABLE"))
    assert refusal(world, "admin").code is ErrorCode.VM_UNREACHABLE


def test_a_failed_command_is_named_not_hidden(world: World) -> None:
    answer = json.loads(state_output({"rules": ["[]", "[]"]}).stdout)
    answer["parts"]["rules"][1].update(exitStatus=2, stderr="RTNETLINK answers: Address family not supported")
    world.runner.outputs.append(RunOutput(0, json.dumps(answer), "", truncated=False, duration_ms=1))
    view = read(world, "admin", parts=["rules"])
    assert view.problems == [
        "rules: ip -j -6 rule show exited 2: RTNETLINK answers: Address family not supported"
    ]


def test_the_state_answer_may_be_larger_than_a_tools(world: World) -> None:
    world.runner.outputs.append(state_output(EVERYTHING))
    read(world, "alice")
    world.service().submit(
        caller("alice"),
        DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address="10.1.1.20"),
        world.origin(),
    )
    assert world.runner.output_caps == [STATE_OUTPUT_CAP, None]
