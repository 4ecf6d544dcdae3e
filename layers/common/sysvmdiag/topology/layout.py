"""How a zone is cut into DynamoDB items so a decision reads a few small ones, whatever the zone's size.

Pure: no I/O. Three kinds of slice, each a :class:`Topology` that validates on its own:

* the **zone** slice: the zone (management ranges), lab settings, the bastion, the networks that are
  not tenant space (public, control, management, storage, and what lies beyond the zone), and the
  *wide* spaces: networks, gateway routes, remote CIDRs and VPC CIDRs wider than a /16 (IPv4) or a
  /56 (IPv6);
* a **VM** slice: the system VM, its tenant networks and its VPC;
* a **space** slice, one per (bucket, network or VPC): the network (or VPC) whose address space
  touches that bucket, with its VPC and the accounts that hold it.

A bucket is the /24 (IPv4) or /64 (IPv6) around an address: the size of one guest network, so a bucket
holds one tenant's network and what routes to it, not a crowd (real zones hand out IPv6 /64s from one
zone prefix, and IPv4 /24s side by side). A space between a bucket and 256 buckets wide (a /16 VPC)
registers in each bucket it covers. A decision reads the VM slice, the zone
slice and every space of the destination's bucket (and, for an IPv6 literal that embeds an IPv4
address, that address's bucket): every network, route and remote CIDR that may hold the destination,
whoever's it is, since guest CIDRs overlap between tenants and the policy judges by the VM's own path.

Slices carry accounts by their tenancy facts only (id, role, domain), the facts CloudStack never changes
for an existing account; names live in the accounts table. So a renamed account rewrites one item, and
changing one network rewrites its spaces (at most 256 per CIDR, one for a guest network) and its
routers' VM items. The one crowd left is tenants sharing a CIDR (CloudStack's default 10.1.1.0/24):
each has a space in that bucket, and a decision toward it reads them all (in one Query page up to
about 3,000 of them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sysvmdiag.policy.destinations import embedded_ipv4
from sysvmdiag.policy.paths import gateway_cidrs
from sysvmdiag.policy.tenancy import TENANT_KINDS
from sysvmdiag.toolargs import OptionError, canonical_destination
from sysvmdiag.topology.model import (
    Account,
    Host,
    IPAddress,
    IPNetwork,
    LabSettings,
    Network,
    Topology,
    Vpc,
    Zone,
)

BUCKET_PREFIX = {4: 24, 6: 64}
MAX_SPREAD_BITS = 8  # a space up to 2**8 buckets wide registers in each; a wider one is a zone fact


def dump_json(value: Any) -> str:
    """Compact JSON, the form slices are stored in (smaller items, cheaper reads)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def digest(text: str) -> str:
    """A short content hash: the loader rewrites only items whose content changed."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- buckets ----------------------------------------------------------------------------------------


def buckets(cidr: IPNetwork) -> list[str] | None:
    """The buckets a CIDR registers under, or None when it is too wide for that (kept on the zone)."""
    width = BUCKET_PREFIX[cidr.version]
    if cidr.prefixlen >= width:
        return [str(cidr.supernet(new_prefix=width))]
    if width - cidr.prefixlen > MAX_SPREAD_BITS:
        return None
    return [str(subnet) for subnet in cidr.subnets(new_prefix=width)]


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
    names: list[str] = []
    for each in addresses:
        name = str(ipaddress.ip_network((each, BUCKET_PREFIX[each.version]), strict=False))
        if name not in names:
            names.append(name)
    return names


def network_spaces(network: Network) -> tuple[IPNetwork, ...]:
    """Every address space a network stands for: its CIDRs, and what its gateway leads to."""
    return (*network.cidrs, *gateway_cidrs(network))


def _is_zone_network(network: Network) -> bool:
    """Kept on the zone slice: not tenant space, or a space wider than a bucket."""
    if network.kind not in TENANT_KINDS:
        return True
    return any(buckets(cidr) is None for cidr in network_spaces(network))


def _is_zone_vpc(vpc: Vpc) -> bool:
    return vpc.cidr4 is not None and buckets(vpc.cidr4) is None


# -- slices -----------------------------------------------------------------------------------------


def _tenancy_facts(account: Account) -> Account:
    return Account(id=account.id, name=account.id, role=account.role, domain=account.domain)


class SliceIndex:
    """The zone's VPCs and accounts by id, built once for all its slices."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.vpcs = {vpc.id: vpc for vpc in topology.vpcs}
        self.accounts = {account.id: _tenancy_facts(account) for account in topology.accounts}


class _SliceBuilder:
    """Collects networks and VPCs, and the accounts they name, into one Topology."""

    def __init__(self, index: SliceIndex) -> None:
        self._index = index
        self.networks: dict[str, Network] = {}
        self.vpcs: dict[str, Vpc] = {}
        self.account_ids: set[str] = set()

    def add_network(self, network: Network) -> None:
        self.networks[network.id] = network
        self.name(network.owner, *network.shared_with)
        if network.vpc is not None:
            self.add_vpc(self._index.vpcs[network.vpc])

    def add_vpc(self, vpc: Vpc) -> None:
        self.vpcs[vpc.id] = vpc
        self.name(vpc.owner)

    def name(self, *account_ids: str | None) -> None:
        self.account_ids |= {a for a in account_ids if a is not None}

    def build(self, hosts: Iterable[Host] = (), *, zone_fields: bool = False) -> Topology:
        topology = self._index.topology
        # A slice names networks other slices hold, so it is built unchecked from checked parts;
        # the merged context is validated whole when a decision reads it.
        return Topology.model_construct(
            version=topology.version,
            lab=topology.lab if zone_fields else None,
            zone=topology.zone,
            accounts=tuple(
                self._index.accounts[a] for a in sorted(self.account_ids) if a in self._index.accounts
            ),
            vpcs=tuple(self.vpcs[v] for v in sorted(self.vpcs)),  # the same item whatever the input order
            networks=tuple(self.networks[n] for n in sorted(self.networks)),
            hosts=tuple(hosts),
        )


def zone_slice(topology: Topology, index: SliceIndex | None = None) -> Topology:
    builder = _SliceBuilder(index or SliceIndex(topology))
    for network in topology.networks:
        if _is_zone_network(network):
            builder.add_network(network)
    for vpc in topology.vpcs:
        if _is_zone_vpc(vpc):
            builder.add_vpc(vpc)
    hosts = [host for host in topology.hosts if host.kind.value == "bastion"]
    return builder.build(hosts, zone_fields=True)


def vm_slice(topology: Topology, vm: Host, index: SliceIndex | None = None) -> Topology:
    """The VM with its tenant networks and VPC; the zone's own networks come from the zone slice."""
    index = index or SliceIndex(topology)
    builder = _SliceBuilder(index)
    for iface in vm.interfaces:
        network = topology.network(iface.network)
        if not _is_zone_network(network):
            builder.add_network(network)
    if vm.vpc is not None:
        builder.add_vpc(index.vpcs[vm.vpc])
    builder.name(vm.owner)
    return builder.build([vm])


def spaces(topology: Topology, index: SliceIndex | None = None) -> Iterator[tuple[str, str, Topology]]:
    """(bucket, entry id, slice) for every network and VPC that is not a zone fact, once per bucket."""
    index = index or SliceIndex(topology)
    for network in topology.networks:
        if _is_zone_network(network):
            continue
        builder = _SliceBuilder(index)
        builder.add_network(network)
        piece = builder.build()
        names = {name for cidr in network_spaces(network) for name in buckets(cidr) or ()}
        for name in sorted(names):
            yield name, f"NETWORK#{network.id}", piece
    for vpc in topology.vpcs:
        if vpc.cidr4 is None or _is_zone_vpc(vpc):
            continue
        builder = _SliceBuilder(index)
        builder.add_vpc(vpc)
        piece = builder.build()
        for name in buckets(vpc.cidr4) or ():
            yield name, f"VPC#{vpc.id}", piece


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


@dataclass(frozen=True)
class _Parsed:
    """One stored slice, parsed and validated object by object."""

    version: int
    zone: Zone
    lab: LabSettings | None
    objects: dict[str, tuple[Any, ...]]


_KEYS = (
    ("accounts", Account, "id"),
    ("vpcs", Vpc, "id"),
    ("networks", Network, "id"),
    ("hosts", Host, "name"),
)


@functools.lru_cache(maxsize=16_384)
def _parse_stored(text: str) -> _Parsed:
    """A stored slice's objects, parsed once per warm process: its JSON text is its identity (the same
    text is the same content), so a crowded bucket's hundred networks are validated on first sight only."""
    data = json.loads(text)
    return _Parsed(
        version=data.get("version", 1),
        zone=Zone.model_validate(data["zone"]),
        lab=LabSettings.model_validate(data["lab"]) if data.get("lab") else None,
        objects={key: tuple(model.model_validate(o) for o in data.get(key, ())) for key, model, _ in _KEYS},
    )


def merge_stored(texts: Iterable[str]) -> Topology:
    """The stored slices (JSON texts the loader wrote from one validated zone) as one Topology.

    Each object is validated when parsed; the whole is assembled without re-checking references, which
    the loader checked on the zone they were cut from.
    """
    parts = [_parse_stored(text) for text in texts]
    if not parts:
        raise ValueError("no slices to merge")
    fields: dict[str, Any] = {"version": parts[0].version, "zone": parts[0].zone, "lab": None}
    for part in parts:
        fields["lab"] = part.lab or fields["lab"]
    for key, _, id_field in _KEYS:
        objects = {getattr(obj, id_field): obj for part in parts for obj in part.objects[key]}
        fields[key] = tuple(objects[name] for name in sorted(objects))
    return Topology.model_construct(**fields)


def decision_slice(
    topology: Topology, vm_ref: str, destination: IPAddress | str | None, also: Sequence[str] = ()
) -> Topology:
    """What the store returns for a decision about ``vm_ref`` toward ``destination``, computed in memory:
    the zone slice, the VM's, and every space of the destination's buckets."""
    index = SliceIndex(topology)
    parts = [zone_slice(topology, index)]
    with contextlib.suppress(KeyError):
        parts.append(vm_slice(topology, topology.system_vm(vm_ref), index))
    wanted = {b for d in (destination, *also) for b in destination_buckets(d)}
    if wanted:
        parts.extend(piece for name, _, piece in spaces(topology, index) if name in wanted)
    return merge(parts)
