"""CloudStack API key pairs of accounts: the api key in the clear, the secret key sealed with KMS.

CloudStack's signed requests carry an HMAC-SHA1 of the request made with the account's secret key, and
checking one needs the clear secret: unlike a bearer key (:mod:`sysvmdiag.accounts`), a secret key cannot
be stored as a hash. So the accounts table holds it only as KMS ciphertext, made with an encryption
context naming its item (the api key's hash and the account), so a ciphertext copied into another item
does not decrypt there. Only the function that checks signatures needs ``kms:Decrypt``.

Items sit in the accounts table beside the bearer keys, keyed like them by the api key's SHA-256
(``KEYPAIR#<hex>``) and repeating the account's fields, so one GetItem resolves a caller; they carry
``account_id``, hence show in the ``by_account`` GSI with the account's bearer keys.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from sysvmdiag.accounts import api_key_matches, hash_api_key
from sysvmdiag.topology.model import Account, Role
from sysvmdiag.topology.store import BY_ACCOUNT_INDEX

KEYPAIR_PREFIX = "KEYPAIR#"
# What CloudStack's own keys look like: 64 random bytes, 86 URL-safe characters.
KEYPAIR_TOKEN_BYTES = 64
ENCRYPTION_PURPOSE = "sysvmdiag-cloudstack-keypair"
CACHE_ENTRIES = 256
CACHE_TTL_SECONDS = 300.0


class KeyPairConfigError(RuntimeError):
    """Key pairs cannot be issued: no KMS key is configured (CLOUDSTACK_KEYS_KMS_KEY_ID)."""


@dataclass(frozen=True)
class KeyPair:
    """A key pair as issued (the only time the secret key is seen outside KMS) or resolved."""

    api_key: str
    secret_key: str = field(repr=False)  # never in a repr, hence never in a log line by accident
    account_id: str


def keypair_item_key(api_key_hash: str) -> dict[str, str]:
    return {"pk": f"{KEYPAIR_PREFIX}{api_key_hash}"}


def is_keypair_item(pk: str) -> bool:
    return pk.startswith(KEYPAIR_PREFIX)


def encryption_context(api_key_hash: str, account_id: str) -> dict[str, str]:
    """What binds a ciphertext to its item: KMS refuses to decrypt it under any other context."""
    return {"purpose": ENCRYPTION_PURPOSE, "apiKeyHash": api_key_hash, "accountId": account_id}


def refreshed_keypair_item(item: dict[str, Any], account: Account) -> dict[str, Any]:
    """A key pair item with the account's current name, role and domain (the ciphertext is unchanged:
    its context names only the key and the account id)."""
    return {**item, "name": account.name, "role": account.role.value, "domain": account.domain}


class SecretCache:
    """Clear secrets by a digest of ciphertext and context: bounded (least recently used goes first)
    and each entry kept ``ttl`` seconds, so a warm Lambda calls KMS once per key pair and five minutes.

    Only decryption is cached; the item is read on every call, so a revoked key is refused at once.
    """

    def __init__(
        self,
        max_entries: int = CACHE_ENTRIES,
        ttl: float = CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> str | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def put(self, digest: str, secret: str) -> None:
        with self._lock:
            self._entries[digest] = (self.clock() + self.ttl, secret)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# One per process: stores built per request still share what a warm instance has decrypted.
PROCESS_CACHE = SecretCache()


def cache_digest(ciphertext: bytes, context: dict[str, str]) -> str:
    """The ciphertext's digest together with its context: a ciphertext moved to another item is not
    found under the new item's context, so it goes to KMS, which refuses it."""
    digest = hashlib.sha256(ciphertext)
    digest.update(json.dumps(context, sort_keys=True).encode())
    return digest.hexdigest()


class KeyPairStore:
    """Issue, resolve and revoke key pairs in the accounts table (boto3 Table) with a KMS client."""

    def __init__(
        self,
        accounts_table: Any,
        kms_client: Any,
        kms_key_id: str | None,
        *,
        cache: SecretCache | None = None,
    ) -> None:
        self.accounts_table = accounts_table
        self.kms = kms_client
        self.kms_key_id = kms_key_id
        self.cache = PROCESS_CACHE if cache is None else cache

    def issue(self, account: Account) -> KeyPair:
        """A new key pair for ``account``; the secret key leaves this call only in the result."""
        if not self.kms_key_id:
            raise KeyPairConfigError(
                "no KMS key for CloudStack key pairs: set CLOUDSTACK_KEYS_KMS_KEY_ID (or --kms-key-id)"
            )
        api_key = secrets.token_urlsafe(KEYPAIR_TOKEN_BYTES)
        secret_key = secrets.token_urlsafe(KEYPAIR_TOKEN_BYTES)
        key_hash = hash_api_key(api_key)
        ciphertext = self.kms.encrypt(
            KeyId=self.kms_key_id,
            Plaintext=secret_key.encode(),
            EncryptionContext=encryption_context(key_hash, account.id),
        )["CiphertextBlob"]
        self.accounts_table.put_item(
            Item={
                **keypair_item_key(key_hash),
                "key_hash": key_hash,
                "api_key": api_key,
                "account_id": account.id,
                "name": account.name,
                "role": account.role.value,
                "domain": account.domain,
                "secret_ciphertext": ciphertext,
                "kms_key_id": self.kms_key_id,
                "created_at": int(time.time()),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return KeyPair(api_key=api_key, secret_key=secret_key, account_id=account.id)

    def resolve(self, api_key: str) -> tuple[Account, str] | None:
        """The account and clear secret key of ``api_key``, or None (unknown, revoked, or a ciphertext
        that does not belong to its item). One consistent GetItem every call; KMS only on a cache miss."""
        if not api_key:
            return None
        key_hash = hash_api_key(api_key)
        item = self.accounts_table.get_item(Key=keypair_item_key(key_hash), ConsistentRead=True).get("Item")
        if item is None or not api_key_matches(api_key, item["key_hash"]):
            return None
        secret = self._secret(
            bytes(item["secret_ciphertext"]), encryption_context(key_hash, item["account_id"])
        )
        if secret is None:
            return None
        account = Account(
            id=item["account_id"], name=item["name"], role=Role(item["role"]), domain=item["domain"]
        )
        return account, secret

    def _secret(self, ciphertext: bytes, context: dict[str, str]) -> str | None:
        digest = cache_digest(ciphertext, context)
        secret = self.cache.get(digest)
        if secret is not None:
            return secret
        try:
            plaintext = self.kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)["Plaintext"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "InvalidCiphertextException":
                return None  # not this item's ciphertext: refused like an unknown key
            raise
        secret = plaintext.decode()
        self.cache.put(digest, secret)
        return secret

    def revoke(self, api_key: str) -> bool:
        """Delete one key pair; True if it existed."""
        old = self.accounts_table.delete_item(
            Key=keypair_item_key(hash_api_key(api_key)), ReturnValues="ALL_OLD"
        ).get("Attributes")
        return old is not None

    def revoke_account(self, account_id: str) -> int:
        """Delete every key pair of an account; how many there were."""
        pks = [pk for pk in self._account_pks(account_id) if is_keypair_item(pk)]
        for pk in pks:
            self.accounts_table.delete_item(Key={"pk": pk})
        return len(pks)

    def api_keys(self, account_id: str) -> list[str]:
        """The account's api keys (not secret: CloudStack shows them too), one GetItem each."""
        keys = []
        for pk in self._account_pks(account_id):
            if not is_keypair_item(pk):
                continue
            item = self.accounts_table.get_item(Key={"pk": pk}, ConsistentRead=True).get("Item")
            if item is not None:
                keys.append(item["api_key"])
        return sorted(keys)

    def _account_pks(self, account_id: str) -> Iterator[str]:
        """Keys of the account's key items, bearer and pair (a Query on ``by_account``, all pages)."""
        query: dict[str, Any] = {
            "IndexName": BY_ACCOUNT_INDEX,
            "KeyConditionExpression": Key("account_id").eq(account_id),
        }
        while True:
            response = self.accounts_table.query(**query)
            yield from (item["pk"] for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
