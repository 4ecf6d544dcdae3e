"""Generated zones in the topology format, as large as real ones, for the scale tests and benchmarks.

Deterministic for a seed. The shape follows a real CloudStack zone: most isolated networks on their own
/24, a share of them on CloudStack's default guest CIDR 10.1.1.0/24 (tenants overlap), VPCs with tiers,
some with a private gateway and a site-to-site VPN (a few with remote CIDRs wider than a /16), shared
networks dedicated to one account or to a domain, IPv6 on part of them, one VR per implemented isolated
network and one per VPC, an SSVM and a CPVM. Networks beyond the system VMs' budget have no router
(not implemented: no running VM), as in a real zone.

The data never reaches a network: the addresses are only rows in DynamoDB.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import yaml

from sysvmdiag.topology.model import Topology

DEFAULT_CIDR = "10.1.1.0/24"  # CloudStack's default guest CIDR of a zone: many tenants share it
TIERS_PER_VPC = 3
PUBLIC = ipaddress.IPv4Network("198.18.0.0/16")  # benchmark range (RFC 2544)


def _subnets(cidr: str, prefix: int) -> Iterator[ipaddress.IPv4Network]:
    return ipaddress.IPv4Network(cidr).subnets(new_prefix=prefix)


class _ZoneBuilder:
    def __init__(self, accounts: int, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.accounts = self._accounts(accounts)
        self.users = [a for a in self.accounts if a["role"] == "user"]
        self.networks: list[dict[str, Any]] = []
        self.vpcs: list[dict[str, Any]] = []
        self.hosts: list[dict[str, Any]] = []
        self.isolated = _subnets("10.128.0.0/9", 24)
        self.vpc_space = _subnets("10.0.0.0/9", 22)
        self.gateway_space = _subnets("100.64.0.0/10", 24)
        self.public_ips = PUBLIC.hosts()
        next(self.public_ips)  # the public gateway
        self.control_ips = ipaddress.IPv4Network("169.254.0.0/16").hosts()
        next(self.control_ips)  # the bastion
        self.v6 = ipaddress.IPv6Network("2001:db8::/32").subnets(new_prefix=64)

    def uuid(self, kind: str, number: int) -> str:
        return (
            str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            if kind == "random"
            else (f"{kind}-{number:06d}")
        )

    def _accounts(self, count: int) -> list[dict[str, Any]]:
        accounts = [{"id": "acct-admin", "name": "admin", "role": "admin", "domain": "ROOT"}]
        for number in range(1, count):
            domain = f"ROOT/d{number % 97:02d}"
            role = "domain_admin" if number % 97 == 0 else "user"
            accounts.append(
                {"id": f"acct-{number:05d}", "name": f"a{number:05d}", "role": role, "domain": domain}
            )
        return accounts

    def owner(self) -> dict[str, Any]:
        return self.rng.choice(self.users)

    def tenant_network(self, kind: str, cidr: ipaddress.IPv4Network, **extra: Any) -> dict[str, Any]:
        number = len(self.networks)
        network = {
            "id": f"net-{number:06d}",
            "name": f"{kind}-{number}",
            "kind": kind,
            "cidr4": str(cidr),
            "gateway4": str(next(cidr.hosts())),
            **extra,
        }
        if number % 3 == 0:
            cidr6 = next(self.v6)
            network |= {"cidr6": str(cidr6), "gateway6": str(cidr6[1])}
        self.networks.append(network)
        return network


def _infrastructure(zone: _ZoneBuilder) -> None:
    zone.networks += [
        {"id": "net-control", "name": "control", "kind": "control", "cidr4": "169.254.0.0/16"},
        {"id": "net-management", "name": "management", "kind": "management", "cidr4": "172.31.0.0/20"},
        {"id": "net-storage", "name": "storage", "kind": "storage", "cidr4": "172.31.16.0/20"},
        {
            "id": "net-public",
            "name": "public",
            "kind": "public",
            "cidr4": str(PUBLIC),
            "gateway4": str(PUBLIC[1]),
        },
    ]
    zone.hosts.append(
        {
            "name": "bastion",
            "kind": "bastion",
            "interfaces": [{"name": "eth0", "network": "net-control", "ipv4": "169.254.0.1/16"}],
            "ssh": {"port": 22, "user": "root"},
        }
    )


def _guest_interface(guest: dict[str, Any]) -> dict[str, Any]:
    """The router's address on a guest network: its gateway, on both stacks when the network has two."""
    iface = {"network": guest["id"], "ipv4": f"{guest['gateway4']}/{guest['cidr4'].split('/')[1]}"}
    if "cidr6" in guest:
        iface["ipv6"] = f"{guest['gateway6']}/{guest['cidr6'].split('/')[1]}"
    return iface


def _router(zone: _ZoneBuilder, guests: list[dict[str, Any]], owner: str, vpc: str | None) -> None:
    number = len(zone.hosts)
    control = {"network": "net-control", "ipv4": f"{next(zone.control_ips)}/16"}
    public = {"network": "net-public", "ipv4": f"{next(zone.public_ips)}/{PUBLIC.prefixlen}"}
    tenant = [_guest_interface(g) for g in guests]
    ordered = [control, public, *tenant] if vpc else [*tenant[:1], control, public, *tenant[1:]]
    interfaces = [{"name": f"eth{index}", **iface} for index, iface in enumerate(ordered)]
    ssh_interface = next(i["name"] for i in interfaces if i["network"] == "net-control")
    zone.hosts.append(
        {
            "name": f"r-{number}-VM",
            "kind": "vpcvr" if vpc else "vr",
            "uuid": zone.uuid("random", number),
            "vm_name": f"r-{number}-VM",
            "vpc": vpc,
            "owner": owner,
            "interfaces": interfaces,
            "routes": [{"to": "default", "via": str(PUBLIC[1])}],
            "ssh": {"interface": ssh_interface},
        }
    )


def _vpc(zone: _ZoneBuilder, with_router: bool) -> None:
    owner = zone.owner()
    number = len(zone.vpcs)
    cidr = next(zone.vpc_space)
    vpc = {"id": f"vpc-{number:05d}", "name": f"vpc-{number}", "owner": owner["id"], "cidr4": str(cidr)}
    zone.vpcs.append(vpc)
    tiers = [
        zone.tenant_network("vpc_tier", tier, owner=owner["id"], vpc=vpc["id"])
        for tier in list(cidr.subnets(new_prefix=24))[:TIERS_PER_VPC]
    ]
    if number % 10 == 0:
        route = "10.64.0.0/10" if number % 500 == 0 else f"172.{16 + number % 16}.{number % 256}.0/24"
        tiers.append(
            zone.tenant_network(
                "private_gateway", next(zone.gateway_space), owner=owner["id"], vpc=vpc["id"], routes4=[route]
            )
        )
    if with_router:
        _router(zone, tiers, owner["id"], vpc["id"])


def _isolated(zone: _ZoneBuilder, with_router: bool) -> None:
    owner = zone.owner()
    overlapping = len(zone.networks) % 50 == 7  # 2% on the zone's default guest CIDR
    cidr = ipaddress.IPv4Network(DEFAULT_CIDR) if overlapping else next(zone.isolated)
    network = zone.tenant_network("isolated", cidr, owner=owner["id"])
    if with_router:
        _router(zone, [network], owner["id"], None)


def _shared(zone: _ZoneBuilder) -> None:
    owner = zone.owner()
    if len(zone.networks) % 2:
        zone.tenant_network("shared", next(zone.isolated), owner="acct-admin", shared_with=[owner["id"]])
    else:
        zone.tenant_network("shared", next(zone.isolated), owner="acct-admin", shared_domain=owner["domain"])


def _system_vms(zone: _ZoneBuilder) -> None:
    for kind, number in (("ssvm", 1), ("cpvm", 2)):
        zone.hosts.append(
            {
                "name": f"{kind[0]}-{number}-VM",
                "kind": kind,
                "uuid": zone.uuid("random", number),
                "vm_name": f"{kind[0]}-{number}-VM",
                "interfaces": [
                    {"name": "eth0", "network": "net-control", "ipv4": f"{next(zone.control_ips)}/16"},
                    {"name": "eth1", "network": "net-management", "ipv4": f"172.31.0.{10 + number}/20"},
                    {"name": "eth2", "network": "net-public", "ipv4": f"{next(zone.public_ips)}/16"},
                ],
                "routes": [{"to": "default", "via": str(PUBLIC[1])}],
                "ssh": {"interface": "eth0"},
            }
        )


def generate_zone(
    networks: int, *, system_vms: int | None = None, accounts: int | None = None, seed: int = 1
) -> Topology:
    """A zone of about ``networks`` tenant networks (defaults: a VM per four networks up to 5,000, an
    account per two networks up to 10,000)."""
    system_vms = system_vms if system_vms is not None else max(4, min(5_000, networks // 4))
    accounts = accounts if accounts is not None else max(10, min(10_000, networks // 2))
    zone = _ZoneBuilder(accounts, seed)
    _infrastructure(zone)
    _system_vms(zone)
    while len(zone.networks) - 4 < networks:
        routers_left = len(zone.hosts) - 1 < system_vms  # every host but the bastion is a system VM
        roll = zone.rng.random()
        if roll < 0.2:
            _vpc(zone, routers_left)
        elif roll < 0.93:
            _isolated(zone, routers_left)
        else:
            _shared(zone)
    return Topology.model_validate(
        {
            "zone": {"id": "zone-scale", "name": f"scale-{networks}", "management_ranges": ["172.31.0.0/20"]},
            "accounts": zone.accounts,
            "vpcs": zone.vpcs,
            "networks": zone.networks,
            "hosts": zone.hosts,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print a generated zone in the topology format (YAML)")
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    topology = generate_zone(args.networks, seed=args.seed)
    yaml.safe_dump(topology.model_dump(mode="json", exclude_defaults=True), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
