"""``sysvmdiag accounts issue-keypair | revoke-keypair``: accounts' CloudStack key pairs.

A key pair's secret key is printed once, when issued; the accounts table holds it only as KMS
ciphertext (:mod:`sysvmdiag.keypairs`). Tables and endpoint come from the environment as for the other
``accounts`` verbs; the KMS key from CLOUDSTACK_KEYS_KMS_KEY_ID or ``--kms-key-id``.
"""

from __future__ import annotations

import argparse
import json
import sys

from sysvmdiag import bootstrap
from sysvmdiag.keypairs import KeyPairConfigError, KeyPairStore

SHOWN_ONCE = "the secret key is shown only now; the accounts table holds it encrypted with KMS"


def keypair_store(args: argparse.Namespace) -> KeyPairStore | None:
    """The key pair store on ``--endpoint-url`` (DynamoDB and KMS) or boto3's default endpoints."""
    import boto3

    from sysvmdiag.cli.accounts import settings_or_none

    settings = settings_or_none()
    if settings is None:
        return None
    if getattr(args, "kms_key_id", None):
        settings = settings.model_copy(update={"cloudstack_keys_kms_key_id": args.kms_key_id})
    return bootstrap.keypair_store(
        settings,
        boto3.resource("dynamodb", endpoint_url=args.endpoint_url),
        boto3.client("kms", endpoint_url=args.endpoint_url),
    )


def _cmd_issue(args: argparse.Namespace) -> int:
    from sysvmdiag.cli.accounts import topology_store

    store, keypairs = topology_store(args), keypair_store(args)
    if store is None or keypairs is None:
        return 2
    account = store.account(args.account)
    if account is None:
        print(f"no account {args.account!r} in the accounts table (load the topology first)", file=sys.stderr)
        return 2
    try:
        pair = keypairs.issue(account)
    except KeyPairConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"accountId": account.id, "apiKey": pair.api_key, "secretKey": pair.secret_key}))
    else:
        print(f"account   {account.id}\napiKey    {pair.api_key}\nsecretKey {pair.secret_key}")
    print(SHOWN_ONCE, file=sys.stderr)
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    keypairs = keypair_store(args)
    if keypairs is None:
        return 2
    if args.api_key:
        found = keypairs.revoke(args.api_key)
        print(json.dumps({"revoked": 1 if found else 0}))
        if not found:
            print("no such key pair", file=sys.stderr)
        return 0 if found else 1
    print(json.dumps({"accountId": args.account, "revoked": keypairs.revoke_account(args.account)}))
    return 0


def register_verbs(verbs: argparse._SubParsersAction, endpoint_option: dict) -> None:
    """The key pair verbs under ``sysvmdiag accounts``."""
    issue = verbs.add_parser("issue-keypair", help="issue a CloudStack key pair (secret printed once)")
    issue.add_argument("--account", required=True, help="account id, e.g. acct-alice")
    issue.add_argument("--json", action="store_true", help="print {accountId, apiKey, secretKey}")
    issue.add_argument(
        "--kms-key-id", help="KMS key sealing secret keys (default: $CLOUDSTACK_KEYS_KMS_KEY_ID)"
    )
    issue.set_defaults(func=_cmd_issue)
    revoke = verbs.add_parser("revoke-keypair", help="revoke one key pair, or all of an account's")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--api-key", help="the key pair's api key (--api-key=KEY when it starts with -)")
    which.add_argument("--account", help="revoke every key pair of this account")
    revoke.set_defaults(func=_cmd_revoke)
    for verb in (issue, revoke):
        verb.add_argument("--endpoint-url", **endpoint_option)
