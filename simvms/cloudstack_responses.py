"""The lab zone as CloudStack would list it: the inverse of ``sysvmdiag.cloudstack.mapping`` for a lab.

``responses_for(topology)`` gives, for every command of ``LIST_COMMANDS``, the items CloudStack's
response classes would hold (only fields of ``sysvmdiag.cloudstack.fields.FIELDS``), with the
topology's ids as CloudStack ids, so that ``map_zone(responses_for(LAB))`` decides like LAB.

What CloudStack cannot express is not served: hosts that are no system VM (routers, guests, external
hosts, the bastion), networks of kind external / vpn_peer / transit, storage networks and an SSVM's
storage interface (SystemVmResponse has no storage address), system VMs' public IPv6, IPv6 management
ranges (pods are IPv4), and routes other than a VR's default routes, a VPC's static routes through its
private gateway and its VPN connections. A shared network's holders are served in the CloudStack form
that keeps them: acltype Account for one holder, acltype Domain when they are exactly the accounts of
one domain, else the owner's network with network permissions for the others.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from sysvmdiag.topology.model import Account, Host, HostKind, Interface, Network, NetworkKind, Role, Topology

Item = dict[str, Any]

_NAMESPACE = uuid.UUID("6b7f5a52-3c1e-4d0a-9a57-5e1f7c0d5a11")  # fixed: the same ids on every run
_ACCOUNT_TYPES = {Role.USER: 0, Role.ADMIN: 1, Role.DOMAIN_ADMIN: 2}
_ROLE_TYPES = {Role.USER: "User", Role.ADMIN: "Admin", Role.DOMAIN_ADMIN: "DomainAdmin"}
_TRAFFIC = {
    NetworkKind.CONTROL: "Control",
    NetworkKind.PUBLIC: "Public",
    NetworkKind.MANAGEMENT: "Management",
    NetworkKind.STORAGE: "Storage",
}
_GUEST_KINDS = frozenset({NetworkKind.ISOLATED, NetworkKind.VPC_TIER, NetworkKind.SHARED})
_NIC_KINDS = _GUEST_KINDS | {NetworkKind.PRIVATE_GATEWAY} | set(_TRAFFIC)


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def domain_id(path: str) -> str:
    return stable_id("domain", path)


def responses_for(topology: Topology, *, pod_name: str = "pod-1") -> dict[str, list[Item]]:
    """Every list command's items for the topology's zone."""
    networks, permissions = _networks(topology)
    connections, customer_gateways = _vpn(topology)
    return {
        "listZones": [{"id": topology.zone.id, "name": topology.zone.name}],
        "listDomains": _domains(topology),
        "listAccounts": [_account(account) for account in topology.accounts],
        "listPods": _pods(topology, pod_name),
        "listNetworks": networks,
        "listVPCs": [
            {
                "id": v.id,
                "name": v.name,
                "zoneid": topology.zone.id,
                **_cidr(v.cidr4),
                **_owned(topology, v.owner),
            }
            for v in topology.vpcs
        ],
        "listRouters": [_router(topology, host) for host in topology.system_vms() if host.kind in _ROUTERS],
        "listSystemVms": [
            _system_vm(topology, host) for host in topology.system_vms() if host.kind in _SYSTEM
        ],
        "listPrivateGateways": _private_gateways(topology),
        "listStaticRoutes": _static_routes(topology),
        "listVpnConnections": connections,
        "listVpnCustomerGateways": customer_gateways,
        "listNetworkPermissions": permissions,
    }


_ROUTERS = frozenset({HostKind.VR, HostKind.VPCVR})
_SYSTEM = {HostKind.SSVM: "secondarystoragevm", HostKind.CPVM: "consoleproxy"}


def _cidr(cidr: ipaddress.IPv4Network | None) -> Item:
    return {"cidr": str(cidr)} if cidr is not None else {}


def _owned(topology: Topology, account_id: str | None) -> Item:
    if account_id is None:
        return {}
    account = topology.account(account_id)
    return {"account": account.name, "domainid": domain_id(account.domain)}


# -- domains, accounts, pods ----------------------------------------------------------------------------


def _domains(topology: Topology) -> list[Item]:
    paths = {account.domain.strip("/") for account in topology.accounts}
    paths |= {net.shared_domain.strip("/") for net in topology.networks if net.shared_domain}
    every = {"/".join(path.split("/")[: depth + 1]) for path in paths for depth in range(path.count("/") + 1)}
    items = []
    for path in sorted(every | {"ROOT"}):
        parts = path.split("/")
        item: Item = {"id": domain_id(path), "name": parts[-1], "path": path}
        if len(parts) > 1:
            item["parentdomainid"] = domain_id("/".join(parts[:-1]))
        items.append(item)
    return items


def _account(account: Account) -> Item:
    return {
        "id": account.id,
        "name": account.name,
        "accounttype": _ACCOUNT_TYPES[account.role],
        "roletype": _ROLE_TYPES[account.role],
        "domainid": domain_id(account.domain),
        "domainpath": account.domain,
    }


def _pods(topology: Topology, pod_name: str) -> list[Item]:
    """One pod per IPv4 management range: its subnet as gateway and netmask, a system range inside."""
    pods = []
    ranges = [c for c in topology.zone.management_ranges if isinstance(c, ipaddress.IPv4Network)]
    for index, cidr in enumerate(ranges):
        hosts = list(cidr.hosts()) or [cidr.network_address]
        start, end = hosts[min(1, len(hosts) - 1)], hosts[-1]
        pods.append(
            {
                "id": stable_id("pod", topology.zone.id, str(cidr)),
                "name": pod_name if index == 0 else f"{pod_name}-{index}",
                "zoneid": topology.zone.id,
                "gateway": str(hosts[0]),
                "netmask": str(cidr.netmask),
                "startip": [str(start)],
                "endip": [str(end)],
                "ipranges": [{"startip": str(start), "endip": str(end)}],
            }
        )
    return pods


# -- guest networks and who holds them ----------------------------------------------------------------


def _networks(topology: Topology) -> tuple[list[Item], list[Item]]:
    items: list[Item] = []
    permissions: list[Item] = []
    for net in topology.networks:
        if net.kind not in _GUEST_KINDS:
            continue
        tenancy, granted = _tenancy(topology, net)
        if tenancy is None:
            continue
        items.append({**_guest_fields(topology, net), **tenancy})
        permissions += [{"networkid": net.id, "accountid": a, **_owned(topology, a)} for a in granted]
    return items, permissions


def _guest_fields(topology: Topology, net: Network) -> Item:
    item: Item = {
        "id": net.id,
        "name": net.name,
        "zoneid": topology.zone.id,
        "type": "Shared" if net.kind is NetworkKind.SHARED else "Isolated",
        "traffictype": "Guest",
    }
    if net.vpc:
        item["vpcid"] = net.vpc
    if net.cidr4 is not None:
        item |= {"cidr": str(net.cidr4), "netmask": str(net.cidr4.netmask)}
    if net.cidr6 is not None:
        item["ip6cidr"] = str(net.cidr6)
    if net.gateway4 is not None:
        item["gateway"] = str(net.gateway4)
    if net.gateway6 is not None:
        item["ip6gateway"] = str(net.gateway6)
    if net.mtu is not None:
        item["privatemtu"] = net.mtu
    return item


def _tenancy(topology: Topology, net: Network) -> tuple[Item | None, list[str]]:
    """acltype and owner fields, and the accounts to grant by permission; None if CloudStack has no form."""
    if net.kind is not NetworkKind.SHARED:
        return {"acltype": "Account", **_owned(topology, net.owner)}, []
    owner = net.owner if net.owner and topology.account(net.owner).role is not Role.ADMIN else None
    holders = list(dict.fromkeys([*([owner] if owner else []), *net.shared_with]))
    if net.shared_domain is not None:
        scope = {"domainid": domain_id(net.shared_domain.strip("/")), "subdomainaccess": net.subdomain_access}
        return {"acltype": "Domain", **scope}, holders
    if owner is None and len(holders) == 1:
        return {"acltype": "Account", **_owned(topology, holders[0])}, []
    domain = _whole_domain(topology, holders)
    if owner is None and domain is not None:
        return {"acltype": "Domain", "domainid": domain_id(domain), "subdomainaccess": False}, []
    account = net.owner or (holders[0] if holders else None)
    if account is None:
        return None, []
    return {"acltype": "Account", **_owned(topology, account)}, [h for h in holders if h != account]


def _whole_domain(topology: Topology, holders: list[str]) -> str | None:
    """The domain whose tenant accounts are exactly these (two or more), if there is one."""
    domains = {topology.account(h).domain.strip("/") for h in holders}
    if len(holders) < 2 or len(domains) != 1:
        return None
    domain = domains.pop()
    members = {a.id for a in topology.accounts if a.domain.strip("/") == domain and a.role is not Role.ADMIN}
    return domain if members == set(holders) else None


# -- VMs ---------------------------------------------------------------------------------------------


def _served(topology: Topology, host: Host) -> list[tuple[int, Interface, Network]]:
    """The host's interfaces CloudStack lists as nics: eth<n> on networks it knows."""
    found = []
    for iface in host.interfaces:
        net = topology.network(iface.network)
        if net.kind in _NIC_KINDS and iface.name.startswith("eth") and iface.name[3:].isdigit():
            found.append((int(iface.name[3:]), iface, net))
    return found


def _default_via(host: Host, iface: Interface) -> tuple[str | None, str | None]:
    """The host's default routes that leave by this interface (a nic's gateway, as CloudStack has it)."""
    vias = []
    for target, prefix in (("default", iface.ipv4), ("default6", iface.ipv6)):
        via = next((r.via for r in host.routes if r.to == target and r.via is not None), None)
        vias.append(str(via) if via is not None and prefix is not None and via in prefix.network else None)
    return vias[0], vias[1]


def _nic(host: Host, number: int, iface: Interface, net: Network) -> Item:
    nic: Item = {
        "id": stable_id("nic", host.uuid or host.name, iface.name),
        "deviceid": str(number),
        "traffictype": _TRAFFIC.get(net.kind, "Guest"),
        "networkid": stable_id("private-network", net.id)
        if net.kind is NetworkKind.PRIVATE_GATEWAY
        else net.id,
    }
    if net.kind is NetworkKind.PUBLIC:
        gateway4, gateway6 = _default_via(host, iface)
    else:
        gateway4 = str(net.gateway4) if net.gateway4 else None
        gateway6 = str(net.gateway6) if net.gateway6 else None
    if iface.ipv4 is not None:
        nic |= {"ipaddress": str(iface.ipv4.ip), "netmask": str(iface.ipv4.netmask)}
        nic |= {"gateway": gateway4} if gateway4 else {}
    if iface.ipv6 is not None:
        nic |= {"ip6address": str(iface.ipv6.ip), "ip6cidr": str(iface.ipv6.network)}
        nic |= {"ip6gateway": gateway6} if gateway6 else {}
    return nic


def _router(topology: Topology, host: Host) -> Item:
    nics = [
        _nic(host, n, iface, net) for n, iface, net in sorted(_served(topology, host), key=lambda s: s[0])
    ]
    item: Item = {
        "id": host.uuid,
        "name": host.vm_name,
        "state": host.state,
        "zoneid": topology.zone.id,
        **_owned(topology, host.owner),
        "nic": nics,
    }
    if host.vpc:
        item["vpcid"] = host.vpc
    control = next((n for n in nics if n["traffictype"] == "Control" and "ipaddress" in n), None)
    if control is not None:
        item |= {"linklocalip": control["ipaddress"], "linklocalnetmask": control["netmask"]}
    return item


def _system_vm(topology: Topology, host: Host) -> Item:
    item: Item = {
        "id": host.uuid,
        "name": host.vm_name,
        "systemvmtype": _SYSTEM[host.kind],
        "state": host.state,
        "zoneid": topology.zone.id,
    }
    fields = {
        NetworkKind.CONTROL: ("linklocalip", "linklocalnetmask"),
        NetworkKind.MANAGEMENT: ("privateip", "privatenetmask"),
        NetworkKind.PUBLIC: ("publicip", "publicnetmask"),
    }
    for _, iface, net in _served(topology, host):
        if net.kind in fields and iface.ipv4 is not None:
            ip_field, mask_field = fields[net.kind]
            item |= {ip_field: str(iface.ipv4.ip), mask_field: str(iface.ipv4.netmask)}
    via = next((r.via for r in host.routes if r.to == "default" and r.via is not None), None)
    if via is not None:
        item["gateway"] = str(via)
    return item


# -- VPC gateways --------------------------------------------------------------------------------------


def _vpc_router_address(topology: Topology, net: Network, kind: NetworkKind) -> str | None:
    """The address a VPC router has on the network of ``kind`` (itself on ``net``'s VPC)."""
    for host in topology.system_vms():
        if host.kind is not HostKind.VPCVR or host.vpc != net.vpc:
            continue
        for _, iface, served in _served(topology, host):
            if (
                served.kind is kind
                and iface.ipv4 is not None
                and (kind is not net.kind or served.id == net.id)
            ):
                return str(iface.ipv4.ip)
    return None


def _private_gateways(topology: Topology) -> list[Item]:
    items = []
    for net in topology.networks:
        if net.kind is not NetworkKind.PRIVATE_GATEWAY or net.cidr4 is None:
            continue
        item: Item = {
            "id": net.id,
            "vpcid": net.vpc,
            "zoneid": topology.zone.id,
            "netmask": str(net.cidr4.netmask),
        }
        if net.gateway4 is not None:
            item["gateway"] = str(net.gateway4)
        ip = _vpc_router_address(topology, net, NetworkKind.PRIVATE_GATEWAY)
        if ip is not None:
            item["ipaddress"] = ip
        items.append(item)
    return items


def _static_routes(topology: Topology) -> list[Item]:
    return [
        {
            "id": stable_id("static-route", net.id, str(cidr)),
            "vpcid": net.vpc,
            "cidr": str(cidr),
            "gatewayid": net.id,
        }
        for net in topology.networks
        if net.kind is NetworkKind.PRIVATE_GATEWAY
        for cidr in net.routes4
    ]


def _vpn(topology: Topology) -> tuple[list[Item], list[Item]]:
    """A connection and a customer gateway per VPN gateway network; the connection's publicip is the
    VPC router's public address (CloudStack's VPN gateway is the VPC's source NAT address)."""
    connections, customers = [], []
    for net in topology.networks:
        if net.kind is not NetworkKind.VPN_GATEWAY:
            continue
        far_end = net.gateway4 or net.gateway6
        cidrlist = ",".join(str(c) for c in net.remote_cidrs)
        customer: Item = {"id": stable_id("customer-gateway", net.id), "name": net.name, "cidrlist": cidrlist}
        customer |= {"gateway": str(far_end)} if far_end else {}
        connection: Item = {"id": net.id, "s2scustomergatewayid": customer["id"], "cidrlist": cidrlist}
        connection |= {"gateway": str(far_end)} if far_end else {}
        local = _vpc_router_address(topology, net, NetworkKind.PUBLIC)
        connection |= {"publicip": local} if local else {}
        connections.append(connection)
        customers.append(customer)
    return connections, customers
