"""Checks of the scale benchmark's machinery (pure: no moto, the full run is `make bench-scale`)."""

from __future__ import annotations

import ipaddress

import pytest

from benchmarks import scale
from simvms.generate import DEFAULT_CIDR, generate_zone
from sysvmdiag.policy.tenancy import network_holders
from sysvmdiag.topology.items import topology_items
from sysvmdiag.topology.model import Role


@pytest.fixture(scope="module")
def zone():
    return generate_zone(300, seed=1)  # three tenants on the default CIDR


def test_item_bytes_follows_dynamodb_rules():
    item = {
        "pk": "ZONE",  # 2 + 4
        "n": 12,  # 1 + 2 (decimal text)
        "ok": True,  # 2 + 1
        "none": None,  # 4 + 1
        "m": {"a": "xy"},  # 1 + 3 + (1 + 1 + 2)
        "l": ["ab", 1],  # 1 + 3 + (1 + 2) + (1 + 1)
        "b": b"\x00\x01\x02",  # 1 + 3 raw bytes
        "é": "é",  # UTF-8: 2 + 2
    }
    assert scale.item_bytes(item) == 6 + 3 + 3 + 5 + 8 + 9 + 4 + 4


def test_item_bytes_refuses_what_dynamodb_cannot_store():
    with pytest.raises(TypeError):
        scale.item_bytes({"pk": object()})


def test_largest_item_is_named_by_its_key():
    items = [{"pk": "A", "sk": "1", "v": "x"}, {"pk": "B", "sk": "2", "v": "x" * 100}]
    assert scale.largest_item(items) == (scale.item_bytes(items[1]), "B / 2")


def test_largest_item_of_each_type():
    items = [{"item_type": "SPACE", "v": "x"}, {"item_type": "SPACE", "v": "xyz"}, {"item_type": "ZONE"}]
    assert scale.largest_by_type(items) == {"SPACE": 9 + 5 + 1 + 3, "ZONE": 9 + 4}


def test_crowded_bucket_holds_every_network_on_the_default_cidr(zone):
    on_default = [n for n in zone.networks if str(n.cidr4) == DEFAULT_CIDR]
    facts = scale.bucket_facts(topology_items(zone), DEFAULT_CIDR)
    assert on_default
    assert facts == {"spaces": len(on_default), "shards": 1}


def test_decision_mix_is_deterministic_and_a_quarter_of_each_kind(zone):
    cases = scale.decision_cases(zone, 40, seed=7)
    assert cases == scale.decision_cases(zone, 40, seed=7)
    assert cases != scale.decision_cases(zone, 40, seed=8)
    kinds = [case.kind for case in cases]
    assert all(kinds.count(kind) == 10 for kind in scale.DESTINATION_KINDS)


def test_each_destination_is_where_its_kind_says(zone):
    crowded = ipaddress.ip_network(DEFAULT_CIDR)
    for case in scale.decision_cases(zone, 80, seed=1):
        address = ipaddress.ip_address(case.destination)
        vm = zone.system_vm(case.vm_ref)
        own = [zone.network(iface.network) for iface in vm.interfaces]
        if case.kind == "own_network":
            assert any(address in cidr for network in own for cidr in network.cidrs)
        elif case.kind == "other_network":
            assert any(address in cidr for network in zone.networks for cidr in network.cidrs)
        elif case.kind == "crowded_cidr":
            assert address in crowded
        else:
            assert any(address in public for public in scale.PUBLIC_RANGES)


def test_caller_holds_a_network_of_the_vm_or_is_the_admin(zone):
    for case in scale.decision_cases(zone, 60, seed=2):
        vm = zone.system_vm(case.vm_ref)
        holders = set().union(*(network_holders(zone.network(i.network), zone) for i in vm.interfaces))
        if holders:
            assert case.caller.account_id in holders
        else:
            assert case.caller.role is Role.ADMIN


def _row(networks: int, p50: float, calls: int, max_bytes: int, load_s: float) -> dict:
    return {
        "networks": networks,
        "decision_ms_p50": p50,
        "decision_ms_p99": p50 * 3,
        "decision_ms_p50_by_kind": {"public": p50, "crowded_cidr": p50 * 2},
        "decisions": 10,
        "dynamodb_calls_per_decision": {"max": calls, "mean": 1.0},
        "max_item_bytes": max_bytes,
        "load_s": load_s,
    }


def test_goals_compare_the_largest_size_with_the_smallest():
    met = scale.goals([_row(100, 10.0, 1, 1000, 0.5), _row(20000, 11.5, 2, 60000, 40.0)])
    assert met["p50_ratio_largest_to_smallest"] == 1.15
    assert met["p50_ratio_by_kind"] == {"crowded_cidr": 1.15, "public": 1.15}
    assert (
        met["p50_ratio_met"] and met["dynamodb_calls_met"] and met["max_item_bytes_met"] and met["load_met"]
    )
    missed = scale.goals([_row(100, 10.0, 3, 1000, 0.5), _row(20000, 13.0, 1, 70000, 61.0)])
    assert not any(missed[name] for name in ("p50_ratio_met", "dynamodb_calls_met", "max_item_bytes_met"))
    assert not missed["load_met"]


def test_plot_writes_a_png(tmp_path):
    results = {
        "startedAt": "2025-01-01T00:00:00+00:00",
        "machine": {"cpu": "test cpu", "cores": 2, "python": "3.11"},
        "sizes": [_row(100, 10.0, 1, 1000, 0.5), _row(20000, 11.0, 2, 48000, 40.0)],
    }
    path = tmp_path / "scale.png"
    scale.plot(results, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sizes_option_is_sorted_and_positive():
    assert scale._sizes("1000,100,100") == [100, 1000]
    with pytest.raises(Exception, match="positive"):
        scale._sizes("0,10")
