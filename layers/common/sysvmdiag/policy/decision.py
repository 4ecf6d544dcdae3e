"""The access policy: may this caller run this test on this system VM toward this destination?

Pure: no I/O. It reasons over a :class:`~sysvmdiag.topology.model.Topology` that is either the whole
zone or the slice the store returns for one VM. The order of the checks is part of the rules: the
target first (a VM the caller may not use answers like one that does not exist), then the destination
and the options, then the path the probe would take (see ``tenancy``, ``destinations``, ``egress``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sysvmdiag.policy.destinations import check_destination
from sysvmdiag.policy.egress import check_path
from sysvmdiag.policy.paths import Egress, Via, choose_egress
from sysvmdiag.policy.reasons import ReasonCode
from sysvmdiag.policy.refusals import Denied, not_found
from sysvmdiag.policy.tenancy import Caller, Reach, vm_networks
from sysvmdiag.toolargs import (
    OPTION_OUT_OF_BOUNDS,
    TOOLS,
    OptionError,
    ToolInvocation,
    canonical_destination,
    parse_params,
    tool_family,
    works_on_link_only,
)
from sysvmdiag.topology.model import Host as Vm
from sysvmdiag.topology.model import HostKind, IPAddress, NetworkKind, Topology

__all__ = ["Caller", "Decision", "allowed_egress_kinds", "choose_egress", "decide", "may_target"]

_KIND_NAMES = {HostKind.SSVM: "secondary storage VM", HostKind.CPVM: "console proxy VM"}
# The neighbour tools' own refusals: the wrong IP version, and a destination off every connected link.
_WRONG_FAMILY = {"arping": ReasonCode.ARPING_IPV4_ONLY, "ndisc": ReasonCode.NDISC_IPV6_ONLY}
_NOT_ON_LINK = {"arping": ReasonCode.ARPING_NOT_ON_LINK, "ndisc": ReasonCode.NDISC_NOT_ON_LINK}


@dataclass(frozen=True)
class Decision:
    """The verdict, and when allowed, exactly what runs where and for how long at most.

    ``code`` and ``message`` are what the caller is told; ``detail_code`` and ``detail`` are the precise
    reason for admins and the audit trail (the same as code and message unless they name more).
    """

    allowed: bool
    code: ReasonCode | None
    message: str
    vm_uuid: str | None = None
    egress_interface: str | None = None
    egress_kind: str | None = None
    invocation: ToolInvocation | None = None
    worst_case_seconds: float | None = None
    detail_code: ReasonCode | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": self.code.value if self.code else None,
            "message": self.message,
            "detail_code": self.detail_code.value if self.detail_code else None,
            "detail": self.detail,
            "vm_uuid": self.vm_uuid,
            "egress_interface": self.egress_interface,
            "egress_kind": self.egress_kind,
            "argv": self.invocation.argv() if self.invocation else None,
            "command_line": self.invocation.command_line() if self.invocation else None,
            "worst_case_seconds": self.worst_case_seconds,
        }


def may_target(caller: Caller, vm: Vm, topology: Topology) -> bool:
    """Admins: any system VM. Others: a VR or VPC VR serving a network they have (rule 2)."""
    return Reach(caller, topology).may_target(vm)


def allowed_egress_kinds(caller: Caller, vm: Vm, topology: Topology) -> list[str]:
    """The network kinds this caller may send probes out of on this VM (for ``GET /systemvms``)."""
    reach = Reach(caller, topology)
    if not reach.may_target(vm):
        return []
    kinds = {
        net.kind.value
        for net in vm_networks(vm, topology).values()
        if caller.is_admin or net.kind is NetworkKind.PUBLIC or reach.has_network(net)
    }
    return sorted(kinds)


def vm_label(vm: Vm) -> str:
    return f"{vm.vm_name} ({vm.kind.value})" if vm.vm_name else vm.name


def target_vm(reach: Reach, vm_ref: str) -> Vm:
    """The VM, if it exists and the caller may use it (else TARGET_NOT_FOUND either way), and is Running."""
    try:
        vm = reach.topology.system_vm(vm_ref)
    except KeyError:
        raise Denied(ReasonCode.TARGET_NOT_FOUND, not_found(vm_ref)) from None
    label = vm_label(vm)
    if not reach.may_target(vm):
        if vm.kind in _KIND_NAMES:
            code = ReasonCode.SYSTEM_VM_KIND_ADMIN_ONLY
            why = f"{label} is a {_KIND_NAMES[vm.kind]}; only root admins may run diagnostics on it."
        else:
            code = ReasonCode.TARGET_NOT_OWNED
            why = f"{label} serves no network the caller's account has (or, for a domain admin, its domain)."
        raise Denied(ReasonCode.TARGET_NOT_FOUND, not_found(vm_ref), why, detail_code=code)
    if vm.state != "Running":
        raise Denied(
            ReasonCode.VM_NOT_RUNNING, f"{label} is {vm.state}, not Running; start it before probing from it."
        )
    return vm


def _invocation(test: str, destination: str, params: str | None) -> tuple[IPAddress, ToolInvocation]:
    """The destination (canonical, rule 5) and the options, checked only once the VM is the caller's."""
    try:
        address = canonical_destination(destination)
    except OptionError as err:
        raise Denied(ReasonCode.INVALID_DESTINATION, err.message) from None
    family = tool_family(test)
    if family is not None and address.version != family:
        raise Denied(
            _WRONG_FAMILY[test], f"{test} works on IPv{family} only; {address} is IPv{address.version}."
        )
    try:
        invocation = parse_params(test, params, str(address))
    except OptionError as err:
        code = ReasonCode.OPTION_OUT_OF_BOUNDS if err.code == OPTION_OUT_OF_BOUNDS else ReasonCode(err.code)
        raise Denied(code, err.message) from None
    return address, invocation


def _bind(vm: Vm, test: str, invocation: ToolInvocation, egress: Egress, admin: bool) -> ToolInvocation:
    """The interface the tool runs on: the path's, or an admin's choice of another (not for the
    neighbour tools, arping and ndisc, which only ever ask on the destination's own link)."""
    label = vm_label(vm)
    chosen = invocation.interface
    on_link = works_on_link_only(test)
    if chosen is not None and chosen != egress.interface.name:
        known = {iface.name for iface in vm.interfaces}
        if not admin or on_link or chosen not in known:
            raise Denied(
                ReasonCode.INTERFACE_NOT_ALLOWED,
                f"{test} toward {invocation.destination} on {label} must use interface "
                f"{egress.interface.name}, not {chosen}.",
            )
    if on_link:
        if egress.via is not Via.CONNECTED:
            raise Denied(
                _NOT_ON_LINK[test],
                f"{invocation.destination} is not on a subnet connected to {label}; {test} only reaches "
                f"neighbours on the same link (it would be routed out of {egress.interface.name}).",
            )
        return invocation.with_interface(egress.interface.name)
    return invocation


def _allowed(reach: Reach, vm: Vm, test: str, invocation: ToolInvocation, egress: Egress) -> Decision:
    """Rule 6: the answer names the interface the tool is bound to, and that interface's network."""
    interface = invocation.interface or egress.interface.name
    network = vm_networks(vm, reach.topology).get(interface, egress.network)
    named = reach.caller.is_admin or reach.has_network(network)
    where = f"{network.kind.value} network {network.name}" if named else f"{network.kind.value} network"
    return Decision(
        allowed=True,
        code=None,
        message=f"{test} from {vm_label(vm)} toward {invocation.destination} is allowed, out of "
        f"{interface} ({where}).",
        vm_uuid=vm.uuid,
        egress_interface=interface,
        egress_kind=network.kind.value,
        invocation=invocation,
        worst_case_seconds=invocation.worst_case_seconds,
    )


def _decide(
    caller: Caller, vm_ref: str, test: str, destination: str, params: str | None, topology: Topology
) -> Decision:
    if test not in TOOLS:
        raise Denied(ReasonCode.INVALID_TEST, f"{test!r} is not a test; choose one of {', '.join(TOOLS)}.")
    reach = Reach(caller, topology)
    vm = target_vm(reach, vm_ref)
    address, invocation = _invocation(test, destination, params)
    if not caller.is_admin:
        check_destination(vm, address, topology)
    egress = choose_egress(vm, address, topology)
    if egress is None:
        raise Denied(ReasonCode.NO_ROUTE, f"{vm_label(vm)} has no route toward {address}.")
    if not caller.is_admin:
        check_path(reach, address, egress, vm_label(vm))
    invocation = _bind(vm, test, invocation, egress, caller.is_admin)
    return _allowed(reach, vm, test, invocation, egress)


def decide(
    caller: Caller, vm_ref: str, test: str, destination: str, params: str | None, topology: Topology
) -> Decision:
    """Allow or deny one diagnostic run; a denial carries a reason code and a sentence naming why.

    Admins are told the detail; anyone else the sentence that names nothing they do not cover.
    """
    try:
        return _decide(caller, vm_ref, test, destination, params, topology)
    except Denied as denied:
        vm_uuid = None
        if denied.code is not ReasonCode.TARGET_NOT_FOUND:  # a VM the caller may not use stays unnamed
            with contextlib.suppress(KeyError):
                vm_uuid = topology.system_vm(vm_ref).uuid
        return Decision(
            allowed=False,
            code=denied.code,
            message=denied.detail if caller.is_admin else denied.message,
            vm_uuid=vm_uuid,
            detail_code=denied.detail_code,
            detail=denied.detail,
        )
