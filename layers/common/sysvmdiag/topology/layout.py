"""How a zone is cut into DynamoDB items so a decision reads a few small ones, whatever the zone's size.

Pure: no I/O. Three kinds of slice, each a :class:`Topology` that validates on its own:

* the **zone** slice: the zone (management ranges), lab settings, the bastion, the networks that are
  not tenant space (public, control, management, storage, and what lies beyond the zone), and the
  *wide* spaces: networks, gateway routes, remote CIDRs and VPC CIDRs wider than a bucket;
* a **VM** slice: the system VM, its tenant networks and its VPC;
* a **space** slice, one per (bucket, network or VPC): the network (or VPC) whose address space
  touches that bucket, with its VPC and the accounts that hold it.

A bucket is the /16 (IPv4) or /48 (IPv6) around an address. A decision reads the VM slice, the zone
slice and every space of the destination's bucket (and, for an IPv6 literal that embeds an IPv4
address, that address's bucket): every network, route and remote CIDR that may hold the destination,
whoever's it is, since guest CIDRs overlap between tenants and the policy judges by the VM's own path.

Slices carry accounts by their tenancy facts only (id, role, domain), the facts CloudStack never changes
for an existing account; names live in the accounts table. So a renamed account rewrites one item, and
changing one network rewrites its spaces (one per bucket its CIDRs touch) and its routers' VM items.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sysvmdiag.policy.destinations import embedded_ipv4
from sysvmdiag.policy.paths import gateway_cidrs
from sysvmdiag.policy.tenancy import TENANT_KINDS
from sysvmdiag.toolargs import OptionError, canonical_destination
from sysvmdiag.topology.model import Account, Host, IPAddress, IPNetwork, Network, Topology, Vpc

BUCKET_PREFIX = {4: 16, 6: 48}


def dump_json(value: Any) -> str:
    """Compact JSON, the form slices are stored in (smaller items, cheaper reads)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def digest(text: str) -> str:
    """A short content hash: the loader rewrites only items whose content changed."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- buckets ----------------------------------------------------------------------------------------


def bucket(cidr: IPNetwork) -> str | None:
    """The bucket a CIDR registers under, or None when it is wider than a bucket (kept on the zone)."""
    width = BUCKET_PREFIX[cidr.version]
    if cidr.prefixlen < width:
        return None
    return str(cidr.supernet(new_prefix=width))


def destination_buckets(destination: IPAddress | str | None) -> list[str]:
    """The buckets that may hold a destination: its own, and the IPv4 one it embeds (if any). A text
    that is no address (the policy refuses it before looking) has none."""
    if destination is None:
        return []
    if isinstance(destination, str):
        try:
            address = canonical_destination(destination)
        except OptionError:
            return []
    else:
        address = destination
    addresses = [address]
    embedded = embedded_ipv4(address)
    if embedded is not None:
        addresses.append(embedded)
    buckets: list[str] = []
    for each in addresses:
        name = bucket(ipaddress.ip_network((each, BUCKET_PREFIX[each.version]), strict=False))
        if name is not None and name not in buckets:
            buckets.append(name)
    return buckets


def network_spaces(network: Network) -> tuple[IPNetwork, ...]:
    """Every address space a network stands for: its CIDRs, and what its gateway leads to."""
    return (*network.cidrs, *gateway_cidrs(network))


def _is_zone_network(network: Network) -> bool:
    """Kept on the zone slice: not tenant space, or a space wider than a bucket."""
    if network.kind not in TENANT_KINDS:
        return True
    return any(bucket(cidr) is None for cidr in network_spaces(network))


def _is_zone_vpc(vpc: Vpc) -> bool:
    return vpc.cidr4 is not None and bucket(vpc.cidr4) is None


# -- slices -----------------------------------------------------------------------------------------


def _tenancy_facts(account: Account) -> Account:
    return Account(id=account.id, name=account.id, role=account.role, domain=account.domain)


class _SliceBuilder:
    """Collects networks and VPCs, and the accounts they name, into one valid Topology."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._vpcs = {vpc.id: vpc for vpc in topology.vpcs}
        self.networks: dict[str, Network] = {}
        self.vpcs: dict[str, Vpc] = {}
        self.account_ids: set[str] = set()

    def add_network(self, network: Network) -> None:
        self.networks[network.id] = network
        self._name(network.owner, *network.shared_with)
        if network.vpc is not None:
            self.add_vpc(self._vpcs[network.vpc])

    def add_vpc(self, vpc: Vpc) -> None:
        self.vpcs[vpc.id] = vpc
        self._name(vpc.owner)

    def _name(self, *account_ids: str | None) -> None:
        self.account_ids |= {a for a in account_ids if a is not None}

    def build(self, hosts: Iterable[Host] = (), *, zone_fields: bool = False) -> Topology:
        accounts = tuple(_tenancy_facts(a) for a in self._topology.accounts if a.id in self.account_ids)
        # A slice names networks other slices hold, so it is built unchecked from checked parts;
        # the merged context is validated whole when a decision reads it.
        return Topology.model_construct(
            version=self._topology.version,
            lab=self._topology.lab if zone_fields else None,
            zone=self._topology.zone,
            accounts=accounts,
            vpcs=tuple(self.vpcs.values()),
            networks=tuple(self.networks.values()),
            hosts=tuple(hosts),
        )


def zone_slice(topology: Topology) -> Topology:
    builder = _SliceBuilder(topology)
    for network in topology.networks:
        if _is_zone_network(network):
            builder.add_network(network)
    for vpc in topology.vpcs:
        if _is_zone_vpc(vpc):
            builder.add_vpc(vpc)
    hosts = [host for host in topology.hosts if host.kind.value == "bastion"]
    return builder.build(hosts, zone_fields=True)


def vm_slice(topology: Topology, vm: Host) -> Topology:
    """The VM with its tenant networks and VPC; the zone's own networks come from the zone slice."""
    builder = _SliceBuilder(topology)
    for iface in vm.interfaces:
        network = topology.network(iface.network)
        if not _is_zone_network(network):
            builder.add_network(network)
    if vm.vpc is not None:
        builder.add_vpc(next(v for v in topology.vpcs if v.id == vm.vpc))
    builder._name(vm.owner)
    return builder.build([vm])


def spaces(topology: Topology) -> Iterator[tuple[str, str, Topology]]:
    """(bucket, entry id, slice) for every network and VPC narrower than a bucket, once per bucket."""
    for network in topology.networks:
        if _is_zone_network(network):
            continue
        for name in sorted({bucket(cidr) for cidr in network_spaces(network)} - {None}):
            builder = _SliceBuilder(topology)
            builder.add_network(network)
            yield str(name), f"NETWORK#{network.id}", builder.build()
    for vpc in topology.vpcs:
        if vpc.cidr4 is None or _is_zone_vpc(vpc):
            continue
        builder = _SliceBuilder(topology)
        builder.add_vpc(vpc)
        yield str(bucket(vpc.cidr4)), f"VPC#{vpc.id}", builder.build()


# -- assembling a decision's context ------------------------------------------------------------------


def merge(slices: Iterable[Topology | dict[str, Any]]) -> Topology:
    """One Topology holding every object of several slices of the same zone (JSON dicts or models)."""
    parts = [s.model_dump(mode="json", exclude_none=True) if isinstance(s, Topology) else s for s in slices]
    if not parts:
        raise ValueError("no slices to merge")
    merged: dict[str, Any] = {"version": parts[0].get("version", 1), "zone": parts[0]["zone"]}
    for part in parts:
        if part.get("lab"):
            merged["lab"] = part["lab"]
    for key, id_field in (("accounts", "id"), ("vpcs", "id"), ("networks", "id"), ("hosts", "name")):
        objects: dict[str, Any] = {}
        for part in parts:
            objects.update((obj[id_field], obj) for obj in part.get(key, ()))
        merged[key] = [objects[name] for name in sorted(objects)]  # the same order however read
    return Topology.model_validate(merged)


def decision_slice(topology: Topology, vm_ref: str, destination: IPAddress | str | None) -> Topology:
    """What the store returns for a decision about ``vm_ref`` toward ``destination``, computed in memory:
    the zone slice, the VM's, and every space of the destination's buckets."""
    parts = [zone_slice(topology)]
    with contextlib.suppress(KeyError):
        parts.append(vm_slice(topology, topology.system_vm(vm_ref)))
    wanted = set(destination_buckets(destination))
    if wanted:
        parts.extend(piece for name, _, piece in spaces(topology) if name in wanted)
    return merge(parts)
