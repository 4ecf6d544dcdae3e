"""The lab's topology file, and variants of it, for the policy tests (no lab needed)."""

from __future__ import annotations

from typing import Any

from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, Role, Topology, load_topology

LAB = load_topology(DEFAULT_TOPOLOGY_FILE)

# A domain admin whose subtree (ROOT/globex) holds bob and carol but not alice.
GLOBEX_ADMIN = Caller(account_id="acct-globex-admin", role=Role.DOMAIN_ADMIN, domain="ROOT/globex")


def caller(name: str) -> Caller:
    """A caller for an account of the lab (by name), or the out-of-tree domain admin."""
    if name == "globex-admin":
        return GLOBEX_ADMIN
    account = LAB.account(name)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def _variant(change: Any) -> Topology:
    """Re-validate a modified copy of the lab's topology dict, so a variant is as checked as the file."""
    data = LAB.model_dump(mode="json")
    change(data)
    return Topology.model_validate(data)


def _shared_with_bob_only(data: dict) -> None:
    for net in data["networks"]:
        if net["id"] == "net-shared":
            net["shared_with"] = ["acct-bob"]


def _vr_stopped(data: dict) -> None:
    for host in data["hosts"]:
        if host["name"] == "vr":
            host["state"] = "Stopped"


def _vr_without_routes(data: dict) -> None:
    for host in data["hosts"]:
        if host["name"] == "vr":
            host["routes"] = []


def _vr_route_over_control(data: dict) -> None:
    for host in data["hosts"]:
        if host["name"] == "vr":
            host["routes"] = [*host["routes"], {"to": "10.200.0.0/16", "dev": "eth1"}]


VARIANTS: dict[str, Topology] = {
    "lab": LAB,
    "exclusive": _variant(_shared_with_bob_only),
    "stopped": _variant(_vr_stopped),
    "noroute": _variant(_vr_without_routes),
    "ctlroute": _variant(_vr_route_over_control),
}


def _bastion_on_the_host_link(data: dict) -> None:
    """The bastion's SSH address as the running lab reports it (on the host link)."""
    for host in data["hosts"]:
        if host["kind"] == "bastion":
            host["ssh"] = {**host["ssh"], "address": "100.64.254.2"}


LAB_STATE = _variant(_bastion_on_the_host_link)
