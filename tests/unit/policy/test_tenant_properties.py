"""Properties of issue 10's rules over the lab and the zones of ./zones, whatever the spelling.

A small reference model of the rules (who has a network, which path a destination takes from a VM) is
written here from the issue's text, independently of ``sysvmdiag.policy``; hypothesis then draws
callers, VMs, options and destinations (IPv4, IPv4-mapped IPv6 in several spellings, IPv6) and checks:

(i)   no non-admin run is allowed toward the infrastructure (whatever the path), nor toward an address
      of a multi-tenant shared network or of another account's network, VPC, private-gateway route or
      VPN remote CIDR, unless this VM reaches it on a connected network the caller has or through the
      caller's own VPC gateway (rule 3: judged by the path, because CIDRs overlap);
(ii)  no non-admin refusal names (name, id or CIDR) a network, VPC, host or account the caller does not
      cover, nor the infrastructure (rule 7);
(iii) every allowed non-admin run targets a VR the caller may use (rule 2) and leaves over the public
      network or a network the caller has, never a multi-tenant shared one (rule 4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from sysvmdiag.policy import Caller, decide
from sysvmdiag.topology.model import (
    Host,
    HostKind,
    IPAddress,
    IPNetwork,
    Network,
    NetworkKind,
    Role,
    Topology,
    load_topology,
)
from tests.unit.policy.topologies import GLOBEX_ADMIN, LAB

ZONE_DIR = Path(__file__).parent / "zones"
TOPOLOGIES: dict[str, Topology] = {"lab": LAB}
TOPOLOGIES |= {path.stem: load_topology(path) for path in sorted(ZONE_DIR.glob("*.yaml"))}

INFRA_KINDS = {NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE}
TENANT_KINDS = {
    NetworkKind.ISOLATED,
    NetworkKind.VPC_TIER,
    NetworkKind.SHARED,
    NetworkKind.PRIVATE_GATEWAY,
    NetworkKind.VPN_GATEWAY,
}
# A domain admin of ROOT covers every account, and is still no admin.
ROOT_DOMAIN_ADMIN = Caller(account_id="acct-zz-rootdomadm", role=Role.DOMAIN_ADMIN, domain="ROOT")


# --- the reference model: rules 1-4, from the text ---------------------------------------------


@dataclass(frozen=True)
class Model:
    topology: Topology
    caller: Caller

    def covers(self, account_id: str) -> bool:
        if account_id == self.caller.account_id:
            return True
        if self.caller.role is not Role.DOMAIN_ADMIN:
            return False
        domain = self.topology.account(account_id).domain.strip("/")
        mine = self.caller.domain.strip("/")
        return domain == mine or domain.startswith(mine + "/")

    def holders(self, net: Network) -> set[str]:
        """Rule 1: the owner unless an admin account, plus, for a shared network, its sharers."""
        accounts = set(net.shared_with) if net.kind is NetworkKind.SHARED else set()
        if net.owner is not None and self.topology.account(net.owner).role is not Role.ADMIN:
            accounts.add(net.owner)
        return accounts

    def has(self, net: Network) -> bool:
        """Rule 1: one holder (dedicated, or simply owned), covered by the caller."""
        holders = self.holders(net)
        return net.kind in TENANT_KINDS and len(holders) == 1 and self.covers(next(iter(holders)))

    def knows(self, net: Network) -> bool:
        """The caller covers an account with VMs on it (so naming it would tell nothing new)."""
        return net.kind is NetworkKind.PUBLIC or any(self.covers(a) for a in self.holders(net))

    def is_multi_tenant(self, net: Network) -> bool:
        return net.kind is NetworkKind.SHARED and len(self.holders(net)) != 1

    def has_vpc(self, vpc_id: str | None) -> bool:
        vpc = next((v for v in self.topology.vpcs if v.id == vpc_id), None)
        if vpc is None or self.topology.account(vpc.owner).role is Role.ADMIN:
            return False
        return self.covers(vpc.owner)

    def networks_of(self, vm: Host) -> list[tuple[str, Network]]:
        return [(iface.name, self.topology.network(iface.network)) for iface in vm.interfaces]

    def may_target(self, vm: Host) -> bool:
        """Rule 2: a VR or VPC VR serving a network the caller has (or of the caller's VPC)."""
        if vm.kind not in (HostKind.VR, HostKind.VPCVR):
            return False
        return self.has_vpc(vm.vpc) or any(self.has(net) for _, net in self.networks_of(vm))

    def own_path(self, vm: Host, address: IPAddress) -> bool:
        """Rule 3: on a connected subnet (longest prefix) the caller has, or else through one of the
        VM's VPC gateways the caller has, toward its routes / remote CIDRs."""
        connected = []
        for iface in vm.interfaces:
            prefix = iface.ipv4 if address.version == 4 else iface.ipv6
            if prefix is not None and address in prefix.network:
                connected.append((prefix.network.prefixlen, self.topology.network(iface.network)))
        if connected:
            return self.has(max(connected, key=lambda pair: pair[0])[1])
        through = [
            (cidr.prefixlen, net)
            for _, net in self.networks_of(vm)
            for cidr in gateway_cidrs(net)
            if cidr.version == address.version and address in cidr
        ]
        return bool(through) and self.has(max(through, key=lambda pair: pair[0])[1])

    def tenant_spaces(self) -> list[IPNetwork]:
        """Rule 3: what is not the caller's: multi-tenant shared networks, and every network, VPC,
        private-gateway route and VPN remote CIDR of an account the caller does not cover."""
        spaces: list[IPNetwork] = []
        for net in self.topology.networks:
            if net.kind in TENANT_KINDS and not self.has(net):
                spaces += [*net.cidrs, *gateway_cidrs(net)]
        spaces += [v.cidr4 for v in self.topology.vpcs if v.cidr4 and not self.has_vpc(v.id)]
        return spaces


def gateway_cidrs(net: Network) -> tuple[IPNetwork, ...]:
    if net.kind is NetworkKind.PRIVATE_GATEWAY:
        return net.routes4
    if net.kind is NetworkKind.VPN_GATEWAY:
        return net.remote_cidrs
    return ()


def infrastructure(topology: Topology) -> list[IPNetwork]:
    """Never a non-admin's destination: management ranges, control/management/storage networks, the
    bastion's addresses and the lab's host link."""
    spaces = list(topology.zone.management_ranges)
    spaces += [c for net in topology.networks if net.kind in INFRA_KINDS for c in net.cidrs]
    for bastion in (host for host in topology.hosts if host.kind is HostKind.BASTION):
        addresses = [a for iface in bastion.interfaces for a in iface.addresses]
        if bastion.ssh is not None and bastion.ssh.address is not None:
            addresses.append(bastion.ssh.address)
        spaces += [ipaddress.ip_network(address) for address in addresses]
    if topology.lab is not None:
        spaces += [topology.lab.host_link.host.network, topology.lab.host_link.bastion.network]
    return spaces


INFRASTRUCTURE = {key: infrastructure(topology) for key, topology in TOPOLOGIES.items()}


def inside(address: IPAddress, spaces: list[IPNetwork]) -> bool:
    return any(space.version == address.version and address in space for space in spaces)


# --- who asks, from where --------------------------------------------------------------------------


def non_admins(topology: Topology) -> list[Caller]:
    callers = [Caller(a.id, a.role, a.domain) for a in topology.accounts if a.role is not Role.ADMIN]
    callers.append(ROOT_DOMAIN_ADMIN)
    if topology is LAB:
        callers.append(GLOBEX_ADMIN)
    return callers


@dataclass(frozen=True)
class Scene:
    """One non-admin, one system VM (by one of its refs) in one topology, and what the model says."""

    key: str
    caller: Caller
    ref: str
    model: Model
    vm: Host
    targetable: bool
    others: tuple[IPNetwork, ...]  # the tenant spaces that are not the caller's
    pools: tuple[IPNetwork, ...]  # where destinations are drawn from: infrastructure, others, the VM's

    @property
    def topology(self) -> Topology:
        return TOPOLOGIES[self.key]


def _scenes() -> list[Scene]:
    scenes = []
    for key, topology in TOPOLOGIES.items():
        for caller in non_admins(topology):
            model = Model(topology, caller)
            others = tuple(model.tenant_spaces())
            for vm in topology.system_vms():
                own = [p.network for i in vm.interfaces for p in (i.ipv4, i.ipv6) if p is not None]
                pools = (*INFRASTRUCTURE[key], *others, *own)
                for ref in (r for r in (vm.name, vm.vm_name, vm.uuid) if r):
                    scenes.append(Scene(key, caller, ref, model, vm, model.may_target(vm), others, pools))
    return scenes


SCENES = _scenes()
TARGETABLE = [scene for scene in SCENES if scene.targetable]
HIDDEN = [scene for scene in SCENES if not scene.targetable]
assert len({(s.key, s.caller.account_id) for s in TARGETABLE}) >= 30

PARAMS = [
    None,
    "",
    "-c 1",
    "-c 2 -i 0.5",
    "-n -w 5",
    "-4",
    "-6",
    "-c1",
    "-W 10 -c 20",
    "-m 5 -q 1",
    "-T -p 22",
    "-I",
    *[f"{flag} {iface}" for flag in ("-I", "-i") for iface in ("eth0", "eth1", "eth2", "eth3", "vpn0")],
    "-I 10.1.1.1",
    "-f",
    "-b",
    "-l 3",
    "--",
    "-c 3; reboot",
    "$(id)",
    "-c 99",
    "-s 65000",
    "-c 8 -i 9",
    "-c 8 -i 9 -w 60",
    "-i eth0 -i eth1",
]
TESTS = ["ping", "traceroute", "arping"]
# Options each tool accepts, drawn more often than the rest so that many draws reach the path checks.
USUAL = {
    "ping": [None, "-c 1", "-c 2 -i 0.5", "-n -w 5", "-W 2"],
    "traceroute": [None, "-m 5 -q 1", "-n", "-T -p 22"],
    "arping": [None, "-c 1", "-w 3"],
}


def options(data: st.DataObject, test: str) -> str | None:
    return data.draw(st.sampled_from(USUAL[test] if data.draw(st.integers(0, 9)) < 7 else PARAMS))


# Most draws are of VMs the caller may target by the model: that is where an allow could slip.
scenes = st.one_of(st.sampled_from(TARGETABLE), st.sampled_from(TARGETABLE), st.sampled_from(SCENES))


def address_in(data: st.DataObject, networks: tuple[IPNetwork, ...] | list[IPNetwork]) -> IPAddress:
    """An address of one of the networks: near its start or end (the edges), or anywhere."""
    network = data.draw(st.sampled_from(networks))
    last = network.num_addresses - 1
    where = data.draw(st.sampled_from(["start", "end", "any"]))
    if where == "start":
        return network[data.draw(st.integers(0, min(last, 300)))]
    if where == "end":
        return network[data.draw(st.integers(max(0, last - 3), last))]
    return network[data.draw(st.integers(0, last))]


def spell(data: st.DataObject, address: IPAddress) -> str:
    """IPv4 as is and IPv4-mapped (dotted, upper case, hex, exploded); IPv6 compressed and exploded."""
    if address.version == 6:
        return data.draw(st.sampled_from([str(address), address.exploded, address.exploded.upper()]))
    packed = int(address)
    high, low = packed >> 16, packed & 0xFFFF
    return data.draw(
        st.sampled_from(
            [
                str(address),
                f"::ffff:{address}",
                f"::FFFF:{address}",
                f"0:0:0:0:0:ffff:{address}",
                f"::ffff:{high:x}:{low:x}",
                f"0000:0000:0000:0000:0000:FFFF:{high:04X}:{low:04X}",
            ]
        )
    )


def destination(data: st.DataObject, scene: Scene) -> tuple[IPAddress, str]:
    """An address of the infrastructure, of others' spaces, of the VM's own subnets, or anywhere."""
    source = data.draw(st.sampled_from(["pools", "pools", "pools", "v4", "v6"]))
    if source == "pools":
        address = address_in(data, scene.pools)
    else:
        address = data.draw(st.ip_addresses(v=4 if source == "v4" else 6))
    return address, spell(data, address)


def canonical(text: str) -> IPAddress:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- (i) and (iii): what a non-admin is allowed -----------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), scene=scenes, test=st.sampled_from(TESTS))
def test_no_non_admin_run_reaches_infrastructure_or_another_tenant(
    data: st.DataObject, scene: Scene, test: str
) -> None:
    params = options(data, test)
    _, spelled = destination(data, scene)
    decision = decide(scene.caller, scene.ref, test, spelled, params, scene.topology)
    event(f"{decision.code or 'allowed'}")
    if not decision.allowed:
        return
    address = canonical(spelled)
    event(f"allowed inside another's space: {inside(address, scene.others)}")
    assert str(address) == decision.invocation.destination  # rule 5: judged and run as IPv4
    assert not inside(address, INFRASTRUCTURE[scene.key]), decision.to_dict()
    if inside(address, scene.others):
        assert scene.model.own_path(scene.vm, address), decision.to_dict()
    # (iii) rule 2: only a VR the caller may use; rule 4: out over public or a network it has
    assert scene.targetable, decision.to_dict()
    egress = scene.topology.network(scene.vm.interface(decision.egress_interface).network)
    assert egress.kind is NetworkKind.PUBLIC or scene.model.has(egress), decision.to_dict()
    assert not scene.model.is_multi_tenant(egress)


@settings(max_examples=800, deadline=None)
@given(data=st.data(), scene=scenes, test=st.sampled_from(TESTS))
def test_infrastructure_is_never_a_non_admin_destination_whatever_the_spelling(
    data: st.DataObject, scene: Scene, test: str
) -> None:
    params = options(data, test)
    spelled = spell(data, address_in(data, INFRASTRUCTURE[scene.key]))
    decision = decide(scene.caller, scene.ref, test, spelled, params, scene.topology)
    assert not decision.allowed, decision.to_dict()


def _has_multi_tenant(scene: Scene) -> bool:
    return any(scene.model.is_multi_tenant(net) for net in scene.topology.networks)


@settings(max_examples=800, deadline=None)
@given(
    data=st.data(),
    scene=st.sampled_from([s for s in TARGETABLE if _has_multi_tenant(s)]),
    test=st.sampled_from(TESTS),
)
def test_multi_tenant_shared_networks_are_nobodys_destination(
    data: st.DataObject, scene: Scene, test: str
) -> None:
    """Rule 3, for every non-admin, its owner and domain admins above all its holders included."""
    params = options(data, test)
    shared = [c for net in scene.topology.networks if scene.model.is_multi_tenant(net) for c in net.cidrs]
    address = address_in(data, shared)
    decision = decide(scene.caller, scene.ref, test, spell(data, address), params, scene.topology)
    event(f"{decision.code or 'allowed'}")
    if decision.allowed:  # only where its own connected network (or gateway route) has the same CIDR
        assert scene.model.own_path(scene.vm, address), decision.to_dict()


# --- (ii): what a non-admin is told when refused ------------------------------------------------------

COMMON_WORDS = {"public", "internet", "transit", "storage", "management", "control", "shared", "isolated"}


def _distinctive(needle: str) -> bool:
    return len(needle) >= 6 and needle.lower() not in COMMON_WORDS


def _network_strings(net: Network) -> Iterator[str]:
    yield from (net.id, net.name)
    yield from (str(c) for c in (*net.cidrs, *gateway_cidrs(net)))


def secrets(topology: Topology, caller: Caller) -> set[str]:
    """Names, ids and CIDRs of what the caller does not cover (less any the caller's own share)."""
    model = Model(topology, caller)
    hidden: set[str] = set()
    known: set[str] = set()
    for net in topology.networks:
        (known if model.knows(net) and net.kind not in INFRA_KINDS else hidden).update(_network_strings(net))
    for vpc in topology.vpcs:
        strings = {vpc.id, vpc.name, str(vpc.cidr4)}
        (known if model.has_vpc(vpc.id) else hidden).update(strings)
    for host in topology.hosts:
        mine = (host.is_system_vm and model.may_target(host)) or (host.owner and model.covers(host.owner))
        (known if mine else hidden).update(ref for ref in (host.name, host.vm_name, host.uuid) if ref)
    for account in topology.accounts:
        covered = account.role is not Role.ADMIN and model.covers(account.id)
        (known if covered else hidden).update({account.id, account.name})
    hidden |= {str(cidr) for cidr in topology.zone.management_ranges}
    if topology.lab is not None:
        hidden |= {str(topology.lab.host_link.host.network), str(topology.lab.host_link.host)}
    return {needle for needle in hidden - known if _distinctive(needle)}


SECRETS = {(s.key, s.caller.account_id): secrets(s.topology, s.caller) for s in SCENES}


def test_the_secrets_are_meaningful() -> None:
    """The leak property below checks something: every caller has secrets, its own are not among them."""
    assert all(SECRETS.values())
    assert "net-zzb-uma-pgw" in SECRETS[("overlapping_routes", "acct-zzb-tara")]
    assert "10.80.4.0/22" in SECRETS[("overlapping_routes", "acct-zzb-tara")]
    assert "10.1.1.0/24" not in SECRETS[("overlapping_routes", "acct-zzb-walt")]  # walt's own (and xena's)
    assert "fd00:5a5a:1::/48" in SECRETS[("management_ranges", "acct-zzc-ivy")]
    assert "zzc-bastion" in SECRETS[("management_ranges", "acct-zzc-ivy")]
    assert "dave-isolated" in SECRETS[("lab", "acct-alice")]
    assert "alice-isolated" not in SECRETS[("lab", "acct-alice")]
    assert "net-management" in SECRETS[("lab", ROOT_DOMAIN_ADMIN.account_id)]


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), scene=scenes, test=st.sampled_from(TESTS))
def test_no_non_admin_refusal_names_what_the_caller_does_not_cover(
    data: st.DataObject, scene: Scene, test: str
) -> None:
    params = options(data, test)
    _, spelled = destination(data, scene)
    decision = decide(scene.caller, scene.ref, test, spelled, params, scene.topology)
    event(f"{decision.code or 'allowed'}")
    if decision.allowed:
        return
    message = decision.message.lower()
    given_by_caller = f"{scene.ref} {spelled} {params or ''}".lower()
    secrets_ = SECRETS[(scene.key, scene.caller.account_id)]
    leaked = [s for s in secrets_ if s.lower() in message and s.lower() not in given_by_caller]
    assert not leaked, (leaked, decision.message)


@settings(max_examples=500, deadline=None)
@given(
    data=st.data(),
    scene=st.sampled_from(HIDDEN),
    test=st.sampled_from(TESTS),
    params=st.sampled_from(PARAMS),
    missing=st.sampled_from(["r-31337-VM", "zz-no-such-vm", "5a0e0000-0000-4000-8000-ffffffffffff"]),
)
def test_a_vm_the_caller_may_not_use_is_answered_like_a_missing_one(
    data: st.DataObject, scene: Scene, test: str, params: str | None, missing: str
) -> None:
    """Rule 7, and rule 2 seen from outside: whatever the destination and options."""
    _, spelled = destination(data, scene)
    hidden = decide(scene.caller, scene.ref, test, spelled, params, scene.topology)
    absent = decide(scene.caller, missing, test, spelled, params, scene.topology)
    assert (hidden.code, hidden.vm_uuid, hidden.allowed) == (absent.code, absent.vm_uuid, absent.allowed)
    assert hidden.message == absent.message.replace(missing, scene.ref)
