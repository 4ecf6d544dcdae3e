"""The topology table's items for a zone: pure functions of the Topology, each carrying a digest.

Items: the zone's (``ZONE``), one per system VM (``VM#<uuid>``, copied under ``VM#<CloudStack name>``),
one per address bucket (``SPACE#<bucket>``, hash-sharded when crowded) and the index of what the zone
holds (``INDEX``: object id -> digest, hash-sharded), which lets a load say which networks, VPCs and
VMs it added, changed or removed without one item per network.
"""

from __future__ import annotations

from typing import Any

from sysvmdiag.topology.layout import SliceIndex, digest, dump_json, spaces, vm_slice, zone_slice
from sysvmdiag.topology.model import Host, Topology
from sysvmdiag.topology.store import (
    INDEX_PK,
    SYSTEM_VM_LISTING,
    ZONE_KEY,
    space_key,
    vm_key,
)

ITEM_TYPES = frozenset({"ZONE", "SYSTEMVM", "SYSTEMVM_NAME", "SPACE", "INDEX"})
SHARD_BYTES = 48_000  # a sharded item stays under 64 KB with its keys and names


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def _context(piece: Topology) -> str:
    return dump_json(piece.model_dump(mode="json", exclude_defaults=True))


def topology_items(topology: Topology) -> list[dict[str, Any]]:
    """Every topology-table item of the zone, deterministic so reloading finds every item unchanged."""
    index = SliceIndex(topology)
    items = [zone_item(topology, index)]
    items += bucket_items(topology, index)
    kinds = {n.id: n.kind.value for n in topology.networks}
    objects: dict[str, str] = {}
    for vm in topology.system_vms():
        vm_item = _with_digest(_drop_none(system_vm_item(vm, _context(vm_slice(topology, vm, index)), kinds)))
        objects[f"vm:{vm.uuid}"] = vm_item["digest"]
        items.append(vm_item)
        if vm.vm_name and vm.vm_name != vm.uuid:
            items.append(vm_name_alias_item(vm_item, vm.vm_name))
    for network in topology.networks:
        objects[f"network:{network.id}"] = digest(dump_json(_json(network)))
    for vpc in topology.vpcs:
        objects[f"vpc:{vpc.id}"] = digest(dump_json(_json(vpc)))
    items += index_items(objects)
    return [item if "digest" in item else _with_digest(_drop_none(item)) for item in items]


def index_items(objects: dict[str, str]) -> list[dict[str, Any]]:
    """What the zone holds, as object id ("network:<id>", "vpc:<id>", "vm:<uuid>") -> digest."""
    shards = _shards(objects)
    return [
        {"pk": INDEX_PK, "sk": f"INDEX#{number}", "item_type": "INDEX", "objects": entries}
        for number, entries in enumerate(shards)
    ]


def indexed_objects(index_items: list[dict[str, Any]]) -> dict[str, str]:
    """The object digests an index holds (read back from its items)."""
    objects: dict[str, str] = {}
    for item in index_items:
        objects.update(item.get("objects", {}))
    return objects


def bucket_items(topology: Topology, index: SliceIndex) -> list[dict[str, Any]]:
    """One item per bucket holding its spaces (entry id -> slice JSON); a crowded bucket is cut into
    shards by a hash of the entry id, so one changed space rewrites one shard."""
    contexts: dict[str, str] = {}  # a space of many buckets is serialised once
    by_bucket: dict[str, dict[str, str]] = {}
    for bucket_name, entry, piece in spaces(topology, index):
        context = contexts.get(entry) or contexts.setdefault(entry, _context(piece))
        by_bucket.setdefault(bucket_name, {})[entry] = context
    items: list[dict[str, Any]] = []
    for bucket_name in sorted(by_bucket):
        shards = _shards(by_bucket[bucket_name])
        for number, entries in enumerate(shards):
            item = {
                **space_key(bucket_name, number),
                "item_type": "SPACE",
                "bucket": bucket_name,
                "entries": entries,
            }
            if number == 0:
                item["shards"] = len(shards)
            items.append(item)
    return items


def _shards(entries: dict[str, str]) -> list[dict[str, str]]:
    """The fewest hash shards each under SHARD_BYTES (one, for all but crowded buckets)."""
    count = max(1, -(-sum(len(k) + len(v) for k, v in entries.items()) // SHARD_BYTES))
    while True:
        shards: list[dict[str, str]] = [{} for _ in range(count)]
        for entry in sorted(entries):
            shards[int(digest(entry), 16) % count][entry] = entries[entry]
        if all(sum(len(k) + len(v) for k, v in shard.items()) <= SHARD_BYTES for shard in shards):
            return shards
        count += 1


def zone_item(topology: Topology, index: SliceIndex | None = None) -> dict[str, Any]:
    """The zone: management ranges, the bastion, the zone's own networks and its wide spaces."""
    try:
        bastion: Host | None = topology.bastion()
    except KeyError:
        bastion = None
    return {
        **ZONE_KEY,
        "item_type": "ZONE",
        "zone_id": topology.zone.id,
        "list_pk": SYSTEM_VM_LISTING,
        "list_sk": "#ZONE",
        "name": topology.zone.name,
        "management_ranges": [str(r) for r in topology.zone.management_ranges],
        "bastion": dump_json(_json(bastion)) if bastion else None,
        "context": _context(zone_slice(topology, index)),
    }


def vm_name_alias_item(vm_item: dict[str, Any], vm_name: str) -> dict[str, Any]:
    """A copy of a VM's item under its CloudStack name (r-4-VM).

    Callers may name a VM either way; a copy (not a pointer) keeps a decision at one BatchGetItem.
    It stays out of the ``listing`` index so each VM is listed once.
    """
    return {
        **vm_key(vm_name),
        "item_type": "SYSTEMVM_NAME",
        "uuid": vm_item["uuid"],
        "vm_name": vm_name,
        "context": vm_item["context"],
    }


def system_vm_item(vm: Host, context: str, network_kinds: dict[str, str]) -> dict[str, Any]:
    """A system VM item: readable attributes plus its slice as compact JSON."""
    assert vm.uuid is not None and vm.ssh is not None  # the model guarantees both for system VMs
    return {
        **vm_key(vm.uuid),
        "item_type": "SYSTEMVM",
        "list_pk": SYSTEM_VM_LISTING,
        "list_sk": f"VM#{vm.vm_name or vm.name}",
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
        "context": context,
    }


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _with_digest(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "digest": digest(dump_json(item))}


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: the UTF-8 length of each attribute name plus its value;
    numbers about one byte per two digits (counted here as their digits, an upper bound), maps and
    lists their contents plus 3 bytes and 1 byte per element."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        return len(str(value))
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(k).encode()) + _value_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + _value_bytes(v) for v in value)
    return len(str(value).encode())
