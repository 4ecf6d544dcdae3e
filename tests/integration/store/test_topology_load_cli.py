"""``sysvmdiag topology load`` as a user runs it, against moto's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Topology
from sysvmdiag.topology.store import TopologyStore

SYSVMDIAG = Path(sys.executable).parent / "sysvmdiag"


def run_load(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not SYSVMDIAG.exists():
        pytest.fail(f"{SYSVMDIAG} is missing: install the repo into the venv (make deps)")
    return subprocess.run(
        [str(SYSVMDIAG), "topology", "load", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def table_env(moto_server: Any) -> dict[str, str]:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env.update(
        TOPOLOGY_TABLE=f"{prefix}-topology",
        ACCOUNTS_TABLE=f"{prefix}-accounts",
        JOBS_TABLE=f"{prefix}-jobs",
        AUDIT_TABLE=f"{prefix}-audit",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


def test_load_with_lab_status_file_and_endpoint_flag(
    moto_server: Any, dynamodb: Any, topology: Topology, lab_status_without_lab: dict, tmp_path: Path
) -> None:
    env = table_env(moto_server)
    status_file = tmp_path / "status.json"
    status_file.write_text(json.dumps(lab_status_without_lab))
    args = [
        "--topology",
        str(DEFAULT_TOPOLOGY_FILE),
        "--lab-status",
        str(status_file),
        "--endpoint-url",
        moto_server.endpoint_url,
        "--create-tables",
    ]
    result = run_load(args, env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["system_vms"], report["networks"], report["accounts"]) == (8, 19, 8)

    store = TopologyStore(dynamodb.Table(env["TOPOLOGY_TABLE"]), dynamodb.Table(env["ACCOUNTS_TABLE"]))
    vr = topology.system_vm("vr")
    context = store.decision_context(vr.uuid or "", "198.51.100.80")
    assert context is not None
    ssh = context.system_vm("vr").ssh
    assert ssh is not None and ssh.host_key == lab_status_without_lab["hosts"]["vr"]["ssh"]["host_key"]
    jobs = dynamodb.meta.client.describe_table(TableName=env["JOBS_TABLE"])["Table"]
    assert jobs["TableStatus"] == "ACTIVE"

    # again, with the lab status on stdin and the endpoint from boto3's own AWS_ENDPOINT_URL
    again = run_load(
        ["--lab-status", "-"],
        {**env, "AWS_ENDPOINT_URL": moto_server.endpoint_url},
        stdin=json.dumps(lab_status_without_lab),
    )
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert report["changes"]["system_vms"] == {"added": 8, "changed": 0, "removed": 0, "added_ids": ANY}
    assert (report["items_written"], second["items_written"]) == (second["items_unchanged"], 0)
    nothing = {"added": 0, "changed": 0, "removed": 0}
    assert second["changes"] == {"system_vms": nothing, "networks": nothing, "vpcs": nothing}


def test_load_without_table_names_says_which_to_set(moto_server: Any) -> None:
    env = {k: v for k, v in table_env(moto_server).items() if k != "ACCOUNTS_TABLE"}
    result = run_load(["--endpoint-url", moto_server.endpoint_url], env)
    assert result.returncode == 2
    assert "ACCOUNTS_TABLE" in result.stderr
