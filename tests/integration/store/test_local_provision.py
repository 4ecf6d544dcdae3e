"""The local stack's provisioning on moto's server: a KMS key for key pairs, one CloudStack key pair per
demo account in server.json's accounts, and the key id handed to in-process callers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from sysvmdiag.keypairs import KeyPairStore, SecretCache
from sysvmdiag.local import server
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE
from tests.conftest import aim_boto3_at


def test_provision_issues_a_key_pair_per_demo_account(
    moto_server: Any,
    lab_status_without_lab: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aim_boto3_at(moto_server, monkeypatch)
    suffix = uuid.uuid4().hex[:8]
    for var, name in server.TABLES.items():
        monkeypatch.setenv(var, f"{name}-{suffix}")
    monkeypatch.setattr(server, "SSH_KEY_SECRET_ID", f"sysvmdiag/ssh-private-key-{suffix}")
    monkeypatch.setenv("CLOUDSTACK_KEYS_KMS_KEY_ID", "")  # restored after the test: provision sets it
    key_file = tmp_path / "id_ed25519"
    key_file.write_text("not a key: provision only stores it")
    lab_status = {
        **lab_status_without_lab,
        "topology": str(DEFAULT_TOPOLOGY_FILE),
        "private_key": str(key_file),
    }

    provisioned = server.provision(lab_status, 3456)

    key_id = provisioned["cloudstackKeysKmsKeyId"]
    assert os.environ["CLOUDSTACK_KEYS_KMS_KEY_ID"] == key_id
    kms = boto3.client("kms")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "sysvmdiag CloudStack key pairs"
    accounts = boto3.resource("dynamodb").Table(os.environ["ACCOUNTS_TABLE"])
    keypairs = KeyPairStore(accounts, kms, None, cache=SecretCache())
    assert [a["name"] for a in provisioned["accounts"]] == list(server.DEMO_ACCOUNTS)
    for entry in provisioned["accounts"]:
        cloudstack = entry["cloudstack"]
        assert cloudstack["endpoint"] == "http://127.0.0.1:3456/client/api"
        resolved = keypairs.resolve(cloudstack["apiKey"])
        assert resolved is not None
        assert (resolved[0].id, resolved[1]) == (entry["id"], cloudstack["secretKey"])

    monkeypatch.setenv("CLOUDSTACK_KEYS_KMS_KEY_ID", "")
    status = {
        "awsEndpointUrl": moto_server.endpoint_url,
        "jobsQueueUrl": "q",
        "jobsDeadLetterQueueUrl": "dlq",
        "resultsTopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "cloudstackKeysKmsKeyId": key_id,
    }
    saved = dict(os.environ)
    try:
        server.configure_from_status(status)
        assert os.environ["CLOUDSTACK_KEYS_KMS_KEY_ID"] == key_id
    finally:
        os.environ.clear()
        os.environ.update(saved)
