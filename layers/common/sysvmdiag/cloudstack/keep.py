"""What a mapped zone keeps from the topology it replaces: what CloudStack's list commands cannot show.

Pure. The lab settings (its host link), the bastion (the SSH jump host, which is no CloudStack object),
the storage networks (SystemVmResponse has no storage address, and storage IP ranges are not among
the list commands) and IPv6 management ranges (pods are IPv4 only) are infrastructure the policy must
keep refusing to non-admins. The bastion's
interfaces are moved onto the mapped networks that hold their addresses; an interface no mapped network
holds is dropped and reported. Everything else comes from CloudStack.
"""

from __future__ import annotations

from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.topology.model import Host, HostKind, Interface, Network, NetworkKind, Topology


def keep_from(mapped: Topology, existing: Topology, report: MappingReport) -> Topology:
    storage = _storage_networks(mapped, existing, report)
    networks = [*mapped.networks, *storage]
    taken = {host.name for host in mapped.hosts}
    bastions = []
    for host in existing.hosts:
        if host.kind is not HostKind.BASTION:
            continue
        if host.name in taken:
            report.skip("bastion", None, host.name, "a mapped VM has the same name")
            continue
        bastions.append(_rehomed(host, existing, networks, report))
    data = mapped.model_dump(mode="json")
    data["lab"] = existing.lab.model_dump(mode="json") if existing.lab else None
    ipv6_ranges = [str(c) for c in existing.zone.management_ranges if c.version == 6]
    data["zone"]["management_ranges"] += [
        c for c in ipv6_ranges if c not in data["zone"]["management_ranges"]
    ]
    if ipv6_ranges:
        report.note(f"IPv6 management ranges kept from the existing topology: {', '.join(ipv6_ranges)}")
    data["networks"] += [net.model_dump(mode="json") for net in storage]
    data["hosts"] += [host.model_dump(mode="json") for host in bastions]
    return Topology.model_validate(data)


def _storage_networks(mapped: Topology, existing: Topology, report: MappingReport) -> list[Network]:
    ids = {net.id for net in mapped.networks}
    kept = []
    for net in existing.networks:
        if net.kind is not NetworkKind.STORAGE:
            continue
        if net.id in ids or any(net.contains(c.network_address) for m in mapped.networks for c in m.cidrs):
            report.skip("storage_network", net.id, net.name, "its id or range is taken by a mapped network")
            continue
        kept.append(net)
        report.note(
            f"storage network {net.id} kept from the existing topology (CloudStack's list commands lack it)"
        )
    return kept


def _rehomed(host: Host, existing: Topology, networks: list[Network], report: MappingReport) -> Host:
    interfaces = []
    for iface in host.interfaces:
        target = _home(iface, existing, networks)
        if target is None:
            report.skip("bastion", None, f"{host.name}/{iface.name}", "no mapped network holds its addresses")
            continue
        interfaces.append(iface.model_copy(update={"network": target.id}))
    names = {iface.name for iface in interfaces}
    ssh = host.ssh
    if ssh is not None and ssh.interface is not None and ssh.interface not in names:
        ssh = ssh.model_copy(update={"interface": None})
    return host.model_copy(update={"interfaces": tuple(interfaces), "ssh": ssh})


def _home(iface: Interface, existing: Topology, networks: list[Network]) -> Network | None:
    """The mapped network of the same kind that holds every address of the interface (same id first)."""
    try:
        kind = existing.network(iface.network).kind
    except KeyError:
        return None
    fits = [
        net
        for net in networks
        if net.kind is kind and iface.addresses and all(net.contains(addr) for addr in iface.addresses)
    ]
    return next((net for net in fits if net.id == iface.network), fits[0] if fits else None)
