"""Who may read what of a system VM's own state (POST /diagnostics/data), and what a non-admin sees.

Pure: no I/O. Admins read any system VM whole: addresses, routes, rules, neighbours, iptables and log
tails. Anyone else reads a router it may target (rule 2) and only its addresses, routes, rules and
neighbours, each cut to what is the caller's:

- an interface is shown when it is on the public network or on a network the caller has (never the
  control link, never a multi-tenant shared network, never another tenant's tier);
- a route or an ip rule is shown when its device is such an interface and every prefix it names is the
  default route or lies inside that interface's own network, the caller's gateway routes or VPC;
- a neighbour is shown only when the caller could ping it from this VM out of that very interface
  (the whole probing policy decides), so nothing is learnt that a probe could not tell.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sysvmdiag.policy.decision import decide, target_vm, vm_label
from sysvmdiag.policy.paths import gateway_cidrs
from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.policy.refusals import Denied
from sysvmdiag.policy.tenancy import Caller, Reach, vm_networks
from sysvmdiag.state_document import VmState
from sysvmdiag.topology.model import Host, IPNetwork, NetworkKind, Topology
from sysvmdiag.vmstate import LOG_NAMES, PARTS, StateRequest, state_request

TENANT_PARTS = ("addresses", "routes", "rules", "neighbours")


@dataclass(frozen=True)
class StateDecision:
    """Whether the caller may read this VM's state, and exactly which parts and logs will be read."""

    allowed: bool
    code: ReasonCode | None
    message: str
    vm_uuid: str | None = None
    request: StateRequest | None = None
    detail_code: ReasonCode | None = None
    detail: str | None = None


def _parts_for(caller: Caller, label: str, parts: list[str], logs: list[str]) -> StateRequest:
    """The request (a caller naming nothing gets all it may read); a part beyond the role is refused."""
    if not parts and not logs:
        parts, logs = (list(PARTS), list(LOG_NAMES)) if caller.is_admin else (list(TENANT_PARTS), [])
    request = state_request(parts, logs)  # names are the API model's literals: unknown ones never get here
    beyond = [p for p in request.parts if p not in TENANT_PARTS] + [f"log:{n}" for n in request.logs]
    if beyond and not caller.is_admin:
        raise Denied(
            ReasonCode.STATE_PART_ADMIN_ONLY,
            f"Only admins may read {', '.join(beyond)} of {label}; you may read "
            f"{', '.join(TENANT_PARTS)} of your own networks.",
        )
    return request


def decide_state(
    caller: Caller, vm_ref: str, parts: list[str], logs: list[str], topology: Topology
) -> StateDecision:
    """Allow or deny reading a VM's state; a denial names its reason as ``decide`` does (rule 7)."""
    reach = Reach(caller, topology)
    try:
        vm = target_vm(reach, vm_ref)
        request = _parts_for(caller, vm_label(vm), parts, logs)
    except Denied as denied:
        shown = denied.code is not ReasonCode.TARGET_NOT_FOUND
        return StateDecision(
            allowed=False,
            code=denied.code,
            message=denied.detail if caller.is_admin else denied.message,
            vm_uuid=topology.system_vm(vm_ref).uuid if shown else None,
            detail_code=denied.detail_code,
            detail=denied.detail,
        )
    return StateDecision(
        allowed=True,
        code=None,
        message=f"reading {request.names()} of {vm_label(vm)}",
        vm_uuid=vm.uuid,
        request=request,
    )


@dataclass(frozen=True)
class _Scope:
    """The interfaces a non-admin sees on this VM, and the prefixes each may name."""

    caller: Caller
    vm: Host
    topology: Topology
    prefixes: dict[str, tuple[IPNetwork, ...]]

    def shows_prefix(self, devices: list[str], text: str | None, length: int | None = None) -> bool:
        """Every device one of the caller's, and the prefix the default or inside one of theirs."""
        if not devices or any(dev not in self.prefixes for dev in devices):
            return False
        if text in (None, "all", "default"):
            return True
        try:
            prefix = ipaddress.ip_network(
                f"{text}/{length}" if length is not None else str(text), strict=False
            )
        except ValueError:
            return False
        return any(
            prefix.version == own.version and prefix.subnet_of(own)  # type: ignore[arg-type]
            for dev in devices
            for own in self.prefixes[dev]
        )

    def shows_neighbour(self, dev: str | None, address: str | None) -> bool:
        if dev not in self.prefixes or address is None:
            return False
        decision = decide(self.caller, self.vm.uuid or self.vm.name, "ping", address, None, self.topology)
        return decision.allowed and decision.egress_interface == dev


def _scope(caller: Caller, vm: Host, topology: Topology) -> _Scope:
    reach = Reach(caller, topology)
    vpcs = {vpc.id: vpc for vpc in topology.vpcs}
    prefixes: dict[str, tuple[IPNetwork, ...]] = {}
    for name, net in vm_networks(vm, topology).items():
        if net.kind is not NetworkKind.PUBLIC and not reach.has_network(net):
            continue
        own: list[IPNetwork] = [*net.cidrs, *gateway_cidrs(net)]
        vpc = vpcs.get(net.vpc or "")
        if vpc is not None and vpc.cidr4 is not None and reach.has_vpc(vpc.id):
            own.append(vpc.cidr4)
        prefixes[name] = tuple(own)
    return _Scope(caller, vm, topology, prefixes)


def _rule_shown(scope: _Scope, rule: dict[str, Any]) -> bool:
    """A rule naming devices is judged on them; one naming none (``from 10.1.1.0/24``) on any of the
    caller's interfaces."""
    named = [rule[key] for key in ("iif", "oif") if key in rule]
    if any(dev not in scope.prefixes for dev in named):
        return False
    candidates = named or list(scope.prefixes)
    return all(
        any(scope.shows_prefix([dev], rule.get(key), rule.get(f"{key}len")) for dev in candidates)
        for key in ("src", "dst")
        if key in rule
    ) and bool(candidates)


def scope_state(caller: Caller, vm: Host, topology: Topology, state: VmState) -> VmState:
    """What the caller may see of the state read from ``vm``: all of it for admins (see module doc)."""
    if caller.is_admin:
        return state
    scope = _scope(caller, vm, topology)
    return state.with_parts(
        addresses=_kept(state.addresses, lambda a: a.get("ifname") in scope.prefixes),
        routes=_kept(state.routes, lambda r: scope.shows_prefix([r.get("dev", "")], r.get("dst"))),
        rules=_kept(state.rules, lambda rule: _rule_shown(scope, rule)),
        neighbours=_kept(state.neighbours, lambda n: scope.shows_neighbour(n.get("dev"), n.get("dst"))),
        iptables=None,
        logs=(),
    )


def _kept(items: list[dict[str, Any]] | None, keep: Any) -> list[dict[str, Any]] | None:
    return None if items is None else [item for item in items if keep(item)]
