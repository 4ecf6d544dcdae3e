"""CloudStack key pairs on moto's server: KMS sealing bound to the item, resolve/revoke, the decryption
cache, what shares the ``by_account`` index with them, the loader's pruning, and the CLI verbs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sysvmdiag import bootstrap
from sysvmdiag.accounts import generate_api_key, hash_api_key
from sysvmdiag.cli import main as cli_main
from sysvmdiag.config import Settings
from sysvmdiag.keypairs import KeyPairConfigError, KeyPairStore, SecretCache, encryption_context
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Role, Topology
from sysvmdiag.topology.store import TopologyStore
from tests.conftest import aim_boto3_at
from tests.integration.store.helpers import DynamoCallCounter, all_items, shrunk_topology


@pytest.fixture(scope="module")
def kms(moto_server: Any) -> Any:
    return boto3.client("kms", endpoint_url=moto_server.endpoint_url, region_name="us-east-1")


@pytest.fixture(scope="module")
def kms_key_id(kms: Any) -> str:
    return kms.create_key(Description="sysvmdiag CloudStack key pairs (tests)")["KeyMetadata"]["KeyId"]


@pytest.fixture
def keypairs(store: TopologyStore, kms: Any, kms_key_id: str) -> KeyPairStore:
    return KeyPairStore(store.accounts_table, kms, kms_key_id, cache=SecretCache())


class KmsCallCounter(DynamoCallCounter):
    def __enter__(self) -> KmsCallCounter:
        self.client.meta.events.register("before-call.kms.*", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-call.kms.*", self._count)


def _item(store: TopologyStore, api_key: str) -> dict[str, Any]:
    return store.accounts_table.get_item(Key={"pk": f"KEYPAIR#{hash_api_key(api_key)}"})["Item"]


def test_issue_resolve_revoke(store: TopologyStore, topology: Topology, keypairs: KeyPairStore) -> None:
    load_topology_into_tables(topology, store)
    pair = keypairs.issue(topology.account("acme-admin"))
    item = _item(store, pair.api_key)
    assert pair.secret_key not in json.dumps(all_items(store.accounts_table), default=repr)
    assert item["api_key"] == pair.api_key and item["account_id"] == "acct-acme-admin"
    with DynamoCallCounter(store.accounts_table.meta.client) as counter:
        resolved = keypairs.resolve(pair.api_key)
    assert counter.operations == ["GetItem"]
    assert resolved is not None
    account, secret = resolved
    assert (account.id, account.role, account.domain, secret) == (
        "acct-acme-admin",
        Role.DOMAIN_ADMIN,
        "ROOT/acme",
        pair.secret_key,
    )
    assert keypairs.api_keys("acct-acme-admin") == [pair.api_key]
    assert keypairs.revoke(pair.api_key) is True
    assert keypairs.resolve(pair.api_key) is None
    assert keypairs.revoke(pair.api_key) is False
    assert keypairs.resolve(pair.api_key[:-1]) is None


def test_kms_refuses_the_ciphertext_under_another_context(
    store: TopologyStore, topology: Topology, keypairs: KeyPairStore, kms: Any
) -> None:
    alice, bob = keypairs.issue(topology.account("alice")), keypairs.issue(topology.account("bob"))
    blob = bytes(_item(store, alice.api_key)["secret_ciphertext"].value)
    right = encryption_context(hash_api_key(alice.api_key), "acct-alice")
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=right)["Plaintext"] == alice.secret_key.encode()
    for wrong in (
        encryption_context(hash_api_key(bob.api_key), "acct-alice"),
        encryption_context(hash_api_key(alice.api_key), "acct-bob"),
        {},
    ):
        with pytest.raises(ClientError) as refused:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"
    # alice's ciphertext copied into bob's item (with alice's secret cached) resolves to nothing
    assert keypairs.resolve(alice.api_key) is not None
    store.accounts_table.update_item(
        Key={"pk": f"KEYPAIR#{hash_api_key(bob.api_key)}"},
        UpdateExpression="SET secret_ciphertext = :c",
        ExpressionAttributeValues={":c": blob},
    )
    assert keypairs.resolve(bob.api_key) is None


def test_the_cache_spares_kms_but_not_the_revocation_check(
    store: TopologyStore, topology: Topology, keypairs: KeyPairStore, kms: Any
) -> None:
    pair = keypairs.issue(topology.account("carol"))
    with KmsCallCounter(kms) as counter:
        for _ in range(3):
            assert keypairs.resolve(pair.api_key) is not None
    assert counter.operations == ["Decrypt"]
    assert keypairs.revoke(pair.api_key)
    with KmsCallCounter(kms) as counter:
        assert keypairs.resolve(pair.api_key) is None
    assert counter.operations == []


def test_revoke_account_and_bearer_keys_share_the_index(
    store: TopologyStore, topology: Topology, keypairs: KeyPairStore
) -> None:
    dave = topology.account("dave")
    bearer = generate_api_key()
    store.put_account(dave, bearer)
    pairs = [keypairs.issue(dave), keypairs.issue(dave)]
    other = keypairs.issue(topology.account("erin"))
    assert store.api_key_hashes("acct-dave") == [hash_api_key(bearer)]  # bearer keys only
    assert keypairs.api_keys("acct-dave") == sorted(p.api_key for p in pairs)
    assert keypairs.revoke_account("acct-dave") == 2
    assert all(keypairs.resolve(p.api_key) is None for p in pairs)
    assert store.account_by_api_key(bearer) is not None  # the bearer key stays
    assert keypairs.resolve(other.api_key) is not None
    assert keypairs.revoke_account("acct-dave") == 0


def test_the_loader_prunes_a_vanished_accounts_key_pairs_and_refreshes_the_others(
    store: TopologyStore, topology: Topology, keypairs: KeyPairStore
) -> None:
    load_topology_into_tables(topology, store)
    carol = keypairs.issue(topology.account("carol"))
    alice = keypairs.issue(topology.account("alice"))
    data = shrunk_topology(topology).model_dump(mode="json")  # carol is gone
    for account in data["accounts"]:
        if account["id"] == "acct-alice":
            account.update(role="domain_admin", domain="ROOT/acme")
    report = load_topology_into_tables(Topology.model_validate(data), store)
    assert report.removed_accounts == 1
    assert keypairs.resolve(carol.api_key) is None
    assert not any(
        i["pk"].startswith("KEYPAIR#") and i["account_id"] == "acct-carol"
        for i in all_items(store.accounts_table)
    )
    resolved = keypairs.resolve(alice.api_key)
    assert resolved is not None
    assert (resolved[0].role, resolved[0].domain, resolved[1]) == (
        Role.DOMAIN_ADMIN,
        "ROOT/acme",
        alice.secret_key,
    )


def test_the_composition_root_builds_the_store_from_settings(
    store: TopologyStore, topology: Topology, kms: Any, kms_key_id: str, dynamodb: Any
) -> None:
    names = {"TOPOLOGY_TABLE": store.topology_table.name, "ACCOUNTS_TABLE": store.accounts_table.name}
    built = bootstrap.keypair_store(
        Settings.from_env({**names, "CLOUDSTACK_KEYS_KMS_KEY_ID": kms_key_id}), dynamodb, kms
    )
    pair = built.issue(topology.account("bob"))
    assert built.resolve(pair.api_key) is not None
    unset = bootstrap.keypair_store(Settings.from_env(names), dynamodb, kms)
    with pytest.raises(KeyPairConfigError):
        unset.issue(topology.account("bob"))


def test_cli_issue_list_and_revoke_key_pairs(
    store: TopologyStore,
    topology: Topology,
    moto_server: Any,
    kms: Any,
    kms_key_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_topology_into_tables(topology, store)
    aim_boto3_at(moto_server, monkeypatch)
    monkeypatch.setenv("TOPOLOGY_TABLE", store.topology_table.name)
    monkeypatch.setenv("ACCOUNTS_TABLE", store.accounts_table.name)
    monkeypatch.delenv("CLOUDSTACK_KEYS_KMS_KEY_ID", raising=False)
    keypairs = KeyPairStore(store.accounts_table, kms, None, cache=SecretCache())

    assert cli_main(["accounts", "issue-keypair", "--account", "acct-bob"]) == 2
    assert "CLOUDSTACK_KEYS_KMS_KEY_ID" in capsys.readouterr().err

    argv = ["accounts", "issue-keypair", "--account", "acct-bob", "--json", "--kms-key-id", kms_key_id]
    assert cli_main(argv) == 0
    out, err = capsys.readouterr()
    issued = json.loads(out)
    assert "shown only now" in err and issued["secretKey"] not in err
    resolved = keypairs.resolve(issued["apiKey"])
    assert resolved is not None and resolved[0].id == "acct-bob" and resolved[1] == issued["secretKey"]

    monkeypatch.setenv("CLOUDSTACK_KEYS_KMS_KEY_ID", kms_key_id)
    assert cli_main(["accounts", "issue-keypair", "--account", "acct-bob"]) == 0
    plain = capsys.readouterr().out
    second = next(line.split()[1] for line in plain.splitlines() if line.startswith("apiKey"))
    assert "secretKey" in plain and keypairs.resolve(second) is not None
    assert cli_main(["accounts", "issue-keypair", "--account", "acct-nobody"]) == 2
    capsys.readouterr()

    bearer = generate_api_key()
    store.put_account(topology.account("bob"), bearer)
    assert cli_main(["accounts", "list-keys", "--account", "acct-bob"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["keyHashes"] == [hash_api_key(bearer)]
    assert listed["keyPairApiKeys"] == sorted([issued["apiKey"], second])

    assert cli_main(["accounts", "revoke-keypair", f"--api-key={issued['apiKey']}"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": 1}
    assert keypairs.resolve(issued["apiKey"]) is None
    assert cli_main(["accounts", "revoke-keypair", f"--api-key={issued['apiKey']}"]) == 1
    capsys.readouterr()
    assert cli_main(["accounts", "revoke-keypair", "--account", "acct-bob"]) == 0
    assert json.loads(capsys.readouterr().out) == {"accountId": "acct-bob", "revoked": 1}
    assert keypairs.api_keys("acct-bob") == [] and store.account_by_api_key(bearer) is not None
