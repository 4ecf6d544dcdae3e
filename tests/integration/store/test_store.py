"""The topology store on moto's DynamoDB server: round trip, idempotency, pruning, call counts."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from sysvmdiag.policy import Caller, allowed_egress_kinds, decide, may_target
from sysvmdiag.topology.layout import decision_slice
from sysvmdiag.topology.loader import apply_lab_status, load_topology_into_tables
from sysvmdiag.topology.model import NetworkKind, Role, Topology
from sysvmdiag.topology.store import TopologyStore, create_tables
from tests.integration.store.helpers import DynamoCallCounter, all_items, shrunk_topology


def test_decision_context_is_the_pure_slice_of_every_system_vm(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    pinned = apply_lab_status(topology, lab_status_without_lab)
    for vm, destination in itertools.product(pinned.system_vms(), ("10.1.1.11", "2001:db8:5::21", None)):
        assert vm.uuid is not None
        context = store.decision_context(vm.uuid, destination)
        assert context == decision_slice(pinned, vm.uuid, destination), vm.name
        # the VM as in the zone, with the lab's host key pinned
        assert context.system_vm(vm.uuid) == vm
        assert vm.ssh is not None
        assert vm.ssh.host_key == lab_status_without_lab["hosts"][vm.name]["ssh"]["host_key"]
        # every network the VM sits on, unchanged, and every infrastructure network of the zone
        for iface in vm.interfaces:
            assert context.network(iface.network) == topology.network(iface.network)
        zone_wide = {NetworkKind.PUBLIC, NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE}
        for network in topology.networks:
            if network.kind in zone_wide:
                assert context.network(network.id) == network
        # the accounts holding those networks, by their tenancy facts (role and domain)
        for network in context.networks:
            for account_id in (network.owner, *network.shared_with):
                if account_id is not None:
                    held = context.account(account_id)
                    assert (held.role, held.domain) == (topology.account(account_id).role, held.domain)
        assert context.zone == topology.zone
        assert context.bastion().ssh is not None
        assert context.bastion().ssh.host_key == lab_status_without_lab["bastion"]["host_key"]


def test_a_context_holds_every_tenant_space_of_the_destination_and_no_other(
    store: TopologyStore, topology: Topology
) -> None:
    load_topology_into_tables(topology, store)
    vpcvr = topology.system_vm("vpcvr")
    context = store.decision_context(vpcvr.uuid or "", "198.51.100.80")
    assert context is not None
    assert [v.id for v in context.vpcs] == ["vpc-alice-1"]
    assert {n.id for n in context.networks if n.vpc == "vpc-alice-1"} == {
        "net-tier-web",
        "net-tier-db",
        "net-privgw",
        "net-vpngw",
    }
    assert context.account("acct-alice").domain == "ROOT/acme/engineering"
    # The SSVM serves no tenant: toward 10.1.1.11 it sees both tenants that use 10.1.1.0/24, nothing
    # of the networks elsewhere (alice's 10.1.2.0/24 included).
    ssvm = store.decision_context(topology.system_vm("ssvm").uuid or "", "10.1.1.11")
    assert ssvm is not None
    tenant = {n.id for n in ssvm.networks if n.owner or n.shared_with}
    assert tenant == {"net-guest-alice", "net-guest-dave"}
    assert {a.id for a in ssvm.accounts} == {"acct-alice", "acct-dave"}
    assert [h.name for h in ssvm.hosts] == ["bastion", "ssvm"]


def test_unknown_vm_has_no_context(store: TopologyStore, topology: Topology) -> None:
    load_topology_into_tables(topology, store)
    assert store.decision_context("4b1d5c2e-0000-0000-0000-000000000000") is None
    assert store.decision_context("r-99-VM") is None
    # lab host names are not CloudStack names
    assert store.decision_context("vr") is None


def test_a_cloudstack_name_gives_the_same_context_in_one_batch_get(
    store: TopologyStore, topology: Topology
) -> None:
    load_topology_into_tables(topology, store)
    for vm in topology.system_vms():
        assert vm.vm_name is not None
        with DynamoCallCounter(store.topology_table.meta.client) as counter:
            by_name = store.decision_context(vm.vm_name)
        assert counter.operations == ["BatchGetItem"]
        assert by_name is not None
        assert by_name == store.decision_context(vm.uuid or "")
        assert by_name.system_vm(vm.vm_name).uuid == vm.uuid


def test_loading_twice_leaves_the_same_items(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    first = load_topology_into_tables(topology, store, lab_status_without_lab)
    topology_items = all_items(store.topology_table)
    account_items = all_items(store.accounts_table)
    with DynamoCallCounter(store.topology_table.meta.client) as counter:
        second = load_topology_into_tables(topology, store, lab_status_without_lab)
    assert all_items(store.topology_table) == topology_items
    assert all_items(store.accounts_table) == account_items
    assert first.items_written == len(topology_items) and first.items_unchanged == 0
    assert len(first.changes["system_vms"].added) == 8
    assert second.items_written == second.items_removed == second.removed_accounts == 0
    assert second.items_unchanged == len(topology_items)
    assert all(not (c.added or c.changed or c.removed) for c in second.changes.values())
    assert "BatchWriteItem" not in counter.operations and "PutItem" not in counter.operations
    kinds = sorted(item.get("item_type") for item in topology_items)
    assert kinds.count("SYSTEMVM") == len(topology.system_vms()) == 8
    assert kinds.count("SYSTEMVM_NAME") == 8
    assert kinds.count("INDEX") == 1
    assert kinds.count("ZONE") == 1


def test_reload_removes_what_the_topology_no_longer_has(store: TopologyStore, topology: Topology) -> None:
    load_topology_into_tables(topology, store)
    carol_key = "k" * 40
    store.put_account(topology.account("carol"), carol_key)
    outsider = topology.account("alice").model_copy(update={"id": "acct-outsider", "name": "outsider"})
    outsider_key = "o" * 40
    store.put_account(outsider, outsider_key)
    vr_uuid = topology.system_vm("vr").uuid or ""
    assert store.decision_context(vr_uuid) is not None

    report = load_topology_into_tables(shrunk_topology(topology), store)

    # the VR's item and its name's item; net-guest-alice's buckets (10.1.1.0/24 and its /64) still
    # hold dave's network and go on, rewritten
    assert report.items_removed == 3
    assert report.changes["system_vms"].removed == [vr_uuid]
    assert report.changes["networks"].removed == ["net-guest-alice"]
    assert report.changes["networks"].changed == ["net-shared", "net-shared-dave"]  # carol is gone from both
    assert report.removed_accounts == 1
    assert store.decision_context(vr_uuid) is None
    assert store.decision_context("r-4-VM") is None
    keys = {(item["pk"], item.get("sk")) for item in all_items(store.topology_table)}
    assert ("SPACE#2001:db8:1:1::/64", "SPACE") not in keys
    assert "vr" not in {h.name for h in store.list_system_vms().hosts}
    # a dropped topology account goes with its keys; accounts made through the API stay
    assert store.account_by_api_key(carol_key) is None
    assert store.accounts_table.get_item(Key={"pk": "ACCOUNT#acct-carol"}).get("Item") is None
    kept = store.account_by_api_key(outsider_key)
    assert kept is not None and kept.id == "acct-outsider"
    # the remaining VMs' contexts no longer name carol
    shared = store.decision_context(topology.system_vm("sharedvr").uuid or "")
    assert shared is not None and shared.network("net-shared").shared_with == ("acct-bob",)


def test_list_system_vms_is_one_query_over_every_vm(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    pinned = apply_lab_status(topology, lab_status_without_lab)
    client = store.topology_table.meta.client
    with DynamoCallCounter(client) as counter:
        listing = store.list_system_vms()
    assert counter.operations == ["Query"]
    assert {vm.name for vm in listing.system_vms()} == {vm.name for vm in topology.system_vms()}
    for vm in listing.system_vms():
        assert vm == pinned.system_vm(vm.name)
        for iface in vm.interfaces:
            assert listing.network(iface.network) == topology.network(iface.network)
    assert listing.zone == topology.zone


def test_list_of_an_empty_table_says_to_load(store: TopologyStore) -> None:
    with pytest.raises(LookupError, match="topology load"):
        store.list_system_vms()


def test_bastion_endpoint_comes_from_the_lab(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    bastion = store.bastion()
    assert bastion.ssh is not None
    lab_bastion = lab_status_without_lab["bastion"]
    assert str(bastion.ssh.address) == lab_bastion["address"]
    assert (bastion.ssh.port, bastion.ssh.user) == (lab_bastion["port"], lab_bastion["user"])
    assert bastion.ssh.host_key == lab_bastion["host_key"]


def test_lab_status_without_a_vm_key_is_refused(topology: Topology, lab_status_without_lab: dict) -> None:
    broken = {**lab_status_without_lab, "hosts": dict(lab_status_without_lab["hosts"])}
    del broken["hosts"]["cpvm"]
    with pytest.raises(ValueError, match="cpvm"):
        apply_lab_status(topology, broken)


def test_create_tables_again_is_harmless(dynamodb: Any, store: TopologyStore) -> None:
    name = store.topology_table.name
    tables = create_tables(dynamodb, {"topology": name})
    assert tables["topology"].name == name
    description = dynamodb.meta.client.describe_table(TableName=name)["Table"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert description["SSEDescription"]["Status"] == "ENABLED"
    backups = dynamodb.meta.client.describe_continuous_backups(TableName=name)
    assert (
        backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        == "ENABLED"
    )


# -- a policy decision on the stored slice: one call, and the same answer as on the whole zone -----------

DESTINATIONS = (
    "198.51.100.80",
    "2001:db8:52::80",
    "203.0.113.1",
    "10.1.1.11",
    "10.2.1.11",
    "10.2.2.11",
    "10.100.0.10",
    "10.50.0.10",
    "10.3.0.21",
    "10.3.0.22",
    "172.31.200.10",
    "172.31.201.10",
    "169.254.1.10",
    "169.254.0.1",
    "127.0.0.1",
    "224.0.0.1",
    "::ffff:172.31.200.10",
    "10.9.9.9",
)
TESTS = ("ping", "traceroute", "arping")


def callers(topology: Topology) -> list[Caller]:
    return [Caller(account_id=a.id, role=a.role, domain=a.domain) for a in topology.accounts]


def test_a_decision_costs_one_batch_get(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    client = store.topology_table.meta.client
    alice = Caller(account_id="acct-alice", role=Role.USER, domain="ROOT/acme/engineering")
    vm_uuid = topology.system_vm("vr").uuid or ""
    with DynamoCallCounter(client) as counter:
        context = store.decision_context(vm_uuid, "198.51.100.80")
        assert context is not None
        decision = decide(alice, vm_uuid, "ping", "198.51.100.80", "-c 2", context)
        context.bastion()  # what the runner needs next is in the same answer
    assert decision.allowed, decision.message
    assert counter.operations == ["BatchGetItem"]


def test_decisions_on_the_stored_slice_match_the_whole_zone(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    pinned = apply_lab_status(topology, lab_status_without_lab)
    contexts = {
        (vm.uuid, destination): store.decision_context(vm.uuid or "", destination)
        for vm, destination in itertools.product(topology.system_vms(), DESTINATIONS)
    }
    compared = allowed = 0
    for caller, vm, test, destination in itertools.product(
        callers(topology), topology.system_vms(), TESTS, DESTINATIONS
    ):
        on_slice = decide(caller, vm.uuid or "", test, destination, None, contexts[(vm.uuid, destination)])
        on_zone = decide(caller, vm.uuid or "", test, destination, None, pinned)
        assert on_slice.to_dict() == on_zone.to_dict(), (caller.account_id, vm.name, test, destination)
        compared += 1
        allowed += on_slice.allowed
    # the matrix exercises both answers
    assert compared == len(topology.accounts) * len(topology.system_vms()) * 3 * len(DESTINATIONS)
    assert 0 < allowed < compared


def test_create_tables_takes_env_var_names_too(dynamodb: Any) -> None:
    prefix = f"envkeys-{uuid.uuid4().hex[:8]}"
    tables = create_tables(dynamodb, {"JOBS_TABLE": f"{prefix}-jobs", "audit": f"{prefix}-audit"})
    assert sorted(tables) == ["audit", "jobs"]
    ttl = dynamodb.meta.client.describe_time_to_live(TableName=f"{prefix}-jobs")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    with pytest.raises(KeyError, match="unknown table"):
        create_tables(dynamodb, {"JOBS": f"{prefix}-other"})


def test_the_listing_answers_may_target_and_egress_kinds_like_the_whole_zone(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    pinned = apply_lab_status(topology, lab_status_without_lab)
    targetable = 0
    for caller in callers(topology):
        with DynamoCallCounter(store.topology_table.meta.client) as counter:
            listing = store.list_system_vms()
            answers = {
                vm.name: (may_target(caller, vm, listing), allowed_egress_kinds(caller, vm, listing))
                for vm in listing.system_vms()
            }
        assert counter.operations == ["Query"]
        expected = {
            vm.name: (may_target(caller, vm, pinned), allowed_egress_kinds(caller, vm, pinned))
            for vm in pinned.system_vms()
        }
        assert answers == expected, caller.account_id
        targetable += sum(allowed for allowed, _ in answers.values())
    assert 0 < targetable < 5 * 5


def test_decisions_by_cloudstack_name_match_the_whole_zone(
    store: TopologyStore, topology: Topology, lab_status_without_lab: dict
) -> None:
    load_topology_into_tables(topology, store, lab_status_without_lab)
    pinned = apply_lab_status(topology, lab_status_without_lab)
    for caller, vm in itertools.product(callers(topology), topology.system_vms()):
        assert vm.vm_name is not None
        for destination in ("198.51.100.80", "10.2.1.11", "172.31.200.10"):
            context = store.decision_context(vm.vm_name, destination)
            on_slice = decide(caller, vm.vm_name, "ping", destination, "-c 1", context)
            on_zone = decide(caller, vm.vm_name, "ping", destination, "-c 1", pinned)
            assert on_slice.to_dict() == on_zone.to_dict(), (caller.account_id, vm.name, destination)


def test_a_bulk_write_signs_with_the_table_s_own_credentials(moto_server, store, monkeypatch, tmp_path):
    """An operator's table made with explicit keys loads a zone even when the environment has none (the
    bulk writer's own client once fell back to the default chain and failed with NoCredentialsError)."""
    import boto3

    from sysvmdiag.topology.bulk import bulk_write

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # its credentials were resolved before
    table = boto3.resource(
        "dynamodb",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="operator",
        aws_secret_access_key="operator",
    ).Table(store.topology_table.name)
    bulk_write(table, [{"pk": "TEST#bulk", "sk": "item", "value": 1}], [])
    assert table.get_item(Key={"pk": "TEST#bulk", "sk": "item"})["Item"]["value"] == 1
