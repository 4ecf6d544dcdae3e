"""Virtual routers (listRouters) as VR / VPC VR hosts: interfaces from their nics, routes, SSH endpoint.

Pure. A router is mapped whole or not at all: a nic on a network that could not be mapped, or without
a device number (its interface name), would give the policy a wrong path, so the router is reported
instead. Interfaces are ``eth<deviceid>``; a VPC router's VPN connections add ``vpn<n>`` interfaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sysvmdiag.cloudstack.context import Context, default_route, on_link, read_each, ssh_endpoint
from sysvmdiag.cloudstack.report import Skip
from sysvmdiag.cloudstack.values import (
    IPInterface,
    Item,
    address,
    address_with_mask,
    device_number,
    interface_in,
    network,
    objects,
    text,
)
from sysvmdiag.topology.model import Host, HostKind, Interface, IPAddress, NetworkKind, Route, SshEndpoint

_SYSTEM_TRAFFIC = {
    "control": NetworkKind.CONTROL,
    "public": NetworkKind.PUBLIC,
    "management": NetworkKind.MANAGEMENT,
    "storage": NetworkKind.STORAGE,
}


@dataclass(frozen=True)
class _Nic:
    interface: Interface
    traffic: NetworkKind | None  # the zone network's kind; None for a tenant network or a gateway
    gateway4: IPAddress | None
    gateway6: IPAddress | None


def read_routers(items: list[Item], ctx: Context) -> list[Host]:
    return read_each(items, "router", _router, ctx)


def _router(item: Item, ctx: Context) -> Host:
    uuid, vm_name = text(item, "id"), text(item, "name")
    if uuid is None or vm_name is None:
        raise Skip("no id or no name")
    vpc = text(item, "vpcid")
    if vpc is not None and vpc not in ctx.vpcs:
        raise Skip(f"its VPC {vpc} is not mapped")
    nics = [nic for number, raw in _numbered(item) if (nic := _nic(number, raw, vpc, ctx)) is not None]
    interfaces = [nic.interface for nic in nics]
    routes = _default_routes(nics)
    if vpc is not None:
        routes += ctx.gateways.vpc_routes.get(vpc, [])
        tunnel_interfaces, tunnel_routes = _tunnels(vpc, nics, ctx)
        interfaces += tunnel_interfaces
        routes += tunnel_routes
    state = text(item, "state") or "Unknown"
    return Host(
        name=vm_name,
        kind=HostKind.VPCVR if vpc else HostKind.VR,
        uuid=uuid,
        vm_name=vm_name,
        state=state,
        vpc=vpc,
        owner=_owner(item, vm_name, ctx),
        interfaces=tuple(interfaces),
        routes=tuple(routes),
        ssh=_ssh(item, vm_name, state, nics, ctx),
    )


def _numbered(item: Item) -> list[tuple[int, Item]]:
    """The nics by device number; one without a number, or two with the same, makes names unknowable."""
    listed = item.get("nic")
    if not isinstance(listed, list | dict) or not listed:
        raise Skip("lists no nics (or not as a list), so its interfaces are unknown")
    if isinstance(listed, list) and not all(isinstance(entry, dict) for entry in listed):
        raise Skip("a nic entry is not an object, so its interfaces are unknown")
    numbered: dict[int, Item] = {}
    for raw in objects(listed):
        number = device_number(raw.get("deviceid"))
        if number is None:
            raise Skip(f"nic {text(raw, 'id')} has no deviceid, so its interface name is unknown")
        if number in numbered:
            raise Skip(f"two nics have deviceid {number}")
        numbered[number] = raw
    return sorted(numbered.items())


def _nic(number: int, raw: Item, vpc: str | None, ctx: Context) -> _Nic | None:
    """The interface a nic is (None for a nic with no address on a zone network: nothing to reach)."""
    name = f"eth{number}"
    traffic = (text(raw, "traffictype") or "").lower()
    v4, problem = address_with_mask(
        text(raw, "ipaddress"), text(raw, "netmask"), link_local_default=traffic == "control"
    )
    if problem:
        raise Skip(f"nic {name}: {problem}")
    v6 = interface_in(text(raw, "ip6address"), network(text(raw, "ip6cidr")))
    gateways = (address(text(raw, "gateway")), address(text(raw, "ip6gateway")))
    kind = _SYSTEM_TRAFFIC.get(traffic)
    if kind is not None:
        network_id = ctx.system.attach(kind, text(raw, "networkid"), v4, v6, gateways)
        if network_id is None:
            return None
        _check_inside(name, network_id, lambda addr: ctx.system.contains(network_id, addr), v4, v6)
        return _Nic(Interface(name=name, network=network_id, ipv4=v4, ipv6=v6), kind, *gateways)
    network_id = text(raw, "networkid")
    guest = ctx.guests.get(network_id or "")
    if guest is not None:
        v6 = v6 or interface_in(text(raw, "ip6address"), guest.cidr6)
        _check_inside(name, guest.id, guest.contains, v4, v6)
        return _Nic(Interface(name=name, network=guest.id, ipv4=v4, ipv6=v6), None, *gateways)
    gateway_id = ctx.gateways.network_for(vpc, v4.ip if v4 else None)
    if gateway_id is not None:
        _check_inside(name, gateway_id, ctx.gateways.networks[gateway_id].contains, v4, None)
        return _Nic(Interface(name=name, network=gateway_id, ipv4=v4), None, gateways[0], None)
    what = text(raw, "traffictype") or "no traffic type"
    raise Skip(f"nic {name} is on network {network_id} ({what}), which is not mapped")


def _check_inside(
    name: str, network_id: str, contains: Callable[[IPAddress], bool], *prefixes: IPInterface | None
) -> None:
    for prefix in prefixes:
        if prefix is not None and not contains(prefix.ip):
            raise Skip(f"nic {name} address {prefix.ip} is outside network {network_id}")


def _default_routes(nics: list[_Nic]) -> list[Route]:
    """Default routes via the public nics' gateways; a router without a public nic (a shared network's)
    goes out by its guest network's gateway."""
    public = [nic for nic in nics if nic.traffic is NetworkKind.PUBLIC]
    candidates = public or [nic for nic in nics if nic.traffic is None]
    routes = []
    v4 = next((n.gateway4 for n in candidates if on_link(n.gateway4, n.interface.ipv4)), None)
    v6 = next((n.gateway6 for n in candidates if on_link(n.gateway6, n.interface.ipv6)), None)
    routes += [default_route(gateway) for gateway in (v4, v6) if gateway is not None]
    return routes


def _tunnels(vpc: str, nics: list[_Nic], ctx: Context) -> tuple[list[Interface], list[Route]]:
    """The VPN connections whose VPN gateway address is on one of this VPC router's public nics."""
    public = [
        prefix.ip
        for nic in nics
        if nic.traffic is NetworkKind.PUBLIC
        for prefix in (nic.interface.ipv4, nic.interface.ipv6)
        if prefix is not None
    ]
    interfaces: list[Interface] = []
    routes: list[Route] = []
    for index, tunnel in enumerate(ctx.tunnels.claim(public)):
        ctx.vpn_networks.setdefault(tunnel.id, tunnel.network(ctx.vpcs[vpc]))
        interface, tunnel_routes = tunnel.attach(index)
        interfaces.append(interface)
        routes += tunnel_routes
    return interfaces, routes


def _ssh(item: Item, vm_name: str, state: str, nics: list[_Nic], ctx: Context) -> SshEndpoint:
    """The control nic's address, else the router's linklocalip; a running router without either cannot
    be reached, so it is not mapped; a stopped one keeps an endpoint without address."""
    control = next((n.interface for n in nics if n.traffic is NetworkKind.CONTROL and n.interface.ipv4), None)
    if control is not None:
        return ssh_endpoint(control.name, control.ipv4)
    prefix, problem = address_with_mask(
        text(item, "linklocalip"), text(item, "linklocalnetmask"), link_local_default=True
    )
    if prefix is not None:
        ctx.system.attach(NetworkKind.CONTROL, None, prefix)
        return ssh_endpoint(None, prefix)
    if state == "Running":
        raise Skip(
            f"no control (link-local) address{f': {problem}' if problem else ''}; it cannot be reached"
        )
    ctx.report.note(f"router {vm_name}: {state} and without a control address; mapped without an SSH address")
    return ssh_endpoint(None, None)


def _owner(item: Item, vm_name: str, ctx: Context) -> str | None:
    """The router's account (not used by the policy: who may use a router follows from its networks)."""
    if text(item, "account") is None:
        return None
    owner, why = ctx.directory.owner(item)
    if owner is None:
        ctx.report.note(f"router {vm_name}: {why}; mapped without an owner")
    return owner
