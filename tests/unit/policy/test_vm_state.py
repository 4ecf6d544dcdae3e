"""Reading a VM's own state: who may, which parts, and what a tenant sees of a VR shared with another.

Zone (a) breaks the naive versions: zz-multi-vr serves pat's and quinn's networks, so "the caller may
target the VR, show it all" leaks quinn's interface, routes and neighbours to pat; "show the caller's
interfaces" still leaks a route toward quinn's space laid over the public interface, and an ip rule
naming quinn's subnet with no device.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sysvmdiag.policy import Caller, ReasonCode
from sysvmdiag.policy.vm_state import TENANT_PARTS, decide_state, scope_state
from sysvmdiag.state_document import LogTail, VmState
from sysvmdiag.topology.model import load_topology
from sysvmdiag.vmstate import LOG_NAMES, PARTS
from tests.unit.policy.topologies import LAB, caller

ZONE = load_topology(Path(__file__).parent / "zones" / "multi_tenant_vr.yaml")
MULTI_VR = "5a0e0000-0000-4000-8000-0000000a0101"


def zone_caller(name: str) -> Caller:
    account = ZONE.account(f"zza-{name}")
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def _link(name: str, *addresses: tuple[str, int]) -> dict:
    family = {4: "inet", 6: "inet6"}
    return {
        "ifname": name,
        "addr_info": [
            {"family": family[4 if ":" not in a else 6], "local": a, "prefixlen": n} for a, n in addresses
        ],
    }


# What `ip -j ...` prints on zz-multi-vr (pat's eth0, control eth1, public eth2, quinn's eth3).
MULTI_VR_STATE = VmState(
    addresses=[
        _link("lo", ("127.0.0.1", 8)),
        _link("eth0", ("10.61.0.1", 24), ("2001:db8:61::1", 64)),
        _link("eth1", ("169.254.1.10", 16)),
        _link("eth2", ("203.0.113.10", 24)),
        _link("eth3", ("10.62.0.1", 24), ("2001:db8:62::1", 64)),
    ],
    routes=[
        {"dst": "default", "gateway": "203.0.113.1", "dev": "eth2"},
        {"dst": "10.61.0.0/24", "dev": "eth0", "protocol": "kernel"},
        {"dst": "169.254.0.0/16", "dev": "eth1", "protocol": "kernel"},
        {"dst": "203.0.113.0/24", "dev": "eth2", "protocol": "kernel"},
        {"dst": "10.62.0.0/24", "dev": "eth3", "protocol": "kernel"},
        {"dst": "172.31.200.0/24", "gateway": "169.254.0.1", "dev": "eth1"},
        {"dst": "10.62.0.128/25", "gateway": "203.0.113.1", "dev": "eth2"},  # quinn's space, over public
        {"type": "local", "dst": "10.61.0.1", "dev": "eth0", "table": "local"},
        {"type": "local", "dst": "10.62.0.1", "dev": "eth3", "table": "local"},
        {"type": "unreachable", "dst": "10.99.0.0/16"},  # no device: nobody's interface
        {"dst": "not-a-prefix", "dev": "eth0"},
    ],
    rules=[
        {"priority": 0, "src": "all", "table": "local"},
        {"priority": 100, "src": "10.61.0.0", "srclen": 24, "table": "101"},
        {"priority": 101, "src": "10.62.0.0", "srclen": 24, "table": "102"},  # quinn's, no device
        {"priority": 102, "iif": "eth3", "table": "102"},
        {"priority": 103, "iif": "eth0", "dst": "10.62.0.0", "dstlen": 24, "table": "main"},
        {"priority": 32766, "src": "all", "table": "main"},
    ],
    neighbours=[
        {"dst": "10.61.0.50", "dev": "eth0", "lladdr": "02:00:00:00:61:50", "state": ["REACHABLE"]},
        {"dst": "10.62.0.50", "dev": "eth3", "lladdr": "02:00:00:00:62:50", "state": ["REACHABLE"]},
        {"dst": "169.254.0.1", "dev": "eth1", "lladdr": "02:00:00:00:00:01", "state": ["REACHABLE"]},
        {"dst": "203.0.113.1", "dev": "eth2", "lladdr": "02:00:00:00:13:01", "state": ["STALE"]},
        {"dst": "fe80::1", "dev": "eth0", "lladdr": "02:00:00:00:61:01", "state": ["STALE"]},
        {"dst": "10.62.0.50", "dev": "eth0", "lladdr": "02:00:00:00:62:51", "state": ["FAILED"]},
    ],
    iptables="*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
    logs=(LogTail("cloud", "/var/log/cloud.log", True, "quinn's router reconfigured\n", False),),
)


def _names(items: list[dict] | None, key: str) -> list[str]:
    assert items is not None
    return [str(item.get(key)) for item in items]


def test_an_admin_sees_everything() -> None:
    vm = ZONE.system_vm(MULTI_VR)
    assert scope_state(zone_caller("root"), vm, ZONE, MULTI_VR_STATE) == MULTI_VR_STATE


@pytest.mark.parametrize("who", ["pat", "quinn", "quinnadm"])
def test_a_tenant_sees_its_own_interfaces_and_public_only(who: str) -> None:
    own = "eth0" if who == "pat" else "eth3"
    seen = scope_state(zone_caller(who), ZONE.system_vm(MULTI_VR), ZONE, MULTI_VR_STATE)
    assert _names(seen.addresses, "ifname") == sorted([own, "eth2"])
    assert {r.get("dev") for r in seen.routes or []} <= {own, "eth2"}
    assert all(n["dev"] in (own, "eth2") for n in seen.neighbours or [])
    assert seen.iptables is None and seen.logs == ()


def test_pat_sees_none_of_quinns_space_whatever_the_interface() -> None:
    seen = scope_state(zone_caller("pat"), ZONE.system_vm(MULTI_VR), ZONE, MULTI_VR_STATE)
    assert _names(seen.routes, "dst") == ["default", "10.61.0.0/24", "203.0.113.0/24", "10.61.0.1"]
    assert [r["priority"] for r in seen.rules or []] == [0, 100, 32766]
    assert _names(seen.neighbours, "dst") == ["10.61.0.50", "203.0.113.1"]


def test_quinn_sees_its_own_and_not_pats() -> None:
    seen = scope_state(zone_caller("quinn"), ZONE.system_vm(MULTI_VR), ZONE, MULTI_VR_STATE)
    # quinn's own space, but laid over the public interface: a prefix is judged by its device's network
    assert _names(seen.routes, "dst") == ["default", "203.0.113.0/24", "10.62.0.0/24", "10.62.0.1"]
    assert _names(seen.neighbours, "dst") == ["10.62.0.50", "203.0.113.1"]
    assert [r["priority"] for r in seen.rules or []] == [0, 101, 102, 32766]


def test_a_part_not_read_stays_unread() -> None:
    only_routes = VmState(routes=MULTI_VR_STATE.routes)
    seen = scope_state(zone_caller("pat"), ZONE.system_vm(MULTI_VR), ZONE, only_routes)
    assert seen.addresses is None and seen.neighbours is None and seen.routes


def test_the_lab_vr_hides_its_control_link_from_alice() -> None:
    vr = LAB.system_vm("r-4-VM")
    state = VmState(
        addresses=[_link("eth0", ("10.1.1.1", 24)), _link("eth1", ("169.254.1.10", 16))],
        neighbours=[{"dst": "169.254.0.1", "dev": "eth1"}, {"dst": "10.1.1.20", "dev": "eth0"}],
    )
    seen = scope_state(caller("alice"), vr, LAB, state)
    assert _names(seen.addresses, "ifname") == ["eth0"]
    assert _names(seen.neighbours, "dst") == ["10.1.1.20"]


# -- who may read which parts ------------------------------------------------------------------------

R = ReasonCode


@pytest.mark.parametrize(
    ("who", "vm", "parts", "logs", "code"),
    [
        ("root", MULTI_VR, [], [], None),
        ("pat", MULTI_VR, [], [], None),
        ("pat", MULTI_VR, ["routes"], [], None),
        ("pat", MULTI_VR, ["iptables"], [], R.STATE_PART_ADMIN_ONLY),
        ("pat", MULTI_VR, ["routes"], ["cloud"], R.STATE_PART_ADMIN_ONLY),
        ("rae", MULTI_VR, ["routes"], [], R.TARGET_NOT_FOUND),
        ("quinn", "5a0e0000-0000-4000-8000-0000000a0103", [], [], R.VM_NOT_RUNNING),
        ("pat", "5a0e0000-0000-4000-8000-0000000a0103", [], [], R.TARGET_NOT_FOUND),
        ("pat", "no-such-vm", [], [], R.TARGET_NOT_FOUND),
    ],
)
def test_who_may_read_what(who: str, vm: str, parts: list[str], logs: list[str], code: ReasonCode) -> None:
    decision = decide_state(zone_caller(who), vm, parts, logs, ZONE)
    assert decision.code is code
    assert decision.allowed is (code is None)


def test_naming_nothing_reads_all_the_caller_may() -> None:
    admin = decide_state(zone_caller("root"), MULTI_VR, [], [], ZONE).request
    user = decide_state(zone_caller("pat"), MULTI_VR, [], [], ZONE).request
    assert admin is not None and (admin.parts, admin.logs) == (PARTS, LOG_NAMES)
    assert user is not None and (user.parts, user.logs) == (TENANT_PARTS, ())


def test_a_refusal_names_no_vm_the_caller_may_not_use() -> None:
    hidden = decide_state(zone_caller("rae"), MULTI_VR, [], [], ZONE)
    assert hidden.vm_uuid is None and "r-101-VM" not in hidden.message
    assert hidden.detail_code is R.TARGET_NOT_OWNED


def test_the_secondary_storage_vm_is_admins_only() -> None:
    ssvm = next(h for h in LAB.hosts if h.kind == "ssvm")
    assert decide_state(caller("alice"), ssvm.uuid or "", [], [], LAB).code is R.TARGET_NOT_FOUND
    assert decide_state(caller("admin"), ssvm.uuid or "", [], [], LAB).allowed
