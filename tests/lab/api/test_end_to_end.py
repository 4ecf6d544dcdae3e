"""Issue 4 acceptance: real HTTP to the local stack, real SSH through the bastion, real tools."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from tests.lab.api.calls import post

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"


def vm_id(stack: dict, host: str) -> str:
    return next(vm["id"] for vm in stack["systemvms"] if vm["host"] == host)


@pytest.mark.parametrize("host", ["ssvm", "cpvm", "vr"])
def test_admin_pings_web_server_from_each_system_vm(local_stack, api_keys, host):
    response = post(
        local_stack,
        api_keys["admin"],
        {"targetId": vm_id(local_stack, host), "type": "ping", "ipAddress": WEB, "params": "-c 2"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["exitCode"] == 0 and body["status"] == "succeeded"
    assert body["result"]["packet_loss_percent"] == 0
    assert body["result"]["received"] == 2
    assert body["result"]["rtt_ms"]["avg"] > 0
    assert body["egressKind"] == "public"
    assert f"{WEB}" in body["stdout"]
    for field in (
        "id",
        "targetId",
        "type",
        "ipAddress",
        "stderr",
        "startedAt",
        "finishedAt",
        "durationMs",
        "egressInterface",
    ):
        assert field in body


def test_user_traceroutes_from_own_vr_and_sees_router_hops(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["alice"],
        {"targetId": vm_id(local_stack, "vr"), "type": "traceroute", "ipAddress": WEB},
    )
    assert response.status_code == 200, response.text
    hops = response.json()["result"]["hops"]
    addresses = [probe["address"] for hop in hops for probe in hop["probes"] if probe["address"]]
    assert "203.0.113.1" in addresses and "198.51.100.2" in addresses and WEB in addresses
    assert addresses.index("203.0.113.1") < addresses.index("198.51.100.2") < addresses.index(WEB)


def test_arping_from_vr_returns_gateway_mac(local_stack, api_keys, lab_status):
    response = post(
        local_stack,
        api_keys["alice"],
        {
            "targetId": vm_id(local_stack, "vr"),
            "type": "arping",
            "ipAddress": "203.0.113.1",
            "params": "-c 2",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    r1_mac = next(i["mac"] for i in lab_status["hosts"]["r1"]["interfaces"] if i["name"] == "eth0")
    assert body["egressInterface"] == "eth2"
    assert {reply["mac"].lower() for reply in body["result"]["replies"]} == {r1_mac.lower()}


def test_seed_and_cloudstack_field_names_are_accepted(local_stack, api_keys):
    seed = post(
        local_stack,
        api_keys["admin"],
        {
            "uuid": vm_id(local_stack, "cpvm"),
            "diagnosisTest": "ping",
            "destinationIpAddress": "203.0.113.1",
            "params": "-c 1",
        },
    )
    cloudstack = post(
        local_stack,
        api_keys["admin"],
        {
            "targetid": vm_id(local_stack, "cpvm"),
            "type": "ping",
            "ipaddress": "203.0.113.1",
            "params": "-c 1",
        },
    )
    assert seed.status_code == 200 and cloudstack.status_code == 200
    assert seed.json()["targetId"] == cloudstack.json()["targetId"] == vm_id(local_stack, "cpvm")


@pytest.mark.parametrize(
    ("account", "host", "destination", "code"),
    [
        ("alice", "vr", "172.31.200.10", "DESTINATION_IN_MANAGEMENT_RANGE"),
        ("dave", "davevr", "10.4.0.22", "SHARED_NETWORK_NOT_EXCLUSIVE"),
        ("alice", "vr", "169.254.1.10", "VR_CONTROL_OR_MANAGEMENT_ADDRESS"),
        ("alice", "vr", "10.3.0.22", "DESTINATION_NOT_ALLOWED"),
    ],
)
def test_policy_denials_are_403_with_their_code(local_stack, api_keys, account, host, destination, code):
    response = post(
        local_stack,
        api_keys[account],
        {"targetId": vm_id(local_stack, host), "type": "ping", "ipAddress": destination},
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]


@pytest.mark.parametrize("params", ["-c 3; id", "-f", "-c 2 | nc 1.2.3.4 80", "$(reboot)"])
def test_hostile_params_are_400(local_stack, api_keys, params):
    response = post(
        local_stack,
        api_keys["admin"],
        {"targetId": vm_id(local_stack, "vr"), "type": "ping", "ipAddress": WEB, "params": params},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_OPTION"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "ping", "ipAddress": WEB}, "targetId"),
        ({"targetId": "x", "type": "nmap", "ipAddress": WEB}, "type"),
        ({"targetId": "x", "type": "ping"}, "ipAddress"),
        ({"targetId": "x", "type": "ping", "ipAddress": WEB, "shell": "id"}, "shell"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(local_stack, api_keys, body, field):
    response = post(local_stack, api_keys["admin"], body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"
    assert field in response.json()["field"]


def test_unknown_vm_is_404(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["admin"],
        {"targetId": "00000000-0000-0000-0000-000000000000", "type": "ping", "ipAddress": WEB},
    )
    assert response.status_code == 404 and response.json()["code"] == "TARGET_NOT_FOUND"


def test_run_longer_than_sync_budget_becomes_a_job(local_stack, api_keys):
    """A worst case of 30 s (-w 30) cannot be answered within API Gateway's wait: 202 and a job to poll.
    Three replies end the ping long before its deadline, so the job succeeds quickly."""
    response = post(
        local_stack,
        api_keys["admin"],
        {
            "targetId": vm_id(local_stack, "vr"),
            "type": "ping",
            "ipAddress": WEB,
            "params": "-c 3 -i 0.2 -w 30",
        },
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["worstCaseSeconds"] >= 30
    assert response.headers["Location"] == f"/diagnostics/{job['id']}"


def test_missing_or_unknown_key_is_refused(local_stack):
    url = f"{local_stack['apiUrl']}/systemvms"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 403


def test_systemvms_lists_what_the_caller_may_target(local_stack, api_keys):
    def names(account: str) -> set[str]:
        response = requests.get(
            f"{local_stack['apiUrl']}/systemvms",
            timeout=10,
            headers={"Authorization": f"Bearer {api_keys[account]}"},
        )
        assert response.status_code == 200, response.text
        return {vm["name"] for vm in response.json()["systemvms"]}

    assert names("admin") == {
        "r-4-VM",
        "r-7-VM",
        "r-9-VM",
        "r-11-VM",
        "r-13-VM",
        "r-15-VM",
        "s-1-VM",
        "v-2-VM",
    }
    assert names("alice") == {"r-4-VM", "r-7-VM", "r-15-VM"}
    assert names("bob") == set()  # only on the multi-tenant shared network: no VR is his
    assert names("dave") == {"r-11-VM"}
    assert names("erin") == {"r-13-VM"}


def test_openapi_document_and_swagger_page_are_served(local_stack):
    document = requests.get(f"{local_stack['apiUrl']}/openapi.json", timeout=10)
    assert document.status_code == 200
    spec = document.json()
    assert "/diagnostics" in spec["paths"] and "/systemvms" in spec["paths"]
    swagger = requests.get(f"{local_stack['apiUrl']}/swagger", timeout=10)
    assert swagger.status_code == 200 and "swagger" in swagger.text.lower()


def _runs_logged(lab_status: dict, host: str) -> int:
    log = Path(lab_status["state_dir"]) / "runs" / f"{host}.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_vm_with_sshd_stopped_gives_502_within_budget(local_stack, api_keys, lab_status):
    from simvms.lab import Lab

    lab = Lab(state_dir=Path(lab_status["state_dir"]))
    lab.stop_sshd("cpvm")
    try:
        started = time.monotonic()
        response = post(
            local_stack,
            api_keys["admin"],
            {"targetId": vm_id(local_stack, "cpvm"), "type": "ping", "ipAddress": WEB, "params": "-c 1"},
        )
        assert response.status_code == 502, response.text
        assert response.json()["code"] == "VM_UNREACHABLE"
        assert time.monotonic() - started < 25
    finally:
        lab.start_sshd("cpvm")
    recovered = post(
        local_stack,
        api_keys["admin"],
        {"targetId": vm_id(local_stack, "cpvm"), "type": "ping", "ipAddress": WEB, "params": "-c 1"},
    )
    assert recovered.status_code == 200, recovered.text


def test_changed_host_key_gives_host_key_mismatch_and_runs_nothing(
    local_stack, api_keys, lab_status, local_store
):
    from simvms.lab import Lab
    from sysvmdiag.topology.loader import load_topology_into_tables
    from sysvmdiag.topology.model import load_topology

    lab = Lab(state_dir=Path(lab_status["state_dir"]))
    before = _runs_logged(lab_status, "ssvm")
    lab.rekey("ssvm")
    try:
        response = post(
            local_stack,
            api_keys["admin"],
            {"targetId": vm_id(local_stack, "ssvm"), "type": "ping", "ipAddress": WEB, "params": "-c 1"},
        )
        assert response.status_code == 502, response.text
        assert response.json()["code"] == "HOST_KEY_MISMATCH"
        assert _runs_logged(lab_status, "ssvm") == before
    finally:
        # The operator re-pins the new key: reload the topology with the lab's fresh state.
        fresh = lab.status()
        lab_status.update(fresh)  # later tests in this session read the new pin from the shared snapshot
        load_topology_into_tables(load_topology(fresh["topology"]), local_store, fresh)
    repinned = post(
        local_stack,
        api_keys["admin"],
        {"targetId": vm_id(local_stack, "ssvm"), "type": "ping", "ipAddress": WEB, "params": "-c 1"},
    )
    assert repinned.status_code == 200, repinned.text
    assert json.loads(repinned.text)["success"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"{not json", "INVALID_JSON"), (b"", "INVALID_REQUEST"), (b"[1, 2]", "INVALID_REQUEST")],
)
def test_unreadable_bodies_are_400_with_a_code(local_stack, api_keys, body, code):
    response = requests.post(
        f"{local_stack['apiUrl']}/diagnostics",
        data=body,
        timeout=10,
        headers={"Authorization": f"Bearer {api_keys['admin']}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_unknown_route_is_404_with_a_code(local_stack, api_keys):
    response = requests.get(
        f"{local_stack['apiUrl']}/nope", timeout=10, headers={"Authorization": f"Bearer {api_keys['admin']}"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "ROUTE_NOT_FOUND"
