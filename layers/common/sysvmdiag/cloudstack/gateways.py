"""VPC private gateways and their static routes (listPrivateGateways, listStaticRoutes).

Pure. A private gateway becomes a PRIVATE_GATEWAY network of its VPC, owned by the VPC's owner, its
subnet from gateway and netmask; the static routes through it become its ``routes4`` (what the policy
lets the VPC's owner probe through it) and routes of the VPC's routers via the gateway's next hop. A
static route by next hop alone (CloudStack 4.21) is a route of the VPC's routers only.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.values import Item, address, network, network_of, text
from sysvmdiag.topology.model import IPAddress, Network, NetworkKind, Route, Vpc


@dataclass
class _Gateway:
    id: str
    vpc: Vpc
    cidr4: ipaddress.IPv4Network
    gateway4: ipaddress.IPv4Address | None
    address: IPAddress | None
    routes4: list[ipaddress.IPv4Network] = field(default_factory=list)


@dataclass
class PrivateGateways:
    """The VPCs' private gateways: their networks, which nic is on which, and the VPCs' static routes."""

    networks: dict[str, Network] = field(default_factory=dict)
    by_address: dict[tuple[str, IPAddress], str] = field(default_factory=dict)  # (vpc, nic ip) -> id
    vpc_routes: dict[str, list[Route]] = field(default_factory=lambda: defaultdict(list))

    def network_for(self, vpc: str | None, ip: IPAddress | None) -> str | None:
        return self.by_address.get((vpc, ip)) if vpc is not None and ip is not None else None


def read_private_gateways(
    gateway_items: list[Item], route_items: list[Item], vpcs: dict[str, Vpc], report: MappingReport
) -> PrivateGateways:
    found: dict[str, _Gateway] = {}
    for item in gateway_items:
        gateway = _gateway(item, vpcs, report)
        if gateway is not None:
            found[gateway.id] = gateway
    result = PrivateGateways()
    for item in route_items:
        _route(item, found, vpcs, result, report)
    for gateway in found.values():
        result.networks[gateway.id] = Network(
            id=gateway.id,
            name=f"{gateway.vpc.name} private gateway {gateway.cidr4}",
            kind=NetworkKind.PRIVATE_GATEWAY,
            owner=gateway.vpc.owner,
            vpc=gateway.vpc.id,
            cidr4=gateway.cidr4,
            gateway4=gateway.gateway4,
            routes4=tuple(gateway.routes4),
        )
        if gateway.address is not None:
            result.by_address[(gateway.vpc.id, gateway.address)] = gateway.id
    report.count("private_gateway", len(result.networks))
    return result


def _gateway(item: Item, vpcs: dict[str, Vpc], report: MappingReport) -> _Gateway | None:
    item_id, vpc_id = text(item, "id"), text(item, "vpcid")
    label = text(item, "vlan")
    if item_id is None or vpc_id is None:
        report.skip("private_gateway", item_id, label, "no id or no vpcid")
        return None
    vpc = vpcs.get(vpc_id)
    if vpc is None:
        report.skip("private_gateway", item_id, label, f"its VPC {vpc_id} is not mapped")
        return None
    netmask = text(item, "netmask")
    cidr = network_of(text(item, "gateway"), netmask) or network_of(text(item, "ipaddress"), netmask)
    if not isinstance(cidr, ipaddress.IPv4Network):
        report.skip("private_gateway", item_id, label, "no IPv4 gateway (or address) with a readable netmask")
        return None
    gateway4 = address(text(item, "gateway"))
    return _Gateway(
        id=item_id,
        vpc=vpc,
        cidr4=cidr,
        gateway4=gateway4 if isinstance(gateway4, ipaddress.IPv4Address) else None,
        address=address(text(item, "ipaddress")),
    )


def _route(
    item: Item,
    gateways: dict[str, _Gateway],
    vpcs: dict[str, Vpc],
    result: PrivateGateways,
    report: MappingReport,
) -> None:
    item_id, cidr = text(item, "id"), network(text(item, "cidr"))
    label = text(item, "cidr")
    if cidr is None:
        report.skip("static_route", item_id, label, "no readable cidr")
        return
    gateway_id = text(item, "gatewayid") or text(item, "vpcgatewayid")
    vpc_id = text(item, "vpcid")
    if gateway_id is not None:
        gateway = gateways.get(gateway_id)
        if gateway is None or (vpc_id is not None and vpc_id != gateway.vpc.id):
            report.skip("static_route", item_id, label, f"its private gateway {gateway_id} is not mapped")
            return
        if not isinstance(cidr, ipaddress.IPv4Network) or gateway.gateway4 is None:
            report.skip(
                "static_route", item_id, label, "an IPv6 route, or a gateway without an IPv4 next hop"
            )
            return
        gateway.routes4.append(cidr)
        result.vpc_routes[gateway.vpc.id].append(Route(to=str(cidr), via=gateway.gateway4))
        report.count("static_route")
        return
    next_hop = address(text(item, "nexthop"))
    if next_hop is None or vpc_id not in vpcs or next_hop.version != cidr.version:
        report.skip("static_route", item_id, label, "names no mapped gateway, nor a next hop in a mapped VPC")
        return
    result.vpc_routes[vpc_id].append(Route(to=str(cidr), via=next_hop))
    report.count("static_route")
