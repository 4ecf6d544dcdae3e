"""mtr, pmtu and ndisc end to end: real HTTP to the local stack, SSH through the bastion, the real tools
(mtr-tiny, iputils' tracepath, ndisc6) on the lab's VR, parsed, judged and shown by the CLI."""

from __future__ import annotations

import subprocess

import pytest
import requests

from tests.lab.api.calls import cli, post

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"
NARROW = "198.51.100.130"  # behind r2's 1400-MTU link
NARROW6 = "2001:db8:53::130"
R2_TRANSIT = {4: "198.51.100.2", 6: "2001:db8:51::2"}  # r2 says "too big" from the side the probe came in
GUEST1A6 = "2001:db8:1:1::11"
UNUSED6 = "2001:db8:1:1::99"  # on alice's link, nobody has it


def run(stack: dict, key: str, test: str, destination: str, params: str | None = None) -> requests.Response:
    body = {"targetId": "r-4-VM", "type": test, "ipAddress": destination}
    if params is not None:
        body["params"] = params
    return post(stack, key, body)


def forget_path_mtus(lab_status: dict) -> None:
    """The VR's kernel remembers a path MTU for ten minutes; forget it so the drop is seen again."""
    namespace = lab_status["hosts"]["vr"]["namespace"]
    for family in ("-4", "-6"):
        subprocess.run(["ip", "-n", namespace, family, "route", "flush", "cache"], check=True)


def mac_of(lab_status: dict, host: str, interface: str) -> str:
    return next(i["mac"] for i in lab_status["hosts"][host]["interfaces"] if i["name"] == interface).lower()


def test_mtr_from_the_vr_gives_every_hop_with_loss_and_latency(local_stack, api_keys):
    response = run(local_stack, api_keys["alice"], "mtr", WEB, "-c 2 -G 1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["command"].startswith("mtr -n -j -c 2 -i 1 -G 1 -m 20")
    assert body["egressInterface"] == "eth2" and body["verdict"] == "reachable"
    result = body["result"]
    assert result["tool"] == "mtr" and result["reached"] is True and result["parse_error"] is None
    assert [hop["address"] for hop in result["hops"]] == ["203.0.113.1", "198.51.100.2", WEB]
    last = result["hops"][-1]
    assert (last["sent"], last["received"], last["loss_percent"]) == (2, 2, 0.0)
    assert 0 < last["best_ms"] <= last["avg_ms"] <= last["worst_ms"]


@pytest.mark.parametrize(("destination", "family"), [(NARROW, 4), (NARROW6, 6)])
def test_pmtu_finds_the_narrow_link_and_the_router_before_it(
    local_stack, api_keys, lab_status, destination, family
):
    forget_path_mtus(lab_status)
    response = run(local_stack, api_keys["alice"], "pmtu", destination)
    assert response.status_code == 200, response.text
    body = response.json()
    result = body["result"]
    assert body["command"] == f"pmtu -n -m 6 {destination}"
    assert result["tool"] == "pmtu" and result["parse_error"] is None, result
    assert result["pmtu"] == 1400 and result["local_pmtu"] == 1500
    assert [(drop["address"], drop["pmtu"]) for drop in result["drops"]] == [(R2_TRANSIT[family], 1400)]
    assert result["reached"] is True and body["verdict"] == "reachable"


def test_pmtu_toward_a_full_size_path_sees_no_drop(local_stack, api_keys, lab_status):
    forget_path_mtus(lab_status)
    result = run(local_stack, api_keys["alice"], "pmtu", WEB).json()["result"]
    assert (result["pmtu"], result["drops"], result["reached"]) == (1500, [], True)


def test_ndisc_gives_the_mac_of_an_ipv6_neighbour(local_stack, api_keys, lab_status):
    response = run(local_stack, api_keys["alice"], "ndisc", GUEST1A6, "-r 2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["command"] == f"ndisc -n -r 2 -w 1000 -i eth0 {GUEST1A6}"
    assert body["egressInterface"] == "eth0" and body["verdict"] == "reachable"
    assert body["result"]["mac"] == mac_of(lab_status, "guest1a", "eth0")


def test_ndisc_to_an_address_nobody_has_is_unreachable_with_its_cause(local_stack, api_keys):
    body = run(local_stack, api_keys["alice"], "ndisc", UNUSED6, "-r 1 -w 500").json()
    assert body["verdict"] == "unreachable" and body["result"]["mac"] is None
    assert [cause["code"] for cause in body["cause"]] == ["NDISC_NO_REPLY"]


@pytest.mark.parametrize(
    ("test", "destination", "params", "status", "code"),
    [
        ("ndisc", "10.1.1.11", None, 403, "NDISC_IPV6_ONLY"),
        ("ndisc", "2001:db8:52::80", None, 403, "NDISC_NOT_ON_LINK"),
        ("ndisc", GUEST1A6, "-i eth2", 403, "INTERFACE_NOT_ALLOWED"),
        ("pmtu", WEB, "-I eth2", 400, "INVALID_OPTION"),
        ("mtr", WEB, "-i 0.2", 400, "OPTION_OUT_OF_BOUNDS"),
        ("mtr", "10.1.1.11", "-I eth2", 403, "INTERFACE_NOT_ALLOWED"),
    ],
)
def test_the_new_tests_are_refused_by_their_rules(
    local_stack, api_keys, test, destination, params, status, code
):
    response = run(local_stack, api_keys["alice"], test, destination, params)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_the_cli_shows_each_new_test_readably(local_stack, api_keys, lab_status):
    key = api_keys["alice"]
    forget_path_mtus(lab_status)
    done = cli(local_stack, key, "run", "--vm", "r-4-VM", "--test", "pmtu", "--dest", NARROW)
    assert done.returncode == 0, done.stderr
    assert "1400" in done.stdout and R2_TRANSIT[4] in done.stdout
    done = cli(
        local_stack, key, "run", "--vm", "r-4-VM", "--test", "mtr", "--dest", WEB, "--params", "-c 1 -G 1"
    )
    assert done.returncode == 0, done.stderr
    assert "198.51.100.2" in done.stdout and WEB in done.stdout
    done = cli(local_stack, key, "run", "--vm", "r-4-VM", "--test", "ndisc", "--dest", GUEST1A6)
    assert done.returncode == 0, done.stderr
    assert mac_of(lab_status, "guest1a", "eth0") in done.stdout
