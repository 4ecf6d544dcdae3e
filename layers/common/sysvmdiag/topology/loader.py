"""Load a topology (and the lab's pinned host keys) into the DynamoDB tables, idempotently.

The loader is where denormalisation happens: each system VM item gets its decision slice
(:func:`decision_slice`, pure) so the request path reads one item and never joins.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr

from sysvmdiag.topology.model import Host, HostKind, Topology
from sysvmdiag.topology.store import (
    SYSTEM_VM_LISTING,
    TopologyStore,
    account_item,
    dump_json,
    network_key,
    vm_key,
    vpc_key,
    zone_key,
)


@dataclass
class LoadReport:
    """What a load wrote and removed (counts), for the CLI's output."""

    zone: str
    system_vms: int
    networks: int
    vpcs: int
    accounts: int
    removed_items: int
    removed_accounts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- pure: lab status and decision slices -----------------------------------------------------------------


def apply_lab_status(topology: Topology, lab_status: dict[str, Any]) -> Topology:
    """The topology with each system VM's and the bastion's SSH endpoint as the running lab has it.

    The lab generates host keys when it starts, so pinned keys (and the bastion's address on the
    host link) only exist in ``simvms status --json``; a system VM missing from it is an error,
    since loading it without a pinned key would leave it unreachable.
    """
    data = topology.model_dump(mode="json")
    lab_hosts = lab_status.get("hosts", {})
    for host in data["hosts"]:
        if HostKind(host["kind"]) is HostKind.BASTION:
            bastion = lab_status["bastion"]
            host["ssh"] = {**(host.get("ssh") or {}), **_endpoint_fields(bastion)}
        elif Host.model_validate(host).is_system_vm:
            lab_host = lab_hosts.get(host["name"])
            if lab_host is None or not lab_host.get("ssh", {}).get("host_key"):
                raise ValueError(f"the lab status has no SSH host key for system VM {host['name']}")
            host["ssh"] = {**host["ssh"], **_endpoint_fields(lab_host["ssh"])}
    return Topology.model_validate(data)


def _endpoint_fields(endpoint: dict[str, Any]) -> dict[str, Any]:
    fields = {name: endpoint[name] for name in ("address", "port", "user", "host_key") if endpoint.get(name)}
    if "address" in fields:
        fields["address"] = str(ipaddress.ip_address(fields["address"]))
    return fields


def decision_slice(topology: Topology, vm: Host) -> Topology:
    """The part of the zone a policy decision about ``vm`` needs, as a Topology that validates.

    The VM and the bastion; every network and VPC of the zone (destinations are checked zone-wide:
    management and control ranges, shared networks, other tenants' networks and the broadcast
    addresses of every subnet), the accounts those name, the zone and its lab settings. Other hosts
    are left out. Networks are small (about 200 bytes each), so a zone of a thousand networks still
    fits a DynamoDB item (400 KB); past that, a zone item read in the same BatchGetItem would do.
    """
    hosts: list[Host] = []
    with contextlib.suppress(KeyError):  # a zone without a bastion still gets its decisions
        hosts.append(topology.bastion())
    hosts.append(vm)
    account_ids = {vm.owner} | {v.owner for v in topology.vpcs}
    for network in topology.networks:
        account_ids |= {network.owner, *network.shared_with}
    return Topology(
        version=topology.version,
        lab=topology.lab,
        zone=topology.zone,
        accounts=tuple(a for a in topology.accounts if a.id in account_ids),
        vpcs=topology.vpcs,
        networks=topology.networks,
        hosts=tuple(hosts),
    )


# -- items ----------------------------------------------------------------------------------------------


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def topology_items(topology: Topology) -> list[dict[str, Any]]:
    """Every topology-table item for one zone, deterministic so reloading rewrites identical items."""
    zone_id = topology.zone.id
    try:
        bastion: Host | None = topology.bastion()
    except KeyError:
        bastion = None
    items: list[dict[str, Any]] = [
        {
            **zone_key(zone_id),
            "item_type": "ZONE",
            "zone_id": zone_id,
            "list_pk": SYSTEM_VM_LISTING,
            "list_sk": f"{zone_id}#",
            "name": topology.zone.name,
            "management_ranges": [str(r) for r in topology.zone.management_ranges],
            "bastion": dump_json(_json(bastion)) if bastion else None,
            # the zone header of the listing: a Topology slice with no hosts
            "context": dump_json(_json(Topology(version=topology.version, zone=topology.zone))),
        }
    ]
    for network in topology.networks:
        items.append(
            {
                **network_key(network.id),
                "item_type": "NETWORK",
                "zone_id": zone_id,
                "name": network.name,
                "kind": network.kind.value,
                "network": _json(network),
            }
        )
    for vpc in topology.vpcs:
        items.append({**vpc_key(vpc.id), "item_type": "VPC", "zone_id": zone_id, "vpc": _json(vpc)})
    for vm in topology.system_vms():
        vm_item = system_vm_item(topology, vm)
        items.append(vm_item)
        if vm.vm_name and vm.vm_name != vm.uuid:
            items.append(vm_name_alias_item(vm_item, vm.vm_name))
    return [_drop_none(item) for item in items]


def vm_name_alias_item(vm_item: dict[str, Any], vm_name: str) -> dict[str, Any]:
    """A copy of a VM's decision context under its CloudStack name (r-4-VM).

    Callers may name a VM either way; a copy (not a pointer) keeps a decision at one GetItem.
    It stays out of the ``listing`` index so each VM is listed once.
    """
    return {
        **vm_key(vm_name),
        "item_type": "SYSTEMVM_NAME",
        "zone_id": vm_item["zone_id"],
        "uuid": vm_item["uuid"],
        "vm_name": vm_name,
        "context": vm_item["context"],
    }


def system_vm_item(topology: Topology, vm: Host) -> dict[str, Any]:
    """A system VM item: readable attributes plus its decision slice as compact JSON."""
    assert vm.uuid is not None and vm.ssh is not None  # the model guarantees both for system VMs
    context = decision_slice(topology, vm)
    network_kinds = {n.id: n.kind.value for n in topology.networks}
    return {
        **vm_key(vm.uuid),
        "item_type": "SYSTEMVM",
        "zone_id": topology.zone.id,
        "list_pk": SYSTEM_VM_LISTING,
        "list_sk": f"{topology.zone.id}#VM#{vm.vm_name or vm.name}",
        "uuid": vm.uuid,
        "name": vm.name,
        "vm_name": vm.vm_name,
        "kind": vm.kind.value,
        "state": vm.state,
        "vpc": vm.vpc,
        "owner": vm.owner,
        "ssh": _json(vm.ssh),
        "interfaces": [{**_json(i), "role": network_kinds[i.network]} for i in vm.interfaces],
        "routes": [_json(r) for r in vm.routes],
        "context": dump_json(context.model_dump(mode="json", exclude_defaults=True)),
    }


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# -- the load -------------------------------------------------------------------------------------------


def load_topology_into_tables(
    topology: Topology, store: TopologyStore, lab_status: dict[str, Any] | None = None
) -> LoadReport:
    """Write the zone's items and accounts, and remove those the topology no longer has.

    Idempotent: items are a pure function of the topology (and lab status), so a second run rewrites
    the same items. Accounts that came from a topology and are gone from it are removed with their
    keys; accounts created through ``put_account`` are left alone. API keys are never written here.
    """
    if lab_status is not None:
        topology = apply_lab_status(topology, lab_status)
    items = topology_items(topology)
    wanted = {(item["pk"], item["sk"]) for item in items}
    existing = _zone_item_keys(store, topology.zone.id)
    stale = sorted(existing - wanted)
    with store.topology_table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
        for pk, sk in stale:
            batch.delete_item(Key={"pk": pk, "sk": sk})
    removed_accounts = _load_accounts(store, topology)
    return LoadReport(
        zone=topology.zone.id,
        system_vms=len(topology.system_vms()),
        networks=len(topology.networks),
        vpcs=len(topology.vpcs),
        accounts=len(topology.accounts),
        removed_items=len(stale),
        removed_accounts=removed_accounts,
    )


def _zone_item_keys(store: TopologyStore, zone_id: str) -> set[tuple[str, str]]:
    """Keys of every item of the zone (a Scan: the loader is not on the request path)."""
    keys: set[tuple[str, str]] = set()
    scan: dict[str, Any] = {
        "FilterExpression": Attr("zone_id").eq(zone_id),
        "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
    }
    while True:
        response = store.topology_table.scan(**scan)
        keys |= {(item["pk"], item["sk"]) for item in response["Items"]}
        if "LastEvaluatedKey" not in response:
            return keys
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _load_accounts(store: TopologyStore, topology: Topology) -> int:
    """Upsert the topology's accounts, refresh their keys' copies, prune vanished topology accounts."""
    table = store.accounts_table
    wanted = {account.id for account in topology.accounts}
    for account in topology.accounts:
        table.put_item(Item=account_item(account, source="topology"))
        for key_hash in store.api_key_hashes(account.id):
            table.update_item(
                Key={"pk": f"KEY#{key_hash}"},
                UpdateExpression="SET #name = :name, #role = :role, #domain = :domain",
                ExpressionAttributeNames={"#name": "name", "#role": "role", "#domain": "domain"},
                ExpressionAttributeValues={
                    ":name": account.name,
                    ":role": account.role.value,
                    ":domain": account.domain,
                },
            )
    removed = 0
    scan: dict[str, Any] = {
        "FilterExpression": Attr("source").eq("topology") & Attr("pk").begins_with("ACCOUNT#"),
        "ProjectionExpression": "#id",
        "ExpressionAttributeNames": {"#id": "id"},
    }
    while True:
        response = table.scan(**scan)
        for item in response["Items"]:
            if item["id"] in wanted:
                continue
            for key_hash in store.api_key_hashes(item["id"]):
                store.revoke_api_key(key_hash)
            table.delete_item(Key={"pk": f"ACCOUNT#{item['id']}"})
            removed += 1
        if "LastEvaluatedKey" not in response:
            return removed
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]
