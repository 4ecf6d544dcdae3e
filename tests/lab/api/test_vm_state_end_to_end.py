"""POST /diagnostics/data end to end: the VR's real `ip -j` state and iptables-save read through the
bastion by the VM side's `state` verb, cut for a tenant, bundled to moto's S3 and downloaded from the
pre-signed URL over HTTP; the CLI shows it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests

from tests.lab.api.calls import cli, post

pytestmark = pytest.mark.lab

VR = "r-4-VM"
ALICE_GUEST = "10.1.1.11"


def read_state(stack: dict, key: str, body: dict) -> requests.Response:
    return post(stack, key, body, path="/diagnostics/data")


def state_of(stack: dict, key: str, **body: object) -> dict:
    response = read_state(stack, key, {"targetId": VR, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def guest_known(local_stack, api_keys) -> None:
    """The VR has just pinged alice's guest, so its kernel's neighbour table holds the guest (arping
    would not do: it asks on a packet socket, and Linux does not learn from the unsolicited reply), and
    the run log holds a run."""
    body = {"targetId": VR, "type": "ping", "ipAddress": ALICE_GUEST, "params": "-c 1"}
    answer = post(local_stack, api_keys["alice"], body)
    assert answer.status_code == 200 and answer.json()["success"], answer.text


def addresses_by_interface(state: dict) -> dict[str, list[str]]:
    return {link["ifname"]: [a["local"] for a in link["addr_info"]] for link in state["inline"]["addresses"]}


def test_an_admin_reads_the_whole_state_and_downloads_the_bundle(local_stack, api_keys, guest_known):
    state = state_of(local_stack, api_keys["admin"])
    assert state["parts"] == ["addresses", "routes", "rules", "neighbours", "iptables"]
    assert state["scoped"] is False and state["problems"] == []
    links = addresses_by_interface(state)
    assert "10.1.1.1" in links["eth0"] and "169.254.1.10" in links["eth1"] and "203.0.113.10" in links["eth2"]
    routes = state["inline"]["routes"]
    assert {"default", "10.1.1.0/24", "169.254.0.0/16"} <= {
        r["dst"] for r in routes if r.get("table") != "local"
    }
    assert any(n["dst"] == ALICE_GUEST and n["dev"] == "eth0" for n in state["inline"]["neighbours"])
    assert isinstance(state["inline"]["iptables"], str)
    run_log = {log["name"]: log for log in state["logs"]}["sysvmdiag"]
    assert run_log["present"] and run_log["path"].endswith(".jsonl")
    assert run_log["text"] is None or ALICE_GUEST in run_log["text"]  # None: over 16 KiB, the bundle has it

    bundle = requests.get(state["bundle"]["url"], timeout=30)
    assert bundle.status_code == 200 and len(bundle.content) == state["bundle"]["bytes"]
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert json.loads(archive.read("routes.json")) == routes
        assert json.loads(archive.read("manifest.json"))["vmName"] == VR
        assert "iptables.rules" in archive.namelist()
        assert ALICE_GUEST in archive.read("logs/sysvmdiag.log").decode()  # the ping the fixture ran


def test_alice_sees_her_networks_and_nothing_of_the_control_link(local_stack, api_keys, guest_known):
    state = state_of(local_stack, api_keys["alice"])
    assert state["scoped"] is True and state["parts"] == ["addresses", "routes", "rules", "neighbours"]
    assert set(addresses_by_interface(state)) == {"eth0", "eth2"}
    assert all(r.get("dev") in ("eth0", "eth2") for r in state["inline"]["routes"])
    assert not any(r["dst"].startswith("169.254.") for r in state["inline"]["routes"])
    neighbours = state["inline"]["neighbours"]
    assert ALICE_GUEST in {n["dst"] for n in neighbours}
    assert all(n["dev"] != "eth1" for n in neighbours)  # the bastion talks to the VR over eth1
    assert "iptables" not in state["inline"] and state["logs"] == []


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("alice", {"parts": ["iptables"]}, 403, "STATE_PART_ADMIN_ONLY"),
        ("alice", {"logs": ["sysvmdiag"]}, 403, "STATE_PART_ADMIN_ONLY"),
        ("bob", {}, 404, "TARGET_NOT_FOUND"),
        ("alice", {"parts": ["rm -rf /"]}, 400, "INVALID_REQUEST"),
    ],
)
def test_refusals_answer_with_their_code(local_stack, api_keys, who, body, status, code):
    response = read_state(local_stack, api_keys[who], {"targetId": VR, **body})
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_the_cli_shows_the_state_and_saves_the_bundle(local_stack, api_keys, guest_known, tmp_path):
    target = tmp_path / "r-4-VM.zip"
    done = cli(local_stack, api_keys["alice"], "data", VR, "--download", str(target))
    assert done.returncode == 0, done.stderr
    assert "cut to your own networks" in done.stdout and "neighbours (" in done.stdout
    assert ALICE_GUEST in done.stdout and "169.254.1.10" not in done.stdout
    assert zipfile.is_zipfile(target) and "saved the bundle" in done.stderr
