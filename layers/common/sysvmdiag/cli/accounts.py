"""``sysvmdiag accounts``: issue, list and revoke API keys of accounts in the accounts table.

Keys are shown once, when issued; only their SHA-256 is stored. Table names and endpoint come
from the environment (ACCOUNTS_TABLE, AWS_ENDPOINT_URL), as for ``topology load``. The CloudStack key
pair verbs (``issue-keypair``, ``revoke-keypair``) are in :mod:`sysvmdiag.cli.keypairs`.
"""

from __future__ import annotations

import argparse
import json
import sys

from sysvmdiag import bootstrap
from sysvmdiag.accounts import generate_api_key, hash_api_key
from sysvmdiag.config import Settings, SettingsError
from sysvmdiag.topology.store import TopologyStore


def settings_or_none() -> Settings | None:
    """The environment's settings, or None after printing what is wrong with them."""
    try:
        return Settings.from_env()
    except SettingsError as err:
        print(err, file=sys.stderr)
        return None


def topology_store(args: argparse.Namespace) -> TopologyStore | None:
    import boto3

    settings = settings_or_none()
    if settings is None:
        return None
    return bootstrap.topology_store(settings, boto3.resource("dynamodb", endpoint_url=args.endpoint_url))


def _cmd_issue(args: argparse.Namespace) -> int:
    store = topology_store(args)
    if store is None:
        return 2
    account = store.account(args.account)
    if account is None:
        print(f"no account {args.account!r} in the accounts table (load the topology first)", file=sys.stderr)
        return 2
    api_key = generate_api_key()
    store.put_account(account, api_key)
    print(
        json.dumps(
            {
                "accountId": account.id,
                "role": account.role.value,
                "apiKey": api_key,
                "keyHash": hash_api_key(api_key),
            },
            indent=2,
        )
    )
    print("the key is shown once; only its hash is stored", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    store = topology_store(args)
    if store is None:
        return 2
    from sysvmdiag.cli.keypairs import keypair_store

    keypairs = keypair_store(args)
    if keypairs is None:
        return 2
    listed = {
        "accountId": args.account,
        "keyHashes": store.api_key_hashes(args.account),
        "keyPairApiKeys": keypairs.api_keys(args.account),
    }
    print(json.dumps(listed, indent=2))
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    store = topology_store(args)
    if store is None:
        return 2
    store.revoke_api_key(args.key_hash)
    print(json.dumps({"revoked": args.key_hash}))
    return 0


_ENDPOINT = {"help": "DynamoDB (and KMS) endpoint (default: boto3's, e.g. $AWS_ENDPOINT_URL)"}


def register(subparsers: argparse._SubParsersAction) -> None:
    from sysvmdiag.cli.keypairs import register_verbs

    accounts = subparsers.add_parser(
        "accounts", help="API keys and CloudStack key pairs of accounts (issue, list, revoke)"
    )
    verbs = accounts.add_subparsers(dest="accounts_command", required=True)
    for name, func, text in (
        ("issue-key", _cmd_issue, "issue a new API key for an account (printed once)"),
        ("list-keys", _cmd_list, "list the hashes of an account's keys and its key pairs' api keys"),
        ("revoke-key", _cmd_revoke, "revoke a key by its hash"),
    ):
        verb = verbs.add_parser(name, help=text)
        if name == "revoke-key":
            verb.add_argument("--key-hash", required=True, help="the key's SHA-256 (from list-keys)")
        else:
            verb.add_argument("--account", required=True, help="account id, e.g. acct-alice")
        verb.add_argument("--endpoint-url", **_ENDPOINT)
        verb.set_defaults(func=func)
    register_verbs(verbs, _ENDPOINT)
