"""``sysvmdiag policy check`` as a person runs it: a subprocess, JSON out, exit 0 / 3 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE

TOPOLOGY = str(DEFAULT_TOPOLOGY_FILE)


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysvmdiag.cli", "policy", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_allowed_prints_the_decision_and_exits_0() -> None:
    result = run_check(
        "--topology", TOPOLOGY, "--caller", "alice", "--vm", "r-7-VM", "--test", "arping",
        "--dest", "10.2.2.11", "--params", "-c 2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["allowed"] is True and decision["code"] is None
    assert decision["egress_interface"] == "eth3" and decision["egress_kind"] == "vpc_tier"
    assert decision["argv"] == ["arping", "-c", "2", "-w", "4", "-i", "eth3", "10.2.2.11"]
    assert decision["command_line"] == "arping -c 2 -w 4 -i eth3 10.2.2.11"
    assert decision["worst_case_seconds"] == 4.0


def test_the_host_behind_the_narrow_link_is_allowed_over_public() -> None:
    result = run_check(
        "--topology", TOPOLOGY, "--caller", "alice", "--vm", "r-4-VM", "--test", "ping",
        "--dest", "198.51.100.130",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["allowed"] is True
    assert (decision["egress_interface"], decision["egress_kind"]) == ("eth2", "public")


@pytest.mark.parametrize(
    ("caller", "vm", "dest", "code", "detail_code"),
    [
        ("acct-alice", "vr", "172.31.200.10", "DESTINATION_IN_MANAGEMENT_RANGE", None),
        ("bob", "ssvm", "198.51.100.80", "TARGET_NOT_FOUND", "SYSTEM_VM_KIND_ADMIN_ONLY"),
        ("admin", "r-404-VM", "198.51.100.80", "TARGET_NOT_FOUND", None),
    ],
)
def test_denied_prints_the_reason_and_exits_3(
    caller: str, vm: str, dest: str, code: str, detail_code: str | None
) -> None:
    result = run_check(
        "--topology", TOPOLOGY, "--caller", caller, "--vm", vm, "--test", "ping", "--dest", dest
    )
    assert result.returncode == 3, result.stderr
    decision = json.loads(result.stdout)
    assert decision["allowed"] is False and decision["code"] == code
    assert decision["detail_code"] == (detail_code or code)
    assert decision["message"]


def test_a_simvms_status_file_names_the_topology(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"up": True, "topology": TOPOLOGY, "hosts": {}}), encoding="utf-8")
    result = run_check(
        "--topology", str(status), "--caller", "admin", "--vm", "s-1-VM", "--test", "traceroute",
        "--dest", "172.31.201.10",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["egress_kind"] == "storage"


@pytest.mark.parametrize(
    ("topology", "caller", "stderr_needle"),
    [
        (TOPOLOGY, "mallory", "unknown caller account 'mallory'"),
        ("/nonexistent/topology.yaml", "admin", "cannot read"),
        ("<empty>", "admin", "neither a topology file"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, topology: str, caller: str, stderr_needle: str) -> None:
    if topology == "<empty>":
        empty = tmp_path / "empty.yaml"
        empty.write_text("just: text\n", encoding="utf-8")
        topology = str(empty)
    result = run_check(
        "--topology", topology, "--caller", caller, "--vm", "vr", "--test", "ping", "--dest", "10.0.0.1"
    )
    assert result.returncode == 2
    assert stderr_needle in result.stderr
    assert result.stdout == ""


def test_policy_check_does_not_import_boto3_or_paramiko() -> None:
    code = (
        "import sys\n"
        "from sysvmdiag.cli import main\n"
        f"rc = main(['policy', 'check', '--topology', {TOPOLOGY!r}, '--caller', 'admin', '--vm', 'vr',"
        " '--test', 'ping', '--dest', '198.51.100.80'])\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'paramiko') if m in sys.modules)\n"
        "print('HEAVY', heavy, rc, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "HEAVY [] 0" in result.stderr, result.stderr
