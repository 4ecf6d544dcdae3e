"""A network's optional MTU: its bounds (one place, ``mtu_bounds``), the error a topology file gets for
one out of them, and its way through the topology table's items and back."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from sysvmdiag.topology.items import topology_items
from sysvmdiag.topology.layout import decision_slice, merge_stored
from sysvmdiag.topology.model import (
    DEFAULT_MTU,
    MTU_MAX,
    MTU_MIN_IPV4,
    MTU_MIN_IPV6,
    Network,
    Topology,
    mtu_bounds,
    mtu_problem,
)
from tests.unit.policy.topologies import LAB

V4 = {"id": "net-x", "name": "x", "kind": "external", "cidr4": "192.0.2.0/24"}
DUAL = {**V4, "cidr6": "2001:db8:99::/64"}


def test_the_bounds() -> None:
    assert mtu_bounds(ipv6=False) == (MTU_MIN_IPV4, MTU_MAX) == (576, 9000)
    assert mtu_bounds(ipv6=True) == (MTU_MIN_IPV6, MTU_MAX) == (1280, 9000)
    assert DEFAULT_MTU == 1500


@pytest.mark.parametrize(
    ("fields", "mtu"),
    [(V4, 576), (V4, 9000), (V4, 1279), (DUAL, 1280), (DUAL, 1400), (DUAL, 9000), (V4, None), (DUAL, None)],
)
def test_mtus_in_bounds_are_kept(fields: dict[str, Any], mtu: int | None) -> None:
    network = Network.model_validate({**fields, "mtu": mtu})
    assert network.mtu == mtu
    assert network.link_mtu == (mtu or DEFAULT_MTU)


@pytest.mark.parametrize(
    ("fields", "mtu", "message"),
    [
        (V4, 575, "network net-x: mtu 575 is outside 576..9000, the range for an IPv4-only network"),
        (V4, 9001, "network net-x: mtu 9001 is outside 576..9000"),
        (DUAL, 1279, "network net-x: mtu 1279 is outside 1280..9000, the range for a network with IPv6"),
        (DUAL, 576, "outside 1280..9000"),
        (V4, 0, "outside 576..9000"),
        (V4, -1500, "outside 576..9000"),
    ],
)
def test_mtus_out_of_bounds_are_refused_clearly(fields: dict[str, Any], mtu: int, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Network.model_validate({**fields, "mtu": mtu})
    problem = mtu_problem(mtu, ipv6="cidr6" in fields)
    assert problem is not None and problem.startswith(f"mtu {mtu} is outside")


@pytest.mark.parametrize("mtu", [True, "1400", 1400.0, 1400.5])
def test_an_mtu_is_an_integer(mtu: Any) -> None:
    with pytest.raises(ValidationError, match="valid integer"):
        Network.model_validate({**V4, "mtu": mtu})


def test_a_topology_file_with_a_bad_mtu_names_the_network() -> None:
    data = LAB.model_dump(mode="json")
    for net in data["networks"]:
        if net["id"] == "net-narrow":
            net["mtu"] = 1000  # the narrow link has IPv6
    with pytest.raises(
        ValidationError, match=re.escape("network net-narrow: mtu 1000 is outside 1280..9000")
    ):
        Topology.model_validate(data)


def test_the_lab_has_one_narrow_network() -> None:
    assert {n.id: n.mtu for n in LAB.networks if n.mtu is not None} == {"net-narrow": 1400}
    narrow = LAB.network("net-narrow")
    assert (str(narrow.cidr4), str(narrow.cidr6), narrow.kind.value) == (
        "198.51.100.128/26",
        "2001:db8:53::/64",
        "external",
    )
    others = [c for n in LAB.networks if n.id != "net-narrow" for c in n.cidrs]
    assert not [c for c in others if any(c.version == n.version and c.overlaps(n) for n in narrow.cidrs)]


def test_the_mtu_goes_through_the_tables_and_back() -> None:
    items = topology_items(LAB)
    (zone,) = [item for item in items if item["item_type"] == "ZONE"]
    stored = merge_stored([zone["context"]])
    assert stored.network("net-narrow").mtu == 1400
    assert stored.network("net-internet").mtu is None
    assert '"mtu"' not in json.dumps(
        [n for n in json.loads(zone["context"])["networks"] if n["id"] != "net-narrow"]
    )
    assert decision_slice(LAB, "vr", "198.51.100.130").network("net-narrow").mtu == 1400
