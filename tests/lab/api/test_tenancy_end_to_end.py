"""Issue 10 end to end: the lab's shapes of real tenancy through the local stack, with real tools.

Two tenants with the same guest CIDR (alice's and dave's 10.1.1.0/24, each behind its own VR), a shared
network a tenant owns but shares, a shared network dedicated to one account, a Stopped VR, and domain
admins above them: what each may run, what each is told, and that a refusal names nothing of others.
"""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
SAME_ADDRESS = "10.1.1.11"  # alice's guest1a behind r-4-VM, dave's daveguest behind r-11-VM


def post(stack: dict, key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{stack['apiUrl']}/diagnostics", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def get(stack: dict, key: str, path: str, **params) -> requests.Response:
    return requests.get(
        f"{stack['apiUrl']}{path}", params=params, timeout=30, headers={"Authorization": f"Bearer {key}"}
    )


def mac_of(lab_status: dict, host: str, interface: str = "eth0") -> str:
    return next(i["mac"] for i in lab_status["hosts"][host]["interfaces"] if i["name"] == interface).lower()


@pytest.mark.parametrize(
    ("account", "vm", "owner_host"), [("alice", "r-4-VM", "guest1a"), ("dave", "r-11-VM", "daveguest")]
)
def test_the_same_address_reaches_each_tenants_own_machine(
    local_stack, api_keys, lab_status, account, vm, owner_host
):
    ping = post(
        local_stack,
        api_keys[account],
        {"targetId": vm, "type": "ping", "ipAddress": SAME_ADDRESS, "params": "-c 2"},
    )
    assert ping.status_code == 200, ping.text
    assert ping.json()["success"] is True and ping.json()["result"]["received"] == 2
    assert (ping.json()["egressInterface"], ping.json()["egressKind"]) == ("eth0", "isolated")
    arping = post(
        local_stack,
        api_keys[account],
        {"targetId": vm, "type": "arping", "ipAddress": SAME_ADDRESS, "params": "-c 2"},
    )
    assert arping.status_code == 200, arping.text
    assert {r["mac"].lower() for r in arping.json()["result"]["replies"]} == {mac_of(lab_status, owner_host)}


def test_a_domain_admin_above_the_second_tenant_probes_from_its_vr(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["initech-admin"],
        {"targetId": "r-11-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True and response.json()["egressKind"] == "public"


@pytest.mark.parametrize(
    ("destination", "kind"), [("10.5.0.21", "shared"), ("2001:db8:5::21", "shared"), (WEB, "public")]
)
def test_a_dedicated_shared_network_is_its_accounts_own(local_stack, api_keys, destination, kind):
    response = post(
        local_stack,
        api_keys["erin"],
        {"targetId": "r-13-VM", "type": "ping", "ipAddress": destination, "params": "-c 1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True and response.json()["egressKind"] == kind


@pytest.mark.parametrize(
    ("account", "vm", "destination", "code", "secrets"),
    [
        # dave owns dave-shared but shares it with carol: nobody's own, its owner included
        (
            "dave",
            "r-11-VM",
            "10.4.0.22",
            "SHARED_NETWORK_NOT_EXCLUSIVE",
            ["dave-shared", "10.4.0.0/24", "carol"],
        ),
        # over public from alice's VPC router, 10.1.1.11 may be dave's
        (
            "alice",
            "r-7-VM",
            SAME_ADDRESS,
            "DESTINATION_NOT_ALLOWED",
            ["dave", "net-guest-dave", "10.1.1.0/24"],
        ),
        ("erin", "r-13-VM", "10.4.0.21", "DESTINATION_NOT_ALLOWED", ["dave", "10.4.0.0/24"]),
        (
            "dave",
            "r-11-VM",
            "172.31.200.10",
            "DESTINATION_IN_MANAGEMENT_RANGE",
            ["172.31.200.0/24", "management"],
        ),
        (
            "dave",
            "r-11-VM",
            "169.254.0.1",
            "VR_CONTROL_OR_MANAGEMENT_ADDRESS",
            ["bastion", "control", "169.254.0.0/16"],
        ),
    ],
)
def test_refusals_say_the_class_and_name_nothing_of_others(
    local_stack, api_keys, account, vm, destination, code, secrets
):
    response = post(
        local_stack, api_keys[account], {"targetId": vm, "type": "ping", "ipAddress": destination}
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == code
    for secret in secrets:
        assert secret not in response.text


@pytest.mark.parametrize(
    ("account", "vm"),
    [("carol", "r-11-VM"), ("bob", "r-9-VM"), ("bob", "r-15-VM"), ("dave", "r-4-VM"), ("erin", "s-1-VM")],
)
def test_a_vm_the_caller_may_not_use_answers_like_a_missing_one(local_stack, api_keys, account, vm):
    bad_options = {"type": "ping", "ipAddress": WEB, "params": "-f -c 999"}  # options are not looked at
    hidden = post(local_stack, api_keys[account], {"targetId": vm, **bad_options})
    missing = post(local_stack, api_keys[account], {"targetId": "r-999-VM", **bad_options})
    assert hidden.status_code == missing.status_code == 404, hidden.text
    assert hidden.json() == {**missing.json(), "message": missing.json()["message"].replace("r-999-VM", vm)}
    assert hidden.json()["code"] == "TARGET_NOT_FOUND" and hidden.json()["field"] == "targetId"


def test_the_audit_keeps_why_a_vm_was_hidden(local_stack, api_keys):
    hidden = post(local_stack, api_keys["carol"], {"targetId": "r-11-VM", "type": "ping", "ipAddress": WEB})
    assert hidden.status_code == 404, hidden.text
    records = get(local_stack, api_keys["admin"], "/audit", account="acct-carol").json()["items"]
    record = next(r for r in records if r["id"] == hidden.headers["x-request-id"])
    assert record["decision"] == "denied" and record["reasonCode"] == "TARGET_NOT_FOUND"
    assert record["detailCode"] == "TARGET_NOT_OWNED" and "r-11-VM" in record["detail"]


def test_a_stopped_vr_is_409_for_its_tenant_and_404_for_others(local_stack, api_keys):
    body = {"targetId": "r-15-VM", "type": "ping", "ipAddress": WEB}
    own = post(local_stack, api_keys["alice"], body)
    assert own.status_code == 409 and own.json()["code"] == "VM_NOT_RUNNING", own.text
    other = post(local_stack, api_keys["dave"], body)
    assert other.status_code == 404 and other.json()["code"] == "TARGET_NOT_FOUND", other.text


def test_systemvms_shows_a_non_admin_no_control_management_or_other_tenants_interface(local_stack, api_keys):
    views = {
        account: {
            vm["name"]: vm for vm in get(local_stack, api_keys[account], "/systemvms").json()["systemvms"]
        }
        for account in ("admin", "alice", "dave")
    }
    assert {i["name"] for i in views["dave"]["r-11-VM"]["interfaces"]} == {
        "eth0",
        "eth2",
    }  # no control, no dave-shared
    assert {i["networkKind"] for vm in views["alice"].values() for i in vm["interfaces"]} <= {
        "public",
        "isolated",
        "vpc_tier",
        "private_gateway",
        "vpn_gateway",
    }
    for account in ("alice", "dave"):
        text = str(views[account])
        assert "169.254." not in text and "172.31.20" not in text
    assert {i["name"] for i in views["admin"]["r-11-VM"]["interfaces"]} == {"eth0", "eth1", "eth2", "eth3"}


def test_the_answer_names_the_interface_the_tool_ran_on(local_stack, api_keys):
    """An admin's -I pins ping to eth0 (the guest network) although the path to the web server is eth2."""
    response = post(
        local_stack,
        api_keys["admin"],
        {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 1 -w 2 -I eth0"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["egressInterface"], body["egressKind"]) == ("eth0", "isolated")
    assert "-I eth0" in body["command"]


def test_a_ping_that_cannot_finish_in_time_is_refused_naming_the_bound(local_stack, api_keys):
    response = post(
        local_stack,
        api_keys["alice"],
        {"targetId": "r-4-VM", "type": "ping", "ipAddress": WEB, "params": "-c 8 -i 9"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "OPTION_OUT_OF_BOUNDS" and "60 s" in response.json()["message"]


@pytest.mark.parametrize("destination", ["0.0.0.0", "255.255.255.255", "224.0.0.1", "::", "::ffff:239.0.0.1"])
def test_no_one_probes_the_unspecified_broadcast_or_multicast_addresses(local_stack, api_keys, destination):
    response = post(
        local_stack, api_keys["admin"], {"targetId": "r-4-VM", "type": "ping", "ipAddress": destination}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_DESTINATION"
