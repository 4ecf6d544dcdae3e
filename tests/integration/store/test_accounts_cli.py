"""``sysvmdiag accounts``: issue, list and revoke keys, end to end on moto's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import boto3

from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology
from sysvmdiag.topology.store import TopologyStore, create_tables


def test_issue_list_and_revoke_a_key(moto_server):
    suffix = uuid.uuid4().hex[:8]
    names = {"TOPOLOGY_TABLE": f"topo-{suffix}", "ACCOUNTS_TABLE": f"acct-{suffix}"}
    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_server.endpoint_url)
    create_tables(dynamodb, names)
    store = TopologyStore(dynamodb.Table(names["TOPOLOGY_TABLE"]), dynamodb.Table(names["ACCOUNTS_TABLE"]))
    load_topology_into_tables(load_topology(DEFAULT_TOPOLOGY_FILE), store)
    env = {**os.environ, **names, "AWS_ENDPOINT_URL": moto_server.endpoint_url}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sysvmdiag.cli", "accounts", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    issued = cli("issue-key", "--account", "acct-bob")
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)
    account = store.account_by_api_key(key["apiKey"])
    assert account is not None and account.id == "acct-bob" and account.role.value == "user"

    listed = json.loads(cli("list-keys", "--account", "acct-bob").stdout)
    assert listed["keyHashes"] == [key["keyHash"]]

    assert cli("revoke-key", "--key-hash", key["keyHash"]).returncode == 0
    assert store.account_by_api_key(key["apiKey"]) is None

    unknown = cli("issue-key", "--account", "acct-nobody")
    assert unknown.returncode == 2 and "no account" in unknown.stderr
