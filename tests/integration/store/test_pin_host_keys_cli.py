"""``sysvmdiag topology pin-host-keys`` where it stops before any SSH: moto's server only.

Scans, confirmations and the runner connecting afterwards are tested against the lab
(tests/lab/test_pin_host_keys.py); here the cases that never reach the bastion.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Topology
from sysvmdiag.topology.store import TopologyStore, create_tables
from tests.integration.store.test_topology_load_cli import table_env

REPO_ROOT = Path(__file__).resolve().parents[3]


def _env(moto_server: Any, dynamodb: Any) -> tuple[dict[str, str], TopologyStore]:
    env = table_env(moto_server)
    env.update(
        AWS_ENDPOINT_URL=moto_server.endpoint_url,  # Secrets Manager too: nothing leaves loopback
        SSH_KEY_SECRET_ID=f"{env['TOPOLOGY_TABLE']}/no-such-secret",
        PYTHONPATH=f"{REPO_ROOT / 'layers' / 'common'}:{REPO_ROOT}",
    )
    tables = create_tables(dynamodb, {"topology": env["TOPOLOGY_TABLE"], "accounts": env["ACCOUNTS_TABLE"]})
    return env, TopologyStore(tables["topology"], tables["accounts"])


def _pin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysvmdiag.cli", "topology", "pin-host-keys", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _unpinned(topology: Topology, lab_status: dict[str, Any], name: str) -> Topology:
    from sysvmdiag.topology.loader import apply_lab_status

    data = apply_lab_status(topology, lab_status).model_dump(mode="json")
    for host in data["hosts"]:
        if host["name"] == name:
            host["ssh"]["host_key"] = None
    return Topology.model_validate(data)


def test_empty_tables_and_unknown_vms_are_usage_errors(
    moto_server, dynamodb, topology, lab_status_without_lab
):
    env, store = _env(moto_server, dynamodb)
    empty = _pin(env, "--yes")
    assert empty.returncode == 2 and "the tables hold no zone" in empty.stderr
    load_topology_into_tables(topology, store, lab_status_without_lab)
    unknown = _pin(env, "--vm", "r-4-VM", "--vm", "r-99-VM", "--yes")
    assert unknown.returncode == 2 and "no system VM r-99-VM" in unknown.stderr
    assert "r-4-VM" not in unknown.stdout


def test_a_fully_pinned_zone_has_nothing_to_scan_and_asks_nothing(
    moto_server, dynamodb, topology, lab_status_without_lab
):
    env, store = _env(moto_server, dynamodb)
    load_topology_into_tables(topology, store, lab_status_without_lab)
    proc = _pin(env)  # no terminal, no --yes: fine, since nothing would be asked
    assert proc.returncode == 0, proc.stderr
    assert "nothing to scan" in proc.stdout


def test_vm_and_all_cannot_be_combined(moto_server, dynamodb):
    env, _ = _env(moto_server, dynamodb)
    proc = _pin(env, "--vm", "r-4-VM", "--all")
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


def test_a_missing_login_key_fails_before_any_connection(
    moto_server, dynamodb, topology, lab_status_without_lab
):
    env, store = _env(moto_server, dynamodb)
    load_topology_into_tables(_unpinned(topology, lab_status_without_lab, "vr"), store)
    before = store.read_topology()
    proc = _pin(env, "--yes")
    assert proc.returncode == 1
    assert "cannot scan through the bastion: The runner's SSH key could not be loaded" in proc.stderr
    assert "could not pin: r-4-VM" in proc.stderr
    assert store.read_topology() == before
