"""Load a topology (and the lab's pinned host keys) into the DynamoDB tables, idempotently.

The loader is where denormalisation happens (the slices of :mod:`sysvmdiag.topology.layout`), so the
request path reads a few small items and never joins. It writes only what changed: every item carries a
digest of its content, so reloading an unchanged zone writes nothing, and changing one network, VM or
account rewrites the few items that show it. All writes go through BatchWriteItem.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

from sysvmdiag.keypairs import is_keypair_item, refreshed_keypair_item
from sysvmdiag.topology.bulk import bulk_write
from sysvmdiag.topology.items import ITEM_TYPES, indexed_objects, topology_items
from sysvmdiag.topology.model import Account, Host, HostKind, Topology
from sysvmdiag.topology.store import INDEX_PK, ZONE_KEY, TopologyStore, account_item, api_key_item

# -- pure: lab status ---------------------------------------------------------------------------------------


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


# -- the load -------------------------------------------------------------------------------------------

_TRACKED = {"vm": "system_vms", "network": "networks", "vpc": "vpcs"}


@dataclass
class Changes:
    """Ids of the objects a load added, changed and removed (system VMs by uuid)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    """What a load found and did, for the CLI's and the sync's output."""

    zone: str
    system_vms: int
    networks: int
    vpcs: int
    accounts: int
    items_written: int = 0
    items_unchanged: int = 0
    items_removed: int = 0
    removed_accounts: int = 0
    changes: dict[str, Changes] = field(default_factory=dict)

    def to_dict(self, *, ids_shown: int | None = 20) -> dict[str, Any]:
        """Counts, and the ids of what changed (the first ``ids_shown`` of each list; None: all)."""
        data = asdict(self)
        for kind, changes in self.changes.items():
            summary: dict[str, Any] = {}
            for verb in ("added", "changed", "removed"):
                ids = getattr(changes, verb)
                summary[verb] = len(ids)
                if ids:
                    summary[f"{verb}_ids"] = ids if ids_shown is None else ids[:ids_shown]
            data["changes"][kind] = summary
        return data


class ZoneMismatch(ValueError):
    """The tables hold another zone: one deployment serves one zone."""


def load_topology_into_tables(
    topology: Topology,
    store: TopologyStore,
    lab_status: dict[str, Any] | None = None,
    *,
    replace: bool = False,
    dry_run: bool = False,
) -> LoadReport:
    """Write what changed, remove what the topology no longer has, and say which objects those were.

    Idempotent: items are a pure function of the topology (and lab status) carrying a digest of their
    content, so a second run writes nothing. The tables hold one zone; loading another is refused
    unless ``replace``. Accounts that came from a topology and are gone from it are removed with their
    keys; accounts created through ``put_account`` are left alone. API keys are never written here.
    With ``dry_run`` nothing is written: the report says what would be.
    """
    if lab_status is not None:
        topology = apply_lab_status(topology, lab_status)
    items = {(item["pk"], item["sk"]): item for item in topology_items(topology)}
    existing = _existing_items(store)
    _check_zone(existing, topology, replace)
    report = LoadReport(
        zone=topology.zone.id,
        system_vms=len(topology.system_vms()),
        networks=len(topology.networks),
        vpcs=len(topology.vpcs),
        accounts=len(topology.accounts),
        changes={name: Changes() for name in _TRACKED.values()},
    )
    to_write = [item for key, item in items.items() if existing.get(key, {}).get("digest") != item["digest"]]
    stale = sorted(key for key in existing if key not in items)
    _note_changes(report, new=indexed_objects(_index_of(items)), old=indexed_objects(_index_of(existing)))
    report.items_written, report.items_removed = len(to_write), len(stale)
    report.items_unchanged = len(items) - len(to_write)
    if dry_run:
        return report
    bulk_write(store.topology_table, to_write, [{"pk": pk, "sk": sk} for pk, sk in stale])
    report.removed_accounts = sync_accounts(store, topology)
    return report


def _index_of(items: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for (pk, _), item in items.items() if pk == INDEX_PK]


def _existing_items(store: TopologyStore) -> dict[tuple[str, str], dict[str, Any]]:
    """Key, type, digest and zone of every topology item (a Scan: the loader is not on the request
    path). Other items that share the table (playbooks) are not the loader's."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    scan: dict[str, Any] = {
        "ProjectionExpression": "#pk, #sk, #digest, #type, #zone, #objects",
        "ExpressionAttributeNames": {
            "#pk": "pk",
            "#sk": "sk",
            "#digest": "digest",
            "#type": "item_type",
            "#zone": "zone_id",
            "#objects": "objects",
        },
    }
    while True:
        response = store.topology_table.scan(**scan)
        mine = (item for item in response["Items"] if item.get("item_type") in ITEM_TYPES)
        found.update(((item["pk"], item["sk"]), item) for item in mine)
        if "LastEvaluatedKey" not in response:
            return found
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _check_zone(existing: dict[tuple[str, str], dict[str, Any]], topology: Topology, replace: bool) -> None:
    held = existing.get((ZONE_KEY["pk"], ZONE_KEY["sk"]), {}).get("zone_id")
    if held is not None and held != topology.zone.id and not replace:
        raise ZoneMismatch(
            f"the tables hold zone {held}, not {topology.zone.id} ({topology.zone.name}); one deployment "
            "serves one zone: load into other tables, or replace the zone on purpose (--replace)"
        )


def _note_changes(report: LoadReport, *, new: dict[str, str], old: dict[str, str]) -> None:
    """Added, changed and removed objects, from the zone's index before and after."""
    for object_id in sorted(new.keys() | old.keys()):
        kind, _, name = object_id.partition(":")
        changes = report.changes[_TRACKED[kind]]
        if object_id not in old:
            changes.added.append(name)
        elif object_id not in new:
            changes.removed.append(name)
        elif old[object_id] != new[object_id]:
            changes.changed.append(name)


def sync_accounts(store: TopologyStore, topology: Topology) -> int:
    """Upsert the topology's accounts, refresh their keys' copies, prune vanished topology accounts
    (with their bearer keys and CloudStack key pairs: a key must not outlive its account).

    One Scan of the accounts table, then batched writes of what differs only.
    """
    table = store.accounts_table
    accounts, keys = _scan_accounts(table)
    wanted = {account.id: account for account in topology.accounts}
    removed = 0
    with table.batch_writer() as batch:
        for account in topology.accounts:
            item = account_item(account, source="topology")
            if accounts.get(account.id) != item:
                batch.put_item(Item=item)
            for key in keys.get(account.id, ()):
                if (key["name"], key["role"], key["domain"]) != (
                    account.name,
                    account.role.value,
                    account.domain,
                ):
                    batch.put_item(Item=_refreshed_key_item(key, account))
        for account_id, item in accounts.items():
            if item.get("source") != "topology" or account_id in wanted:
                continue
            for key in keys.get(account_id, ()):
                batch.delete_item(Key={"pk": key["pk"]})
            batch.delete_item(Key={"pk": item["pk"]})
            removed += 1
    return removed


def _refreshed_key_item(key: dict[str, Any], account: Account) -> dict[str, Any]:
    """A bearer key's or a CloudStack key pair's item with the account's current fields."""
    if is_keypair_item(key["pk"]):
        return refreshed_keypair_item(key, account)
    return api_key_item(account, key["key_hash"])


def _scan_accounts(table: Any) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Account items by id, and the key items (bearer keys and CloudStack key pairs) by account id."""
    accounts: dict[str, dict[str, Any]] = {}
    keys: dict[str, list[dict[str, Any]]] = {}
    scan: dict[str, Any] = {}
    while True:
        response = table.scan(**scan)
        for item in response["Items"]:
            if item["pk"].startswith("ACCOUNT#"):
                accounts[item["id"]] = item
            elif item["pk"].startswith("KEY#") or is_keypair_item(item["pk"]):
                keys.setdefault(item["account_id"], []).append(item)
        if "LastEvaluatedKey" not in response:
            return accounts, keys
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]
