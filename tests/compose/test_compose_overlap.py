"""Two tenants' networks with the same CIDR, a guest at the same address on each: in the compose lab
each VR reaches its own guest (the MAC that answers says which), and teardown leaves nothing."""

from __future__ import annotations

import re
from pathlib import Path

from simvms import engine
from simvms.composelab import ComposeLab
from tests.compose.conftest import OVERLAP_TOPOLOGY


def _arping_macs(lab: ComposeLab, host: str) -> set[str]:
    proc = lab.exec(
        host, ["arping", "-c", "2", "-w", "4", "-I", "eth0", "10.1.1.11"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {mac.lower() for mac in re.findall(r"from ([0-9a-f:]{17})", proc.stdout, re.I)}


def test_same_cidr_networks_each_reach_their_own_guest_and_teardown_is_complete(docker_engine, tmp_path):
    lab = ComposeLab(OVERLAP_TOPOLOGY, tmp_path / "overlap")
    try:
        status = lab.up(progress=lambda _line: None)
        assert status["up"], status["problems"]
        macs = {
            host: next(i["mac"] for i in status["hosts"][host]["interfaces"] if i["name"] == "eth0")
            for host in ("guesta", "guestb")
        }
        assert macs["guesta"] != macs["guestb"]
        assert _arping_macs(lab, "vra") == {macs["guesta"]}
        assert _arping_macs(lab, "vrb") == {macs["guestb"]}
        for vr in ("vra", "vrb"):
            ping = lab.exec(vr, ["ping", "-c", "1", "-W", "2", "10.1.1.11"], capture_output=True, text=True)
            assert ping.returncode == 0, ping.stdout
    finally:
        lab.down(purge=True)
    containers = engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    networks = engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [c for c in containers if c.startswith(f"{lab.plan.project}-")]
    assert not [n for n in networks if n.startswith(f"{lab.plan.project}-")]
    for network in lab.plan.networks.values():  # the bridges went with their networks
        assert not Path(f"/sys/class/net/{network.bridge}").exists(), network.bridge
    assert not (tmp_path / "overlap").exists()
