"""The scale zone of the request benchmark: the lab's zone with a generated zone's tenants beside it."""

from __future__ import annotations

from benchmarks.common import lab_topology, target
from benchmarks.scale_requests import with_generated_tenants
from simvms.generate import generate_zone
from sysvmdiag.topology.model import HostKind, NetworkKind


def test_the_lab_zone_keeps_its_infrastructure_and_gains_the_generated_tenants() -> None:
    lab = lab_topology()
    zone = with_generated_tenants(lab, 200, seed=3)
    generated = generate_zone(200, seed=3)

    assert zone.zone == lab.zone and zone.bastion() == lab.bastion()
    assert [h for h in zone.hosts if h.kind is HostKind.BASTION] == [lab.bastion()]
    assert len(zone.networks) == len(lab.networks) + len(generated.networks)
    assert len(zone.system_vms()) == len(lab.system_vms()) + len(generated.system_vms())
    # The lab's VMs are found as before; the generated ones under names of their own.
    assert zone.system_vm("r-4-VM") == lab.system_vm("r-4-VM")
    assert target(zone, "r-4-VM").vm == target(lab, "r-4-VM").vm
    assert all(h.name.startswith("scale-") for h in zone.system_vms() if h not in lab.system_vms())
    # The generated infrastructure networks are kept apart; the zone's public network is the lab's.
    public = [n for n in zone.networks if n.kind is NetworkKind.PUBLIC]
    assert lab.network("net-public") in public and all(
        n.id.startswith("scale-") for n in public if n != lab.network("net-public")
    )
