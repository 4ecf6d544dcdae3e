"""CloudStack key pairs on in-memory fakes of the accounts table and KMS: sealing, the decryption
cache (bounded, expiring, bound to the item), revocation, and what the local stack prints."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sysvmdiag.cli.local import _print_status
from sysvmdiag.config import Settings
from sysvmdiag.keypairs import (
    ENCRYPTION_PURPOSE,
    KeyPair,
    KeyPairConfigError,
    KeyPairStore,
    SecretCache,
)
from sysvmdiag.topology.model import Account, Role
from tests.unit.fakes import SecondsClock

ALICE = Account(id="acct-alice", name="alice", role=Role.USER, domain="ROOT/acme")
BOB = Account(id="acct-bob", name="bob", role=Role.USER, domain="ROOT")


class FakeAccountsTable:
    """The calls KeyPairStore makes on a boto3 Table, over a dict; the by_account GSI is a filter."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def put_item(self, Item: dict[str, Any], ConditionExpression: str | None = None) -> None:
        self.calls.append("PutItem")
        assert ConditionExpression is None or Item["pk"] not in self.items
        self.items[Item["pk"]] = dict(Item)

    def get_item(self, Key: dict[str, str], ConsistentRead: bool = False) -> dict[str, Any]:
        self.calls.append("GetItem" if ConsistentRead else "GetItem(eventual)")
        item = self.items.get(Key["pk"])
        return {"Item": dict(item)} if item else {}

    def delete_item(self, Key: dict[str, str], ReturnValues: str = "NONE") -> dict[str, Any]:
        self.calls.append("DeleteItem")
        old = self.items.pop(Key["pk"], None)
        return {"Attributes": old} if old and ReturnValues == "ALL_OLD" else {}

    def query(self, IndexName: str, KeyConditionExpression: Any, **_: Any) -> dict[str, Any]:
        self.calls.append("Query")
        account_id = KeyConditionExpression.get_expression()["values"][1]
        found = [i for i in self.items.values() if i.get("account_id") == account_id]
        return {"Items": [{"pk": i["pk"], "account_id": account_id} for i in found]}


class FakeKms:
    """Encrypt/decrypt bound to the encryption context, as KMS does (a wrong context: InvalidCiphertext)."""

    def __init__(self) -> None:
        self.sealed: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.decrypts = 0

    def encrypt(self, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        blob = hashlib.sha256(Plaintext + KeyId.encode() + str(len(self.sealed)).encode()).digest()
        self.sealed[blob] = (Plaintext, dict(EncryptionContext))
        return {"CiphertextBlob": blob, "KeyId": KeyId}

    def decrypt(self, CiphertextBlob: bytes, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        self.decrypts += 1
        plaintext, context = self.sealed.get(CiphertextBlob, (b"", {}))
        if context != EncryptionContext or not plaintext:
            raise ClientError({"Error": {"Code": "InvalidCiphertextException", "Message": ""}}, "Decrypt")
        return {"Plaintext": plaintext}


@pytest.fixture
def parts() -> tuple[FakeAccountsTable, FakeKms, SecondsClock]:
    return FakeAccountsTable(), FakeKms(), SecondsClock()


@pytest.fixture
def keypairs(parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]) -> KeyPairStore:
    table, kms, clock = parts
    return KeyPairStore(table, kms, "key-1", cache=SecretCache(clock=clock))


def test_issue_stores_the_secret_only_sealed_with_its_items_context(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    table, kms, _ = parts
    pair = keypairs.issue(ALICE)
    assert len(pair.api_key) == len(pair.secret_key) == 86 and pair.api_key != pair.secret_key
    (item,) = table.items.values()
    key_hash = hashlib.sha256(pair.api_key.encode()).hexdigest()
    assert item["pk"] == f"KEYPAIR#{key_hash}" and item["key_hash"] == key_hash
    assert (item["api_key"], item["account_id"], item["name"], item["role"], item["domain"]) == (
        pair.api_key,
        "acct-alice",
        "alice",
        "user",
        "ROOT/acme",
    )
    assert pair.secret_key not in json.dumps(item, default=str)
    _, context = kms.sealed[item["secret_ciphertext"]]
    assert context == {"purpose": ENCRYPTION_PURPOSE, "apiKeyHash": key_hash, "accountId": "acct-alice"}


def test_a_key_pair_never_shows_its_secret_in_a_repr() -> None:
    assert "s3cret" not in repr(KeyPair(api_key="a", secret_key="s3cret", account_id="acct-x"))


def test_issuing_without_a_kms_key_says_which_setting_is_missing(
    parts: tuple[FakeAccountsTable, FakeKms, SecondsClock],
) -> None:
    table, kms, _ = parts
    with pytest.raises(KeyPairConfigError, match="CLOUDSTACK_KEYS_KMS_KEY_ID"):
        KeyPairStore(table, kms, None).issue(ALICE)
    assert table.items == {}


def test_resolve_reads_the_item_every_time_and_decrypts_once(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    table, kms, _ = parts
    pair = keypairs.issue(ALICE)
    table.calls.clear()
    for _ in range(3):
        assert keypairs.resolve(pair.api_key) == (ALICE, pair.secret_key)
    assert table.calls == ["GetItem"] * 3 and kms.decrypts == 1
    assert keypairs.resolve("unknown") is None and keypairs.resolve("") is None


def test_a_revoked_key_is_refused_at_once_though_its_secret_is_cached(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    pair = keypairs.issue(ALICE)
    assert keypairs.resolve(pair.api_key) is not None
    assert keypairs.revoke(pair.api_key) is True
    assert keypairs.resolve(pair.api_key) is None
    assert keypairs.revoke(pair.api_key) is False


def test_a_ciphertext_moved_to_another_item_does_not_decrypt_even_when_cached(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    table, _, _ = parts
    alice, bob = keypairs.issue(ALICE), keypairs.issue(BOB)
    assert keypairs.resolve(alice.api_key) is not None  # alice's secret is now cached
    bob_pk = f"KEYPAIR#{hashlib.sha256(bob.api_key.encode()).hexdigest()}"
    alice_pk = f"KEYPAIR#{hashlib.sha256(alice.api_key.encode()).hexdigest()}"
    table.items[bob_pk]["secret_ciphertext"] = table.items[alice_pk]["secret_ciphertext"]
    assert keypairs.resolve(bob.api_key) is None


def test_the_cache_expires_entries_after_its_ttl(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    _, kms, clock = parts
    pair = keypairs.issue(ALICE)
    keypairs.resolve(pair.api_key)
    clock.now += 299
    keypairs.resolve(pair.api_key)
    assert kms.decrypts == 1
    clock.now += 2
    keypairs.resolve(pair.api_key)
    assert kms.decrypts == 2


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = SecretCache(max_entries=2, clock=SecondsClock())
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # b is now the least recently used
    cache.put("c", "3")
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == ("1", None, "3", 2)


def test_revoke_account_and_api_keys_see_only_that_accounts_key_pairs(
    keypairs: KeyPairStore, parts: tuple[FakeAccountsTable, FakeKms, SecondsClock]
) -> None:
    table, _, _ = parts
    first, second, other = keypairs.issue(ALICE), keypairs.issue(ALICE), keypairs.issue(BOB)
    table.items["KEY#abc"] = {"pk": "KEY#abc", "key_hash": "abc", "account_id": "acct-alice"}  # bearer key
    assert keypairs.api_keys("acct-alice") == sorted([first.api_key, second.api_key])
    assert keypairs.revoke_account("acct-alice") == 2
    assert keypairs.api_keys("acct-alice") == [] and "KEY#abc" in table.items
    assert keypairs.resolve(other.api_key) is not None


def test_settings_read_the_kms_key_id() -> None:
    base = {"TOPOLOGY_TABLE": "topo", "ACCOUNTS_TABLE": "acct"}
    assert Settings.from_env(base).cloudstack_keys_kms_key_id is None
    environ = {**base, "CLOUDSTACK_KEYS_KMS_KEY_ID": "alias/keys"}
    assert Settings.from_env(environ).cloudstack_keys_kms_key_id == "alias/keys"


def test_local_status_without_json_shows_api_keys_never_secret_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloudstack = {"endpoint": "http://127.0.0.1:3000/client/api", "apiKey": "AK-1", "secretKey": "SK-1"}
    account = {
        "name": "alice",
        "role": "user",
        "domain": "ROOT",
        "apiKey": "svmd_x",
        "cloudstack": cloudstack,
    }
    status = {
        "up": True,
        "apiUrl": "http://127.0.0.1:3000",
        "awsEndpointUrl": "http://127.0.0.1:5000",
        "accounts": [account],
        "systemvms": [],
    }
    _print_status(status, as_json=False)
    plain = capsys.readouterr().out
    assert "AK-1" in plain and "SK-1" not in plain
    _print_status(status, as_json=True)
    assert json.loads(capsys.readouterr().out)["accounts"][0]["cloudstack"] == cloudstack
