"""Topology sync end to end: the lab's CloudStack-shaped API over real HTTP on loopback, the signed and
paged client, the mapping, the loader, moto's DynamoDB; and the decisions made on what the sync wrote,
compared with those made on the lab's topology file loaded directly, for every case of the lab's
policy table."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sysvmdiag.cloudstack.sync import sync_zone
from sysvmdiag.policy import decide
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Topology
from sysvmdiag.topology.store import TopologyStore
from tests.integration.labapi import LabApi, serving
from tests.integration.store.helpers import DynamoCallCounter
from tests.integration.store.test_topology_load_cli import table_env
from tests.unit.cloudstack.test_roundtrip import KNOWN_WITH_KEEP, outcome, vm_ref
from tests.unit.policy.test_decide import EXPANDED as LAB_CASES
from tests.unit.policy.topologies import caller

SYSVMDIAG = Path(sys.executable).parent / "sysvmdiag"


@pytest.fixture
def lab_api(topology: Topology) -> Iterator[LabApi]:
    with serving(topology) as api:
        yield api


@pytest.fixture
def loaded(
    make_store: Callable[[], TopologyStore], topology: Topology, lab_status_without_lab: dict
) -> TopologyStore:
    """Tables holding the lab's topology file with its pinned keys: what the local stack starts from."""
    store = make_store()
    load_topology_into_tables(topology, store, lab_status_without_lab)
    return store


def test_a_sync_from_the_lab_api_decides_like_the_topology_file(
    make_store: Callable[[], TopologyStore],
    loaded: TopologyStore,
    lab_api: LabApi,
    topology: Topology,
    lab_status_without_lab: dict,
) -> None:
    synced = make_store()
    load_topology_into_tables(topology, synced, lab_status_without_lab)  # the bastion and lab settings
    report = sync_zone(lab_api.client(), synced)
    assert report.mapping.unmapped == [], report.mapping.to_dict()
    assert report.keys.unpinned == [] and len(report.keys.kept) == len(topology.system_vms())
    # what CloudStack cannot show (lab-only networks beyond the zone) leaves the tables; the management
    # network is named by its range (SystemVmResponse gives no network id for the private nic)
    lab_only = {"net-dc-lan", "net-vpn-peer", "net-transit", "net-internet", "net-narrow"}
    assert set(report.load.changes["networks"].removed) == lab_only | {"net-management"}
    assert report.load.changes["networks"].added == ["net-management-172.31.200.0-24"]
    differences = {}
    compared = 0
    for case in (c for c in LAB_CASES if c.variant == "lab"):
        ref = vm_ref(topology, case.vm)
        on_file = decide(
            caller(case.who),
            ref,
            case.test,
            case.dest,
            case.params,
            loaded.decision_context(ref, case.dest) or Topology(zone=topology.zone),
        )
        on_sync = decide(
            caller(case.who),
            ref,
            case.test,
            case.dest,
            case.params,
            synced.decision_context(ref, case.dest) or Topology(zone=topology.zone),
        )
        compared += 1
        if outcome(on_file) != outcome(on_sync):
            differences[(case.variant, case.who, case.vm, case.test, case.dest, case.params)] = (
                outcome(on_file),
                outcome(on_sync),
            )
    known = {key for key in KNOWN_WITH_KEEP if key[0] == "lab"}
    assert {k: v for k, v in differences.items() if k not in known} == {}
    assert compared >= 250


def test_a_second_sync_changes_nothing_and_a_decision_still_costs_one_call(
    loaded: TopologyStore, lab_api: LabApi, topology: Topology
) -> None:
    sync_zone(lab_api.client(), loaded)
    again = sync_zone(lab_api.client(), loaded)
    assert again.load.items_written == again.load.items_removed == 0
    vr = topology.system_vm("vr").uuid or ""
    with DynamoCallCounter(loaded.topology_table.meta.client) as counter:
        assert loaded.decision_context(vr, "10.1.1.11") is not None
    assert counter.operations == ["BatchGetItem"]


def _router(responses: dict[str, list[dict]], name: str) -> dict:
    return next(r for r in responses["listRouters"] if r["name"] == name)


def test_a_sync_reports_what_was_added_changed_and_removed(
    loaded: TopologyStore, lab_api: LabApi, topology: Topology
) -> None:
    sync_zone(lab_api.client(), loaded)
    responses = copy.deepcopy(lab_api.responses)
    # dave's VR and network go; erin's network gets a new gateway; a new network appears for bob
    davevr = _router(responses, "r-11-VM")
    responses["listRouters"].remove(davevr)
    responses["listNetworks"] = [n for n in responses["listNetworks"] if n["id"] != "net-guest-dave"]
    erin = next(n for n in responses["listNetworks"] if n["id"] == "net-shared-erin")
    erin["name"] = "erin-dedicated-renamed"
    template = next(n for n in responses["listNetworks"] if n["id"] == "net-guest-alice2")
    responses["listNetworks"].append(
        {
            **template,
            "id": "net-bob-new",
            "name": "bob-new",
            "account": "bob",
            "cidr": "10.9.0.0/24",
            "gateway": "10.9.0.1",
        }
    )
    bob = next(a for a in responses["listAccounts"] if a["name"] == "bob")
    responses["listNetworks"][-1]["domainid"] = bob["domainid"]
    lab_api.responses = responses

    report = sync_zone(lab_api.client(), loaded)

    networks = report.load.changes["networks"]
    assert (networks.added, networks.changed) == (["net-bob-new"], ["net-shared-erin"])
    assert "net-guest-dave" in networks.removed
    assert report.load.changes["system_vms"].removed == [davevr["id"]]
    assert loaded.decision_context(davevr["id"], "10.1.1.11") is None
    assert loaded.decision_context("r-11-VM", "10.1.1.11") is None
    context = loaded.decision_context(topology.system_vm("ssvm").uuid or "", "10.9.0.5")
    assert context is not None and context.network("net-bob-new").owner == bob["id"]


def test_a_messy_answer_is_reported_not_guessed(
    loaded: TopologyStore, lab_api: LabApi, topology: Topology
) -> None:
    responses = copy.deepcopy(lab_api.responses)
    vr = _router(responses, "r-4-VM")
    vr["nic"] = [nic for nic in vr["nic"] if nic.get("traffictype") != "Control"]
    vr.pop("linklocalip", None)
    alice2 = next(n for n in responses["listNetworks"] if n["id"] == "net-guest-alice2")
    alice2["account"] = "nobody-we-know"
    lab_api.responses = responses

    report = sync_zone(lab_api.client(), loaded)

    unmapped = {(entry.kind, entry.id) for entry in report.mapping.unmapped}
    assert ("router", vr["id"]) in unmapped
    assert ("network", "net-guest-alice2") in unmapped
    assert loaded.decision_context(vr["id"], "198.51.100.80") is None  # not reachable: not loaded
    assert report.load.changes["networks"].removed.count("net-guest-alice2") == 1


def test_a_dry_run_writes_nothing(loaded: TopologyStore, lab_api: LabApi) -> None:
    with DynamoCallCounter(loaded.topology_table.meta.client) as counter:
        report = sync_zone(lab_api.client(), loaded, dry_run=True)
    assert report.load.items_written > 0  # the file's lab-only parts would go
    assert not {"BatchWriteItem", "PutItem", "DeleteItem", "UpdateItem"} & set(counter.operations)


def test_a_moved_vm_loses_its_pin_until_a_key_file_gives_one(
    loaded: TopologyStore, lab_api: LabApi, topology: Topology, lab_status_without_lab: dict
) -> None:
    responses = copy.deepcopy(lab_api.responses)
    vr = _router(responses, "r-4-VM")
    for nic in vr["nic"]:
        if nic.get("traffictype") == "Control":
            nic["ipaddress"] = "169.254.9.9"
    vr["linklocalip"] = "169.254.9.9"
    lab_api.responses = responses

    report = sync_zone(lab_api.client(), loaded)
    assert report.keys.unpinned == ["r-4-VM"]
    context = loaded.decision_context("r-4-VM", "198.51.100.80")
    assert context is not None and context.system_vm("r-4-VM").ssh.host_key is None

    status = copy.deepcopy(lab_status_without_lab)
    status["hosts"]["vr"]["ssh"]["address"] = "169.254.9.9"
    status["hosts"]["vr"]["uuid"] = vr["id"]
    report = sync_zone(lab_api.client(), loaded, host_keys=status)
    assert "r-4-VM" in report.keys.from_file and report.keys.unpinned == []
    pinned = loaded.decision_context("r-4-VM", "198.51.100.80")
    assert pinned is not None
    assert pinned.system_vm("r-4-VM").ssh.host_key == status["hosts"]["vr"]["ssh"]["host_key"]


def test_the_sync_command(moto_server: Any, lab_api: LabApi, tmp_path: Path, topology: Topology) -> None:
    env = table_env(moto_server)
    credentials = tmp_path / "cloudstack-api.json"
    credentials.write_text(
        json.dumps({"url": lab_api.url, "apiKey": lab_api.keys.api_key, "secretKey": lab_api.keys.secret_key})
    )
    args = [str(SYSVMDIAG), "topology", "sync", "--credentials", str(credentials), "--zone", "lab-zone-1"]
    args += ["--endpoint-url", moto_server.endpoint_url, "--create-tables"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["load"]["changes"]["system_vms"]["added"] == len(topology.system_vms())
    assert "listNetworks: page 1" in done.stderr
    assert "no pinned host key" in done.stderr  # nothing to carry keys over from: the operator is told

    wrong = json.loads(credentials.read_text()) | {"secretKey": "not-the-secret"}
    credentials.write_text(json.dumps(wrong))
    refused = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr and "secret key is wrong" in refused.stderr
