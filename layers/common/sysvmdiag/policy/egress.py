"""Egress rules for non-admins (rule 4), and the destination judged by the path it takes (rule 3).

Pure: no I/O. Out only over the public network, a network the caller has, its VPC's private gateway
toward that gateway's routes and next hop, and its VPN gateway toward the remote CIDRs and the tunnel's
far end; never over a multi-tenant shared network. A destination that does not stay on the caller's
own network or gateway is checked against every other tenant's space.
"""

from __future__ import annotations

from sysvmdiag.policy.destinations import another_tenant, check_tenant_spaces
from sysvmdiag.policy.paths import Egress, Via, gateway_cidrs
from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.policy.refusals import Denied
from sysvmdiag.policy.tenancy import INFRASTRUCTURE_KINDS, TENANT_KINDS, Reach, is_multi_tenant
from sysvmdiag.topology.model import IPAddress, Network, NetworkKind

_GATEWAY_KINDS = frozenset({NetworkKind.PRIVATE_GATEWAY, NetworkKind.VPN_GATEWAY})


def check_path(reach: Reach, destination: IPAddress, egress: Egress, label: str) -> None:
    """Refuse a path the caller may not use; then, unless the path is the caller's own, other tenants."""
    net = egress.network
    where = f"{destination} would leave {label} through {egress.interface.name}"
    detail = f"{where} on {net.kind.value} network {net.name} ({net.id})"
    if net.kind in INFRASTRUCTURE_KINDS:
        raise Denied(
            ReasonCode.EGRESS_NOT_ALLOWED,
            f"{where}, an interface reserved for the zone's infrastructure; only admins may use it.",
            f"{detail}; only admins may probe through it.",
        )
    if net.kind in TENANT_KINDS and not reach.has_network(net):
        if egress.via is Via.CONNECTED:  # the address is on that network: someone else's
            raise another_tenant(reach, net, destination, f"{detail}, which is not the caller's.")
        code = (
            ReasonCode.SHARED_NETWORK_NOT_EXCLUSIVE
            if is_multi_tenant(net, reach.topology) and reach.is_holder(net)
            else ReasonCode.EGRESS_NOT_ALLOWED
        )
        raise Denied(code, f"{where}, which your account may not probe from.", f"{detail}, not the caller's.")
    if net.kind is not NetworkKind.PUBLIC and net.kind not in TENANT_KINDS:
        raise Denied(
            ReasonCode.EGRESS_NOT_ALLOWED, f"{where}, which your account may not probe from.", f"{detail}."
        )
    if net.kind in _GATEWAY_KINDS and not _gateway_leads_to(net, destination):
        raise Denied(
            ReasonCode.EGRESS_NOT_ALLOWED,
            f"{where}, a VPC gateway; through it only the gateway's routes or remote networks and its far "
            "end may be probed.",
            f"{detail}; its routes or remote CIDRs are "
            f"{', '.join(str(c) for c in gateway_cidrs(net)) or 'none'}.",
        )
    if not _own_path(egress):
        check_tenant_spaces(reach, destination)


def _gateway_leads_to(net: Network, destination: IPAddress) -> bool:
    """A VPN gateway leads to its remote CIDRs and the tunnel's far end; a private gateway to its static
    routes and its next hop (the gateway address)."""
    if destination in (net.gateway4, net.gateway6):
        return True
    return any(c.version == destination.version and destination in c for c in gateway_cidrs(net))


def _own_path(egress: Egress) -> bool:
    """On the caller's own network (connected) or through its own VPC gateway: judged as the caller's.
    The public network, and static routes out of any network, lead where other tenants live too."""
    return egress.network.kind is not NetworkKind.PUBLIC and egress.via is not Via.ROUTE
