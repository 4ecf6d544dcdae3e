"""The API end to end against the compose lab: the namespace lab's acceptance cases, through
`sysvmdiag local up --lab compose` (real HTTP, real SSH through the bastion's published port)."""

from __future__ import annotations

import time

import pytest
import requests

WEB = "198.51.100.80"


def post(stack: dict, key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{stack['apiUrl']}/diagnostics", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def vm_id(stack: dict, host: str) -> str:
    return next(vm["id"] for vm in stack["systemvms"] if vm["host"] == host)


@pytest.mark.parametrize("host", ["ssvm", "cpvm", "vr", "vpcvr"])
def test_admin_pings_web_server_from_system_vms(compose_stack, compose_keys, host):
    response = post(
        compose_stack,
        compose_keys["admin"],
        {"targetId": vm_id(compose_stack, host), "type": "ping", "ipAddress": WEB, "params": "-c 2"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["exitCode"] == 0
    assert body["result"]["received"] == 2 and body["result"]["packet_loss_percent"] == 0
    assert body["egressKind"] == "public"


def test_user_traceroutes_from_own_vr_and_sees_router_hops(compose_stack, compose_keys):
    response = post(
        compose_stack,
        compose_keys["alice"],
        {"targetId": vm_id(compose_stack, "vr"), "type": "traceroute", "ipAddress": WEB},
    )
    assert response.status_code == 200, response.text
    hops = response.json()["result"]["hops"]
    addresses = [probe["address"] for hop in hops for probe in hop["probes"] if probe["address"]]
    assert addresses.index("203.0.113.1") < addresses.index("198.51.100.2") < addresses.index(WEB)


def test_arping_from_vr_returns_the_gateways_mac(compose_stack, compose_keys, compose_status):
    response = post(
        compose_stack,
        compose_keys["alice"],
        {
            "targetId": vm_id(compose_stack, "vr"),
            "type": "arping",
            "ipAddress": "203.0.113.1",
            "params": "-c 2",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    r1_mac = next(i["mac"] for i in compose_status["hosts"]["r1"]["interfaces"] if i["name"] == "eth0")
    assert body["egressInterface"] == "eth2"
    assert {reply["mac"].lower() for reply in body["result"]["replies"]} == {r1_mac.lower()}


@pytest.mark.parametrize(
    ("account", "host", "destination", "code"),
    [
        ("alice", "vr", "172.31.200.10", "DESTINATION_IN_MANAGEMENT_RANGE"),
        ("alice", "vr", "169.254.1.10", "VR_CONTROL_OR_MANAGEMENT_ADDRESS"),
    ],
)
def test_policy_refusals_are_403_with_their_code(
    compose_stack, compose_keys, account, host, destination, code
):
    response = post(
        compose_stack,
        compose_keys[account],
        {"targetId": vm_id(compose_stack, host), "type": "ping", "ipAddress": destination},
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == code


def test_a_vm_the_caller_may_not_use_is_404_and_a_stopped_one_409(compose_stack, compose_keys):
    hidden = post(
        compose_stack, compose_keys["bob"], {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB}
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "TARGET_NOT_FOUND", hidden.text
    stopped = post(
        compose_stack, compose_keys["alice"], {"targetId": "r-15-VM", "type": "ping", "ipAddress": WEB}
    )
    assert stopped.status_code == 409 and stopped.json()["code"] == "VM_NOT_RUNNING", stopped.text


@pytest.mark.parametrize(
    ("account", "vm", "owner_host"), [("alice", "r-4-VM", "guest1a"), ("dave", "r-11-VM", "daveguest")]
)
def test_two_tenants_with_the_same_cidr_each_reach_their_own_guest(
    compose_stack, compose_keys, compose_status, account, vm, owner_host
):
    """10.1.1.0/24 twice, on two bridges behind two VRs: arping's MAC says whose guest answered."""
    response = post(
        compose_stack,
        compose_keys[account],
        {"targetId": vm, "type": "arping", "ipAddress": "10.1.1.11", "params": "-c 2"},
    )
    assert response.status_code == 200, response.text
    owner_mac = next(
        i["mac"] for i in compose_status["hosts"][owner_host]["interfaces"] if i["name"] == "eth0"
    )
    assert {r["mac"].lower() for r in response.json()["result"]["replies"]} == {owner_mac.lower()}


def test_async_job_runs_to_success_through_the_worker(compose_stack, compose_keys):
    key = compose_keys["alice"]
    response = post(
        compose_stack,
        key,
        {"targetId": vm_id(compose_stack, "vr"), "type": "traceroute", "ipAddress": WEB, "async": True},
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    deadline = time.monotonic() + 90
    seen: list[str] = []
    while time.monotonic() < deadline:
        polled = requests.get(
            f"{compose_stack['apiUrl']}{location}", timeout=30, headers={"Authorization": f"Bearer {key}"}
        )
        assert polled.status_code == 200, polled.text
        job = polled.json()
        seen.append(job["status"])
        if job["status"] in ("succeeded", "failed", "denied"):
            break
        time.sleep(min(float(polled.headers.get("Retry-After", "1")), 0.5))
    else:
        pytest.fail(f"job {location} not finished after 90 s (statuses seen: {seen})")
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["success"] and result["exitCode"] == 0
    assert result["result"]["reached"] is True
