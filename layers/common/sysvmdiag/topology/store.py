"""The topology and accounts in DynamoDB, laid out so the hot paths cost one call each.

Topology table (``pk``/``sk``), items built by :mod:`sysvmdiag.topology.items` from the slices of
:mod:`sysvmdiag.topology.layout`; one zone per table:

* ``ZONE`` / ``ZONE``: the zone (management ranges), the bastion endpoint with its pinned key, and the
  zone slice (its own networks, spaces wider than a /16 or /56) as compact JSON.
* ``VM#<uuid>`` / ``VM``: a system VM, readable attributes (name, kind, state, ssh, interfaces with
  their role, routes, vpc, owner) plus ``context``: its slice (the VM, its tenant networks and VPC).
  ``VM#<CloudStack name>`` / ``VM`` holds a copy, so names cost no extra call.
* ``SPACE#<bucket>`` / ``SPACE`` (and ``SPACE#<n>`` shards): the networks, VPCs, routes and remote
  CIDRs of one /24 (IPv6 /64), entry id -> slice JSON.
* ``INDEX`` / ``INDEX#<n>``: object id -> digest, for what a load added, changed or removed.

A decision is one BatchGetItem (VM, zone, the destination's bucket). The sparse GSI ``listing``
(``list_pk``/``list_sk``) holds only the zone item and the system VMs, so ``GET /systemvms`` is one Query.

Accounts table (``pk``): ``ACCOUNT#<id>`` items (name, role, domain) and ``KEY#<sha256 hex>`` items that
repeat the account's fields so the authorizer resolves a key with one GetItem; ``KEYPAIR#<sha256 hex>``
items are CloudStack key pairs laid out the same way (:mod:`sysvmdiag.keypairs`). The sparse GSI
``by_account`` (``account_id``) finds an account's keys and key pairs when its role or domain changes.

Jobs (``id``; sparse GSI ``open_jobs`` on ``open_pk``/``deadline_at`` holds only queued and running jobs,
so the sweeper finds overdue ones with one Query), audit (``pk``/``sk``, GSIs ``by_vm`` and ``by_day``),
limits (``pk``/``sk``: request-rate windows and concurrency leases) and idempotency (``id``, the layout
powertools' DynamoDB persistence layer expects) are laid out in their own modules
(:mod:`sysvmdiag.jobs`, :mod:`sysvmdiag.audit`, :mod:`sysvmdiag.limits`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from sysvmdiag.accounts import api_key_matches, check_api_key_strength, hash_api_key
from sysvmdiag.topology.layout import destination_buckets, merge, merge_stored
from sysvmdiag.topology.model import Account, Host, Role, Topology

# -- table layout: the single source create_tables() uses and template.yaml is tested against ------------

TABLE_ENV_VARS: dict[str, str] = {
    "topology": "TOPOLOGY_TABLE",
    "accounts": "ACCOUNTS_TABLE",
    "jobs": "JOBS_TABLE",
    "audit": "AUDIT_TABLE",
    "limits": "LIMITS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
}
TEMPLATE_LOGICAL_IDS: dict[str, str] = {
    "topology": "TopologyTable",
    "accounts": "AccountsTable",
    "jobs": "JobsTable",
    "audit": "AuditTable",
    "limits": "LimitsTable",
    "idempotency": "IdempotencyTable",
}


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: name, key attributes and projection."""

    name: str
    hash_key: str
    range_key: str | None = None
    projection: str = "ALL"

    def definition(self) -> dict[str, Any]:
        return {
            "IndexName": self.name,
            "KeySchema": _key_schema(self.hash_key, self.range_key),
            "Projection": {"ProjectionType": self.projection},
        }


@dataclass(frozen=True)
class TableSpec:
    """Key schema, GSIs and TTL attribute of one table (all key attributes are strings)."""

    hash_key: str
    range_key: str | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.hash_key, self.range_key)

    def attribute_definitions(self) -> list[dict[str, str]]:
        names: list[str] = []
        for name in (self.hash_key, self.range_key, *self._index_keys()):
            if name is not None and name not in names:
                names.append(name)
        return [{"AttributeName": name, "AttributeType": "S"} for name in names]

    def _index_keys(self) -> Iterator[str | None]:
        for index in self.indexes:
            yield index.hash_key
            yield index.range_key


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


LISTING_INDEX = "listing"
BY_ACCOUNT_INDEX = "by_account"
OPEN_JOBS_INDEX = "open_jobs"
AUDIT_BY_VM_INDEX = "by_vm"
AUDIT_BY_DAY_INDEX = "by_day"

TABLE_SPECS: dict[str, TableSpec] = {
    "topology": TableSpec(
        hash_key="pk", range_key="sk", indexes=(IndexSpec(LISTING_INDEX, "list_pk", "list_sk"),)
    ),
    "accounts": TableSpec(
        hash_key="pk", indexes=(IndexSpec(BY_ACCOUNT_INDEX, "account_id", projection="KEYS_ONLY"),)
    ),
    "jobs": TableSpec(
        hash_key="id",
        indexes=(IndexSpec(OPEN_JOBS_INDEX, "open_pk", "deadline_at"),),
        ttl_attribute="expires_at",
    ),
    "audit": TableSpec(
        hash_key="pk",
        range_key="sk",
        indexes=(IndexSpec(AUDIT_BY_VM_INDEX, "vm_pk", "sk"), IndexSpec(AUDIT_BY_DAY_INDEX, "day", "sk")),
        ttl_attribute="expires_at",
    ),
    "limits": TableSpec(hash_key="pk", range_key="sk", ttl_attribute="expires_at"),
    "idempotency": TableSpec(hash_key="id", ttl_attribute="expiration"),
}


def table_names_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Physical table names from the TABLE_ENV_VARS variables (those set)."""
    environ = os.environ if environ is None else environ
    return {table: environ[var] for table, var in TABLE_ENV_VARS.items() if environ.get(var)}


def create_tables(dynamodb_resource: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """Create the tables named in ``names`` as template.yaml declares them.

    ``names`` maps a table (a key of TABLE_SPECS, "topology") or its environment variable
    ("TOPOLOGY_TABLE") to the physical name, so ``table_names_from_env()`` or a dict of the
    variables both work; the result is keyed like TABLE_SPECS.

    For the local stack and tests: on-demand billing, SSE, point-in-time recovery and TTL like the
    template. A table that already exists is left as it is, so this can run on every start.
    """
    tables: dict[str, Any] = {}
    tables_by_env_var = {var: table for table, var in TABLE_ENV_VARS.items()}
    for key, name in names.items():
        table = tables_by_env_var.get(key, key)
        if table not in TABLE_SPECS:
            known = sorted(TABLE_SPECS) + sorted(TABLE_ENV_VARS.values())
            raise KeyError(f"unknown table {key!r}: use one of {', '.join(known)}")
        spec = TABLE_SPECS[table]
        client = dynamodb_resource.meta.client
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": spec.key_schema(),
            "AttributeDefinitions": spec.attribute_definitions(),
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": {"Enabled": True},
        }
        if spec.indexes:
            kwargs["GlobalSecondaryIndexes"] = [index.definition() for index in spec.indexes]
        try:
            created = dynamodb_resource.create_table(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceInUseException":
                raise
            tables[table] = dynamodb_resource.Table(name)
            continue
        created.wait_until_exists()
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        tables[table] = created
    return tables


# -- item keys ----------------------------------------------------------------------------------------------

ZONE_KEY = {"pk": "ZONE", "sk": "ZONE"}  # one zone per deployment: its tables hold that zone alone
VM_SK = "VM"
INDEX_PK = "INDEX"
SYSTEM_VM_LISTING = "SYSTEMVMS"


def vm_key(uuid: str) -> dict[str, str]:
    return {"pk": f"VM#{uuid}", "sk": VM_SK}


SPACE_SK = "SPACE"


def space_key(bucket_name: str, shard: int = 0) -> dict[str, str]:
    """A bucket's item (shard 0, which says how many shards there are) or one of its further shards."""
    return {"pk": f"SPACE#{bucket_name}", "sk": SPACE_SK if shard == 0 else f"{SPACE_SK}#{shard}"}


def account_key(account_id: str) -> dict[str, str]:
    return {"pk": f"ACCOUNT#{account_id}"}


def api_key_item_key(api_key_hash: str) -> dict[str, str]:
    return {"pk": f"KEY#{api_key_hash}"}


_CONTEXT = {"#ctx": "context"}


def _key_of(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"], item["sk"]


class TopologyStore:
    """Reads (and the few writes) of the topology and accounts tables, given boto3 Table resources."""

    def __init__(self, topology_table: Any, accounts_table: Any) -> None:
        self.topology_table = topology_table
        self.accounts_table = accounts_table

    # -- topology ------------------------------------------------------------------------------------

    def decision_context(
        self, vm_ref: str, destination: str | None = None, also: Sequence[str] = ()
    ) -> Topology | None:
        """Everything a policy decision about a VM toward a destination needs, in one BatchGetItem
        whatever the zone's size: the VM's item, the zone's, and the destination's bucket (two buckets
        for an IPv6 literal embedding an IPv4 address). A bucket crowded past one item (many tenants on
        the same CIDR) costs a second BatchGetItem for the rest of its shards.

        ``vm_ref`` is the VM's uuid or its CloudStack name (r-4-VM), both stored as keys. None when no
        system VM has that id (the policy answers TARGET_NOT_FOUND). A destination that is no address
        reads no bucket: the policy refuses it before it would look. ``also``: more destinations read in
        the same calls (a VM's neighbours, judged one by one when its state is scoped for a tenant).
        """
        buckets = list(dict.fromkeys(b for d in (destination, *also) for b in destination_buckets(d)))
        items = self._batch_get([vm_key(vm_ref), ZONE_KEY, *(space_key(b) for b in buckets)])
        vm_item = items.get(_key_of(vm_key(vm_ref)))
        zone_item = items.get(_key_of(ZONE_KEY))
        if vm_item is None or zone_item is None:
            return None
        heads = [items[key] for key in (_key_of(space_key(b)) for b in buckets) if key in items]
        shards = [space_key(h["bucket"], n) for h in heads for n in range(1, int(h.get("shards", 1)))]
        spaces = heads + list(self._batch_get(shards).values()) if shards else heads
        texts = [zone_item["context"], vm_item["context"]]
        texts += [context for space in spaces for context in space["entries"].values()]
        return merge_stored(texts)

    def fresh_context(self, vm_ref: str, destination: str | None = None) -> Topology | None:
        """The store keeps nothing: every context is fresh (the pipeline's cache asks this after a host
        key mismatch)."""
        return self.decision_context(vm_ref, destination)

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), 100 keys a call; unprocessed keys (throttling) are asked again."""
        client = self.topology_table.meta.client
        name = self.topology_table.name
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {name: {"Keys": keys[start : start + 100]}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                found.update((_key_of(i), i) for i in response["Responses"].get(name, []))
                request = response.get("UnprocessedKeys") or {}
        return found

    def list_system_vms(self) -> Topology:
        """All system VMs of the zone with the zone's own networks: a Query on ``listing``.

        The policy's ``may_target`` filters the result for the caller (an account id alone cannot tell
        an admin, who sees every VM, from a user).
        """
        query: dict[str, Any] = {
            "IndexName": LISTING_INDEX,
            "KeyConditionExpression": Key("list_pk").eq(SYSTEM_VM_LISTING),
            "ProjectionExpression": "#ctx",
            "ExpressionAttributeNames": _CONTEXT,
        }
        slices = [item["context"] for item in self._query_all(query)]
        if not slices:
            raise LookupError("the topology table is empty: run `sysvmdiag topology load` or `topology sync`")
        return merge_stored(slices)

    def read_topology(self) -> Topology | None:
        """The zone as stored (zone, system VMs, bastion, networks, VPCs; accounts by name from the
        accounts table), or None for empty tables. Two Scans: for operators' commands (a sync keeps
        what CloudStack cannot show, host keys get pinned), never for a request."""
        parts: list[dict[str, Any]] = []
        zone_found = False
        for item in self._scan(self.topology_table, "#t IN (:zone, :vm, :space)"):
            zone_found |= item["item_type"] == "ZONE"
            if "context" in item:
                parts.append(json.loads(item["context"]))
            parts += [json.loads(context) for context in item.get("entries", {}).values()]
        if not zone_found:
            return None
        data = merge(parts).model_dump(mode="json")
        named = {a["id"]: a for a in self._scan(self.accounts_table, "begins_with(pk, :account)")}
        for account in data["accounts"]:
            if account["id"] in named:
                account["name"] = named[account["id"]]["name"]
        data["accounts"] += [
            {"id": a["id"], "name": a["name"], "role": a["role"], "domain": a["domain"]}
            for a in named.values()
            if a.get("source") == "topology" and a["id"] not in {x["id"] for x in data["accounts"]}
        ]
        return Topology.model_validate(data)

    @staticmethod
    def _scan(table: Any, condition: str) -> Iterator[dict[str, Any]]:
        values = {":zone": "ZONE", ":vm": "SYSTEMVM", ":space": "SPACE", ":account": "ACCOUNT#"}
        scan: dict[str, Any] = {
            "FilterExpression": condition,
            "ExpressionAttributeValues": {k: v for k, v in values.items() if k in condition},
        }
        if "#t" in condition:
            scan["ExpressionAttributeNames"] = {"#t": "item_type"}
        while True:
            response = table.scan(**scan)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def bastion(self) -> Host:
        """The bastion host with its SSH endpoint and pinned host key (one GetItem on the zone item)."""
        item = self.topology_table.get_item(
            Key=ZONE_KEY, ProjectionExpression="#bastion", ExpressionAttributeNames={"#bastion": "bastion"}
        ).get("Item")
        if item is None:
            raise LookupError("the topology table holds no zone")
        if "bastion" not in item:
            raise LookupError("the loaded topology has no bastion host")
        return Host.model_validate_json(item["bastion"])

    def _query_all(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Follow pagination (one page, hence one call, under 1 MB of items)."""
        while True:
            response = self.topology_table.query(**query)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            query = {**query, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    # -- accounts ------------------------------------------------------------------------------------

    def account_by_api_key(self, api_key: str) -> Account | None:
        """The account owning ``api_key``, or None: one GetItem keyed by the key's SHA-256."""
        if not api_key:
            return None
        key_hash = hash_api_key(api_key)
        item = self.accounts_table.get_item(Key=api_key_item_key(key_hash), ConsistentRead=True).get("Item")
        if item is None or not api_key_matches(api_key, item["key_hash"]):
            return None
        return Account(
            id=item["account_id"],
            name=item["name"],
            role=Role(item["role"]),
            domain=item["domain"],
            api_key_hashes=(item["key_hash"],),
        )

    def account(self, account_id: str) -> Account | None:
        """An account by id (one GetItem), for issuing keys to accounts the topology loaded."""
        item = self.accounts_table.get_item(Key=account_key(account_id)).get("Item")
        if item is None:
            return None
        return Account(id=item["id"], name=item["name"], role=Role(item["role"]), domain=item["domain"])

    def put_account(self, account: Account, api_key: str | None = None) -> None:
        """Write an account and, when given, one API key for it (stored only as its hash).

        An account the loader wrote keeps its ``source`` (so it is still pruned with the topology);
        one that exists only through this call is marked ``api`` and the loader leaves it alone.
        """
        if api_key is not None:
            check_api_key_strength(api_key)
        self.accounts_table.update_item(
            Key=account_key(account.id),
            UpdateExpression="SET #id = :id, #name = :name, #role = :role, #domain = :domain, "
            "#source = if_not_exists(#source, :source)",
            ExpressionAttributeNames={
                "#id": "id",
                "#name": "name",
                "#role": "role",
                "#domain": "domain",
                "#source": "source",
            },
            ExpressionAttributeValues={
                ":id": account.id,
                ":name": account.name,
                ":role": account.role.value,
                ":domain": account.domain,
                ":source": "api",
            },
        )
        if api_key is not None:
            self.accounts_table.put_item(Item=api_key_item(account, hash_api_key(api_key)))

    def revoke_api_key(self, api_key_hash: str) -> None:
        """Delete one key by its hash (the clear key is never stored, so revocation goes by hash)."""
        self.accounts_table.delete_item(Key=api_key_item_key(api_key_hash))

    def api_key_hashes(self, account_id: str) -> list[str]:
        """Hashes of an account's bearer keys (Query on ``by_account``, every page). The index also
        holds the account's CloudStack key pairs (``KEYPAIR#``, :mod:`sysvmdiag.keypairs`): not these."""
        query: dict[str, Any] = {
            "IndexName": BY_ACCOUNT_INDEX,
            "KeyConditionExpression": Key("account_id").eq(account_id),
        }
        hashes: list[str] = []
        while True:
            response = self.accounts_table.query(**query)
            hashes += [
                item["pk"].removeprefix("KEY#") for item in response["Items"] if item["pk"].startswith("KEY#")
            ]
            if "LastEvaluatedKey" not in response:
                return hashes
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def account_item(account: Account, source: str) -> dict[str, Any]:
    """An account item; ``source`` tells topology-loaded accounts (pruned by the loader) from others."""
    return {
        **account_key(account.id),
        "id": account.id,
        "name": account.name,
        "role": account.role.value,
        "domain": account.domain,
        "source": source,
    }


def api_key_item(account: Account, api_key_hash: str) -> dict[str, Any]:
    """A key item repeating the account's fields, so resolving a key needs no second read."""
    return {
        **api_key_item_key(api_key_hash),
        "key_hash": api_key_hash,
        "account_id": account.id,
        "name": account.name,
        "role": account.role.value,
        "domain": account.domain,
    }
