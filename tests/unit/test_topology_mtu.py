"""A network's optional MTU: its bounds (one place, ``mtu_bounds``) and the error for one out of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from sysvmdiag.topology.model import (
    DEFAULT_MTU,
    MTU_MAX,
    MTU_MIN_IPV4,
    MTU_MIN_IPV6,
    Network,
    mtu_bounds,
    mtu_problem,
)

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
