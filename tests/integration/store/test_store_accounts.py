"""Accounts and API keys in the accounts table: hashed at rest, one GetItem per lookup."""

from __future__ import annotations

import json

import pytest

from sysvmdiag.accounts import api_key_matches, generate_api_key, hash_api_key
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Role, Topology
from sysvmdiag.topology.store import TopologyStore
from tests.integration.store.helpers import DynamoCallCounter, all_items, shrunk_topology


def test_generated_keys_are_long_random_and_hash_to_sha256_hex() -> None:
    keys = {generate_api_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(key) >= 43 for key in keys)
    key = keys.pop()
    digest = hash_api_key(key)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert api_key_matches(key, digest)
    assert not api_key_matches(key + "x", digest)


def test_the_right_key_finds_its_account_in_one_get_item(store: TopologyStore, topology: Topology) -> None:
    load_topology_into_tables(topology, store)
    key = generate_api_key()
    store.put_account(topology.account("acme-admin"), key)
    with DynamoCallCounter(store.accounts_table.meta.client) as counter:
        account = store.account_by_api_key(key)
    assert counter.operations == ["GetItem"]
    assert account is not None
    assert (account.id, account.name, account.role, account.domain) == (
        "acct-acme-admin",
        "acme-admin",
        Role.DOMAIN_ADMIN,
        "ROOT/acme",
    )
    assert account.api_key_hashes == (hash_api_key(key),)


def test_wrong_and_unknown_keys_find_nothing(store: TopologyStore, topology: Topology) -> None:
    load_topology_into_tables(topology, store)
    key = generate_api_key()
    store.put_account(topology.account("bob"), key)
    assert store.account_by_api_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # wrong
    assert store.account_by_api_key(generate_api_key()) is None  # unknown
    assert store.account_by_api_key("") is None
    assert store.account_by_api_key(key) is not None


def test_keys_are_stored_only_as_hashes(store: TopologyStore, topology: Topology) -> None:
    key = generate_api_key()
    store.put_account(topology.account("carol"), key)
    items = all_items(store.accounts_table)
    assert key not in json.dumps(items, default=str)
    assert {"pk": f"KEY#{hash_api_key(key)}"}.items() <= next(
        item for item in items if item["pk"].startswith("KEY#")
    ).items()


def test_short_keys_are_refused(store: TopologyStore, topology: Topology) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        store.put_account(topology.account("alice"), "too-short")
    assert all_items(store.accounts_table) == []


def test_topology_accounts_are_loaded_without_keys(store: TopologyStore, topology: Topology) -> None:
    load_topology_into_tables(topology, store)
    items = all_items(store.accounts_table)
    assert {item["id"] for item in items} == {a.id for a in topology.accounts}
    assert not any(item["pk"].startswith("KEY#") for item in items)
    assert store.api_key_hashes("acct-alice") == []


def test_a_role_change_in_the_topology_reaches_existing_keys(
    store: TopologyStore, topology: Topology
) -> None:
    load_topology_into_tables(topology, store)
    key = generate_api_key()
    store.put_account(topology.account("alice"), key)
    data = topology.model_dump(mode="json")
    for account in data["accounts"]:
        if account["id"] == "acct-alice":
            account.update(role="domain_admin", domain="ROOT/acme")
    load_topology_into_tables(Topology.model_validate(data), store)
    account = store.account_by_api_key(key)
    assert account is not None
    assert (account.role, account.domain) == (Role.DOMAIN_ADMIN, "ROOT/acme")


def test_a_second_key_and_revocation(store: TopologyStore, topology: Topology) -> None:
    first, second = generate_api_key(), generate_api_key()
    store.put_account(topology.account("alice"), first)
    store.put_account(topology.account("alice"), second)
    assert sorted(store.api_key_hashes("acct-alice")) == sorted([hash_api_key(first), hash_api_key(second)])
    store.revoke_api_key(hash_api_key(first))
    assert store.account_by_api_key(first) is None
    assert store.account_by_api_key(second) is not None


def test_accounts_added_through_the_api_survive_a_smaller_topology(
    store: TopologyStore, topology: Topology
) -> None:
    store.put_account(topology.account("carol"), generate_api_key())  # before any load: source "api"
    report = load_topology_into_tables(shrunk_topology(topology), store)
    assert report.removed_accounts == 0
    assert store.accounts_table.get_item(Key={"pk": "ACCOUNT#acct-carol"})["Item"]["source"] == "api"
