"""Listing: the system VMs a caller may target, as much of each as the caller may see (rule 7)."""

from __future__ import annotations

from sysvmdiag.models import SystemVmInterface, SystemVmList, SystemVmView
from sysvmdiag.observability import tracer
from sysvmdiag.pipeline.ports import TopologySource
from sysvmdiag.policy import Caller, allowed_egress_kinds
from sysvmdiag.policy.tenancy import Reach, vm_networks
from sysvmdiag.topology.model import Host, NetworkKind, Topology


class Listing:
    def __init__(self, topology: TopologySource) -> None:
        self._topology = topology

    @tracer.capture_method
    def targets(self, caller: Caller) -> SystemVmList:
        """A non-admin sees only interfaces on the public network and on networks it has: no control or
        management address, nothing of another tenant."""
        topology = self._topology.list_system_vms()
        reach = Reach(caller, topology)
        views = [_view(caller, reach, vm, topology) for vm in topology.system_vms() if reach.may_target(vm)]
        return SystemVmList(count=len(views), systemvms=views)


def _view(caller: Caller, reach: Reach, vm: Host, topology: Topology) -> SystemVmView:
    networks = vm_networks(vm, topology)
    shown = [
        iface
        for iface in vm.interfaces
        if iface.name in networks
        and (
            caller.is_admin
            or networks[iface.name].kind is NetworkKind.PUBLIC
            or reach.has_network(networks[iface.name])
        )
    ]
    return SystemVmView(
        id=vm.uuid or vm.name,
        name=vm.vm_name or vm.name,
        kind=vm.kind.value,
        state=vm.state,
        interfaces=[
            SystemVmInterface(
                name=iface.name,
                network=iface.network,
                network_kind=networks[iface.name].kind.value,
                ipv4=str(iface.ipv4) if iface.ipv4 else None,
                ipv6=str(iface.ipv6) if iface.ipv6 else None,
            )
            for iface in shown
        ],
        allowed_egress_kinds=allowed_egress_kinds(caller, vm, topology),
    )
