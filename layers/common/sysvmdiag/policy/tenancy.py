"""Who has what (rules 1 and 2 of the policy): the accounts each network serves, and what a caller covers.

Pure: no I/O. A network *belongs* to a non-admin only when exactly one account has it and the caller
covers that account; a shared network used by two or more accounts (or by none) belongs to no
non-admin, whoever owns it. Everything the policy asks about tenancy goes through :class:`Reach`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sysvmdiag.topology.model import (
    ROUTER_VM_KINDS,
    Host,
    Network,
    NetworkKind,
    Role,
    Topology,
    Vpc,
    domain_contains,
)

# Networks that carry the cloud's own traffic: never a non-admin's destination or egress.
INFRASTRUCTURE_KINDS = frozenset({NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE})
# Networks whose address space belongs to tenants (their holders), as opposed to the zone's own.
TENANT_KINDS = frozenset(
    {
        NetworkKind.ISOLATED,
        NetworkKind.VPC_TIER,
        NetworkKind.SHARED,
        NetworkKind.PRIVATE_GATEWAY,
        NetworkKind.VPN_GATEWAY,
    }
)


@dataclass(frozen=True)
class Caller:
    """Who asks: the account, its role and its domain path (ROOT/acme/...)."""

    account_id: str
    role: Role
    domain: str

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _tenant(account_id: str | None, topology: Topology) -> str | None:
    """The account as a holder, or None for an admin (or system) account, which holds nothing."""
    if account_id is None:
        return None
    try:
        account = topology.account(account_id)
    except KeyError:
        return account_id  # unknown to this slice: still somebody, so never nobody's space
    return None if account.role is Role.ADMIN else account.id


def network_holders(network: Network, topology: Topology) -> frozenset[str]:
    """Rule 1: the accounts with VMs on a network: its owner (unless admin) plus, if shared, its sharers."""
    accounts = {network.owner}
    if network.kind is NetworkKind.SHARED:
        accounts |= set(network.shared_with)
    holders = (_tenant(account, topology) for account in accounts)
    return frozenset(h for h in holders if h is not None)


def vpc_holders(vpc: Vpc, topology: Topology) -> frozenset[str]:
    owner = _tenant(vpc.owner, topology)
    return frozenset({owner}) if owner else frozenset()


def is_multi_tenant(network: Network, topology: Topology) -> bool:
    """A shared network that is not dedicated to exactly one account: shared with a domain (which may
    gain accounts at any time), or held by two or more accounts, or by none (zone-wide ones)."""
    if network.kind is not NetworkKind.SHARED:
        return False
    return network.shared_domain is not None or len(network_holders(network, topology)) != 1


def domain_scope_reaches(network: Network, domain: str, *, below: bool) -> bool:
    """Whether accounts of ``domain`` (or, with ``below``, of its subtree) may use a domain-wide shared
    network: the network's domain itself, or one under it when it grants subdomain access."""
    scope = network.shared_domain
    if scope is None:
        return False
    if domain.strip("/") == scope.strip("/"):
        return True
    if network.subdomain_access and domain_contains(scope, domain):
        return True
    return below and domain_contains(domain, scope)


@dataclass
class Reach:
    """What one caller covers in one topology: its own account or, for a domain admin, its subtree."""

    caller: Caller
    topology: Topology
    _covered: dict[str, bool] = field(default_factory=dict, repr=False)

    def covers(self, account_id: str) -> bool:
        if account_id not in self._covered:
            self._covered[account_id] = self._compute_covers(account_id)
        return self._covered[account_id]

    def _compute_covers(self, account_id: str) -> bool:
        if self.caller.is_admin or account_id == self.caller.account_id:
            return True
        if self.caller.role is not Role.DOMAIN_ADMIN:
            return False
        try:
            account = self.topology.account(account_id)
        except KeyError:
            return False
        return domain_contains(self.caller.domain, account.domain)

    def owns(self, holders: frozenset[str]) -> bool:
        """A space is the caller's when exactly one account has it and the caller covers that account."""
        if self.caller.is_admin:
            return True
        return len(holders) == 1 and self.covers(next(iter(holders)))

    def has_network(self, network: Network) -> bool:
        if network.kind not in TENANT_KINDS:
            return False
        if self.caller.is_admin:
            return True
        holders = network_holders(network, self.topology)
        return not is_multi_tenant(network, self.topology) and self.owns(holders)

    def has_vpc(self, vpc_id: str | None) -> bool:
        vpc = self._vpcs.get(vpc_id or "")
        return vpc is not None and self.owns(vpc_holders(vpc, self.topology))

    def is_holder(self, network: Network) -> bool:
        """An account the caller covers has VMs on it, so the caller knows the network exists."""
        if any(self.covers(account) for account in network_holders(network, self.topology)):
            return True
        below = self.caller.role is Role.DOMAIN_ADMIN
        return domain_scope_reaches(network, self.caller.domain, below=below)

    def may_target(self, vm: Host) -> bool:
        """Rule 2: admins any system VM; others a VR or VPC VR serving a network they have."""
        if not vm.is_system_vm:
            return False
        if self.caller.is_admin:
            return True
        if vm.kind not in ROUTER_VM_KINDS:
            return False
        if vm.vpc is not None and self.has_vpc(vm.vpc):
            return True
        return any(self.has_network(network) for network in vm_networks(vm, self.topology).values())

    @cached_property
    def _vpcs(self) -> dict[str, Vpc]:
        return {vpc.id: vpc for vpc in self.topology.vpcs}


def vm_networks(vm: Host, topology: Topology) -> dict[str, Network]:
    """The VM's interfaces by name with the network each is on (a slice may omit some: skipped)."""
    pairs: dict[str, Network] = {}
    for iface in vm.interfaces:
        try:
            pairs[iface.name] = topology.network(iface.network)
        except KeyError:
            continue
    return pairs
