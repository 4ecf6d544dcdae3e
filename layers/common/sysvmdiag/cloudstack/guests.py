"""Tenant networks and VPCs (listNetworks, listNetworkPermissions, listVPCs) as topology objects.

Pure. Who holds a network decides what the policy lets anyone do on it, so ownership is never guessed:
a network whose owner (or any account it is granted to) cannot be named is left out and reported. A
domain-wide shared network (acltype Domain) is held by its domain; a guest network granted to further
accounts by network permissions is multi-tenant in fact, and is mapped as a shared one.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from sysvmdiag.cloudstack.owners import Directory
from sysvmdiag.cloudstack.report import MappingReport, Skip
from sysvmdiag.cloudstack.values import Item, address, flag, network, network_of, text
from sysvmdiag.topology.model import DEFAULT_MTU, Network, NetworkKind, Vpc, mtu_problem

_UNKNOWN_GRANT = ""  # a permission for an account that cannot be named


def read_vpcs(items: list[Item], directory: Directory, report: MappingReport) -> dict[str, Vpc]:
    vpcs: dict[str, Vpc] = {}
    for item in items:
        item_id, name = text(item, "id"), text(item, "name")
        if item_id is None:
            report.skip("vpc", None, name, "no id")
            continue
        owner, why = directory.owner(item)
        if owner is None:
            report.skip("vpc", item_id, name, f"VPC {why}")
            continue
        cidr = network(text(item, "cidr"))
        cidr4 = cidr if isinstance(cidr, ipaddress.IPv4Network) else None
        vpcs[item_id] = Vpc(id=item_id, name=name or item_id, owner=owner, cidr4=cidr4)
    report.count("vpc", len(vpcs))
    return vpcs


def read_grants(items: list[Item], directory: Directory, report: MappingReport) -> dict[str, set[str]]:
    """Network id -> the accounts network permissions grant it to (an unnameable one as "")."""
    grants: dict[str, set[str]] = defaultdict(set)
    for item in items:
        network_id = text(item, "networkid")
        if network_id is None:
            report.skip("network_permission", None, text(item, "account"), "names no network")
            continue
        account_id = text(item, "accountid")
        if account_id not in directory.accounts:
            account_id, _ = directory.owner(item)
        grants[network_id].add(account_id or _UNKNOWN_GRANT)
    return grants


def read_networks(
    items: list[Item],
    grants: dict[str, set[str]],
    directory: Directory,
    vpcs: dict[str, Vpc],
    report: MappingReport,
) -> dict[str, Network]:
    networks: dict[str, Network] = {}
    for item in items:
        try:
            mapped = _network(item, grants, directory, vpcs, report)
        except Skip as skip:
            report.skip("network", text(item, "id"), text(item, "name"), str(skip))
            continue
        networks[mapped.id] = mapped
    report.count("network", len(networks))
    return networks


def _network(
    item: Item, grants: dict[str, set[str]], directory: Directory, vpcs: dict[str, Vpc], report: MappingReport
) -> Network:
    item_id = text(item, "id")
    if item_id is None:
        raise Skip("no id")
    traffic = text(item, "traffictype")
    if traffic is not None and traffic != "Guest":
        raise Skip(f"a {traffic} network: the zone's own networks are read from the VMs' nics")
    vpc = text(item, "vpcid")
    if vpc is not None and vpc not in vpcs:
        raise Skip(f"its VPC {vpc} is not mapped")
    ranges = _ranges(item)
    if ranges["cidr4"] is None and ranges["cidr6"] is None:
        kind = text(item, "type") or "guest"
        raise Skip(f"{kind} network without addresses (no cidr, ip6cidr, or gateway and netmask)")
    tenancy = _tenancy(item, item_id, grants.get(item_id, set()), directory, report)
    name = text(item, "name") or item_id
    mtu = _mtu(item, item_id, ipv6=ranges["cidr6"] is not None, report=report)
    return Network(id=item_id, name=name, vpc=vpc, mtu=mtu, **ranges, **tenancy)


def _mtu(item: Item, item_id: str, *, ipv6: bool, report: MappingReport) -> int | None:
    """The network's MTU: privatemtu, what CloudStack (4.18 on) sets on the network's VR interfaces.
    One the topology cannot hold is left out with a note; the network is mapped all the same. 1500,
    which CloudStack reports for every network left at its default, is the topology's unset MTU: a
    first sync from such a CloudStack changes no network."""
    value = text(item, "privatemtu")
    if value is None:
        return None
    try:
        mtu: int | None = int(value)
    except ValueError:
        mtu = None
    problem = "not an integer" if mtu is None else mtu_problem(mtu, ipv6=ipv6)
    if problem is not None:
        report.note(f"network {item_id}: privatemtu {value} left out ({problem})")
        return None
    return None if mtu == DEFAULT_MTU else mtu


def _ranges(item: Item) -> dict[str, object]:
    """cidr4 (the whole range with IP reservation: networkcidr), cidr6 and the gateways."""
    cidr4 = network(text(item, "networkcidr")) or network(text(item, "cidr"))
    cidr4 = cidr4 or network_of(text(item, "gateway"), text(item, "netmask"))
    cidr6 = network(text(item, "ip6cidr"))
    gateway4, gateway6 = address(text(item, "gateway")), address(text(item, "ip6gateway"))
    return {
        "cidr4": cidr4 if isinstance(cidr4, ipaddress.IPv4Network) else None,
        "cidr6": cidr6 if isinstance(cidr6, ipaddress.IPv6Network) else None,
        "gateway4": gateway4 if isinstance(gateway4, ipaddress.IPv4Address) else None,
        "gateway6": gateway6 if isinstance(gateway6, ipaddress.IPv6Address) else None,
    }


def _tenancy(
    item: Item, item_id: str, granted: set[str], directory: Directory, report: MappingReport
) -> dict[str, object]:
    """kind, owner, shared_with, shared_domain and subdomain_access of one guest network."""
    if _UNKNOWN_GRANT in granted:
        raise Skip("a network permission names an account that is not among the mapped accounts")
    kind = _kind(item)
    if (text(item, "acltype") or "").lower() == "domain":
        scope = directory.path(text(item, "domainid"))
        if scope is None:
            raise Skip(f"shared with domain {text(item, 'domainid')}, which cannot be placed")
        return {
            "kind": NetworkKind.SHARED,
            "shared_domain": scope,
            "subdomain_access": flag(item, "subdomainaccess"),
            "shared_with": tuple(sorted(granted)),
        }
    owner, why = directory.owner(item)
    if owner is None:
        raise Skip(f"network {why}")
    shared_with = tuple(sorted(granted - {owner}))
    if shared_with and kind is not NetworkKind.SHARED:
        report.note(f"network {item_id}: granted to {len(shared_with)} more account(s), mapped as shared")
        kind = NetworkKind.SHARED
    return {"kind": kind, "owner": owner, "shared_with": shared_with}


def _kind(item: Item) -> NetworkKind:
    guest_type = (text(item, "type") or "").lower()
    if guest_type == "shared":
        return NetworkKind.SHARED
    if guest_type in ("isolated", "l2"):
        return NetworkKind.VPC_TIER if text(item, "vpcid") else NetworkKind.ISOLATED
    raise Skip(f"type {text(item, 'type')!r} is not Isolated, Shared or L2")
