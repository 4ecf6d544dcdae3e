"""CloudStack's list-command answers for one zone, mapped to the Topology the policy reasons over.

Pure: no I/O. ``responses`` maps each command of ``commands.LIST_COMMANDS`` to its items, already taken
out of their envelopes and pages (listNetworkPermissions' items for every network, concatenated, each
carrying its networkid). The field names read, per response class, are in ``fields``.

What cannot be mapped is reported, never guessed: an object whose owner, network or VPC cannot be
named, a VM that cannot be reached or whose nics cannot all be placed. The result always validates as
a Topology; messy answers (absent fields, other shapes, duplicate ids) are read as far as they go.

CloudStack's answers do not show the lab (its host link), the bastion, storage networks, an SSVM's
storage interface, or system VMs' public IPv6: ``keep_from`` takes the first three from the topology
being replaced, so that they stay refused to non-admins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sysvmdiag.cloudstack.context import Context, unique_hosts
from sysvmdiag.cloudstack.gateways import read_private_gateways
from sysvmdiag.cloudstack.guests import read_grants, read_networks, read_vpcs
from sysvmdiag.cloudstack.keep import keep_from as keep_parts
from sysvmdiag.cloudstack.list_items import Answers
from sysvmdiag.cloudstack.owners import domain_paths, read_accounts
from sysvmdiag.cloudstack.pods import management_ranges
from sysvmdiag.cloudstack.report import MappingError, MappingReport
from sysvmdiag.cloudstack.routers import read_routers
from sysvmdiag.cloudstack.systemvms import read_system_vms
from sysvmdiag.cloudstack.tunnels import read_tunnels
from sysvmdiag.cloudstack.values import Item, text
from sysvmdiag.topology.model import Host, Network, Topology, Zone

__all__ = ["MappedZone", "MappingError", "MappingReport", "map_zone"]


@dataclass(frozen=True)
class MappedZone:
    topology: Topology
    report: MappingReport


def map_zone(
    responses: Mapping[str, Any], *, zone: str | None = None, keep_from: Topology | None = None
) -> MappedZone:
    """The zone (by name or id; needed when the answers hold several) as a Topology, and the report.

    With ``keep_from``, the lab settings, bastion and storage networks of that topology are kept.
    """
    report = MappingReport()
    answers = Answers(responses, report)
    chosen = choose_zone(answers.items("listZones"), zone)
    answers.zone_id = text(chosen, "id")
    ctx = _tenants(answers, report)
    hosts = [
        *read_routers(answers.items("listRouters"), ctx),
        *read_system_vms(answers.items("listSystemVms"), ctx),
    ]
    ctx.tunnels.report_unclaimed(report)
    networks = [*ctx.guests.values(), *ctx.gateways.networks.values(), *ctx.vpn_networks.values()]
    networks += ctx.system.networks()
    report.count("zone_network", len(ctx.system.networks()))
    topology = _validated(
        Zone(
            id=text(chosen, "id") or "",
            name=text(chosen, "name") or text(chosen, "id") or "",
            management_ranges=management_ranges(answers.items("listPods"), report),
        ),
        ctx,
        networks,
        unique_hosts(hosts, report),
    )
    if keep_from is not None:
        topology = keep_parts(topology, keep_from, report)
    return MappedZone(topology, report)


def choose_zone(items: list[Item], wanted: str | None) -> Item:
    """The zone asked for (by id or name), or the only one; anything else is an error naming the zones."""
    zones = [item for item in items if text(item, "id")]
    listed = ", ".join(f"{text(z, 'name')} ({text(z, 'id')})" for z in zones) or "none"
    if wanted is not None:
        matches = [z for z in zones if wanted in (text(z, "id"), text(z, "name"))]
        if len(matches) == 1:
            return matches[0]
        problem = "several zones are" if matches else "no zone is"
        raise MappingError(f"{problem} named {wanted!r}; the answers list: {listed}")
    if len(zones) == 1:
        return zones[0]
    if not zones:
        raise MappingError("listZones answered no zone")
    raise MappingError(f"the answers list several zones, choose one by name or id: {listed}")


def _tenants(answers: Answers, report: MappingReport) -> Context:
    """Domains, accounts, VPCs, guest networks, private gateways and VPN connections."""
    domains = domain_paths(answers.items("listDomains"), report)
    directory = read_accounts(answers.items("listAccounts"), domains, report)
    vpcs = read_vpcs(answers.items("listVPCs"), directory, report)
    grants = read_grants(answers.items("listNetworkPermissions", unique=False), directory, report)
    guests = read_networks(answers.items("listNetworks"), grants, directory, vpcs, report)
    gateways = read_private_gateways(
        answers.items("listPrivateGateways"), answers.items("listStaticRoutes"), vpcs, report
    )
    tunnels = read_tunnels(
        answers.items("listVpnConnections"), answers.items("listVpnCustomerGateways"), report
    )
    return Context(directory, vpcs, guests, gateways, tunnels, report)


def _validated(zone: Zone, ctx: Context, networks: list[Network], hosts: list[Host]) -> Topology:
    """The topology; a network whose id another already has is left out (with the VMs on it)."""
    by_id: dict[str, Network] = {}
    for net in networks:
        if net.id in by_id:
            ctx.report.skip("network", net.id, net.name, "its id is already taken by another network")
            continue
        by_id[net.id] = net
    kept = [host for host in hosts if _fits(host, by_id, ctx.report)]
    try:
        return Topology(
            zone=zone,
            accounts=tuple(ctx.directory.accounts.values()),
            vpcs=tuple(ctx.vpcs.values()),
            networks=tuple(by_id.values()),
            hosts=tuple(kept),
        )
    except ValidationError as err:  # every reference is checked above: this would be a mapping bug
        raise MappingError(f"the mapped zone does not validate: {err}") from err


def _fits(host: Host, networks: dict[str, Network], report: MappingReport) -> bool:
    for iface in host.interfaces:
        net = networks.get(iface.network)
        if net is None or not all(net.contains(addr) for addr in iface.addresses):
            report.skip(
                host.kind.value, host.uuid, host.name, f"interface {iface.name} fits no mapped network"
            )
            return False
    return True
