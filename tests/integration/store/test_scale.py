"""The topology layout at the size of real zones: items stay small, a decision costs one call whatever
the zone's size, and changing one object rewrites a handful of items (moto's DynamoDB server)."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from simvms.generate import generate_zone
from sysvmdiag.policy import Caller, decide
from sysvmdiag.topology.items import item_bytes, topology_items
from sysvmdiag.topology.layout import decision_slice
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Role, Topology
from sysvmdiag.topology.store import TopologyStore
from tests.integration.store.helpers import DynamoCallCounter

ITEM_LIMIT = 64 * 1024


def test_items_stay_under_64_kb_at_20000_networks() -> None:
    zone = generate_zone(20_000)
    assert (len(zone.system_vms()), len(zone.accounts)) == (5_000, 10_000)
    items = topology_items(zone)
    largest = max(items, key=item_bytes)
    assert item_bytes(largest) <= ITEM_LIMIT, (largest["pk"], largest["sk"], item_bytes(largest))
    crowded = max((i for i in items if i["item_type"] == "SPACE"), key=lambda i: len(i.get("entries", {})))
    assert crowded["bucket"] == "10.1.1.0/24"  # the zone's default guest CIDR, shared by many tenants


@pytest.fixture(scope="module")
def zone() -> Topology:
    return generate_zone(1_000, seed=7)


@pytest.fixture(scope="module")
def loaded(make_store: Callable[[], TopologyStore], zone: Topology) -> TopologyStore:
    store = make_store()
    load_topology_into_tables(zone, store)
    return store


def _callers(zone: Topology) -> list[Caller]:
    admins = [a for a in zone.accounts if a.role is not Role.USER][:3]
    users = random.Random(3).sample([a for a in zone.accounts if a.role is Role.USER], 20)
    return [Caller(a.id, a.role, a.domain) for a in (*admins, *users)]


def test_a_decision_is_one_batch_get_and_decides_like_the_whole_zone(
    loaded: TopologyStore, zone: Topology
) -> None:
    rng = random.Random(11)
    vms = zone.system_vms()
    tenant = [n for n in zone.networks if n.cidr4 is not None and n.owner is not None]
    crowded = 0
    for number in range(60):
        vm = rng.choice(vms)
        network = rng.choice(tenant)
        destination = "10.1.1.9" if number % 10 == 0 else str(network.cidr4[rng.randrange(1, 250)])
        with DynamoCallCounter(loaded.topology_table.meta.client) as counter:
            context = loaded.decision_context(vm.uuid or "", destination)
        assert context is not None
        assert counter.operations in (["BatchGetItem"], ["BatchGetItem", "BatchGetItem"])
        crowded += len(counter.operations) - 1
        assert context == decision_slice(zone, vm.uuid or "", destination)
        for caller in _callers(zone)[:6]:
            whole = decide(caller, vm.uuid or "", "ping", destination, None, zone)
            assert (
                decide(caller, vm.uuid or "", "ping", destination, None, context).to_dict() == whole.to_dict()
            )
    assert crowded == 0  # at 1,000 networks the shared default CIDR still fits one bucket item


def _written(store: TopologyStore, zone: Topology) -> tuple[Any, list[str]]:
    with DynamoCallCounter(store.topology_table.meta.client) as counter:
        report = load_topology_into_tables(zone, store)
    return report, counter.operations


def _changed(zone: Topology, change: Callable[[dict], None]) -> Topology:
    data = copy.deepcopy(zone.model_dump(mode="json"))
    change(data)
    return Topology.model_validate(data)


def test_changing_one_object_rewrites_a_handful_of_items(
    make_store: Callable[[], TopologyStore], zone: Topology
) -> None:
    store = make_store()
    load_topology_into_tables(zone, store)
    vr = next(vm for vm in zone.system_vms() if vm.kind.value == "vr")
    network_id = vr.interfaces[0].network

    def rename_network(data: dict) -> None:
        next(n for n in data["networks"] if n["id"] == network_id)["name"] = "renamed"

    def stop_vm(data: dict) -> None:
        next(h for h in data["hosts"] if h["name"] == vr.name)["state"] = "Stopped"

    def rename_account(data: dict) -> None:
        data["accounts"][5]["name"] = "renamed-account"

    # a network: its bucket(s) (v4, maybe v6), its VR's item and name copy, one index shard
    report, _ = _written(store, zone := _changed(zone, rename_network))
    assert 1 <= report.items_written <= 6, report.to_dict()
    assert report.changes["networks"].changed == [network_id]
    # a VM: its item, its name copy, one index shard
    report, _ = _written(store, zone := _changed(zone, stop_vm))
    assert report.items_written == 3 and report.changes["system_vms"].changed == [vr.uuid]
    # an account's name lives in the accounts table only: one write there, none in the topology table
    renamed = _changed(zone, rename_account)
    report, operations = _written(store, renamed)
    assert report.items_written == 0
    assert operations.count("BatchWriteItem") == 1
    account = store.account(renamed.accounts[5].id)
    assert account is not None and account.name == "renamed-account"
