"""fetch_zone's plan of calls on a fake client: which command gets the zone id, which networks are asked
for their permissions, and how the zone is chosen."""

from __future__ import annotations

import pytest

from sysvmdiag.cloudstack.client import ZoneNotFoundError, choose_zone, fetch_zone, networks_with_permissions
from sysvmdiag.cloudstack.commands import LIST_COMMANDS, ListCommand
from tests.cloudstack_items import OTHER_ZONE, ZONE, account_shared_networks, cloud_items


class FakeClient:
    """Answers list_all from the hand-made cloud (filtered as the lab would) and records each call."""

    def __init__(self, items: dict[str, list[dict]]) -> None:
        self.items = items
        self.calls: list[tuple[str, str | None, dict]] = []

    def list_all(self, command: ListCommand, *, zone_id: str | None = None, **params: str) -> list[dict]:
        self.calls.append((command.name, zone_id, params))
        found = self.items[command.name]
        if zone_id is not None and command.zone_scoped:
            found = [item for item in found if item.get("zoneid") == zone_id]
        if "networkid" in params:
            found = [
                item for item in found if item.get("networkid", params["networkid"]) == params["networkid"]
            ]
        return found


def test_every_command_is_read_and_zone_scoped_ones_get_the_zone_id() -> None:
    client = FakeClient(cloud_items())
    fetched = fetch_zone(client, "lab-zone")
    assert list(fetched) == list(LIST_COMMANDS)
    assert fetched["listZones"] == [ZONE]
    zone_ids = {name: zone_id for name, zone_id, _ in client.calls if name != "listNetworkPermissions"}
    assert zone_ids.pop("listZones") is None
    assert set(zone_ids.values()) == {"zone-1"}  # list_all itself sends it to zone-scoped commands only
    assert all(network["zoneid"] == "zone-1" for network in fetched["listNetworks"])


def test_permissions_are_asked_for_account_scoped_shared_networks_outside_vpcs_only() -> None:
    client = FakeClient(cloud_items())
    fetch_zone(client, "zone-1")
    asked = [params["networkid"] for name, _, params in client.calls if name == "listNetworkPermissions"]
    assert asked == account_shared_networks()
    assert "net-0050" not in asked and "net-0300" not in asked and "net-0001" not in asked


def test_each_permission_carries_the_network_it_was_asked_for() -> None:
    items = cloud_items()
    items["listNetworkPermissions"] = [{"accountid": "acc-bob"}]  # an answer without networkid
    fetched = fetch_zone(FakeClient(items), "lab-zone")
    permissions = fetched["listNetworkPermissions"]
    assert [p["networkid"] for p in permissions] == account_shared_networks()
    assert all(p["accountid"] == "acc-bob" for p in permissions)


def test_an_items_own_networkid_is_kept() -> None:
    fetched = fetch_zone(FakeClient(cloud_items()), "lab-zone")
    assert [(p["networkid"], p["accountid"]) for p in fetched["listNetworkPermissions"]] == [
        ("net-0100", "acc-bob"),
        ("net-0100", "acc-alice"),
    ]


def test_networks_with_permissions_reads_cloudstacks_type_and_acltype_in_any_case() -> None:
    networks = [
        {"id": "a", "type": "Shared", "acltype": "Account"},
        {"id": "b", "type": "shared", "acltype": "account"},
        {"id": "c", "type": "Shared", "acltype": "Domain"},
        {"id": "d", "type": "Isolated", "acltype": "Account"},
        {"id": "e", "type": "L2", "acltype": "Account"},
        {"id": "f", "type": "Shared", "acltype": "Account", "vpcid": "vpc-1"},
    ]
    assert networks_with_permissions(networks) == ["a", "b"]


@pytest.mark.parametrize("wanted", ["zone-2", "other-zone", "Other-Zone"])
def test_a_zone_is_found_by_id_name_or_name_in_any_case(wanted: str) -> None:
    assert choose_zone([ZONE, OTHER_ZONE], wanted) == OTHER_ZONE


def test_without_a_name_the_only_zone_is_taken_and_several_must_be_named() -> None:
    assert choose_zone([ZONE], None) == ZONE
    with pytest.raises(ZoneNotFoundError, match=r"lab-zone \(zone-1\), other-zone \(zone-2\)"):
        choose_zone([ZONE, OTHER_ZONE], None)


def test_an_unknown_zone_names_the_zones_there_are() -> None:
    with pytest.raises(ZoneNotFoundError, match="no single zone 'nowhere': CloudStack lists lab-zone"):
        fetch_zone(FakeClient(cloud_items()), "nowhere")
    with pytest.raises(ZoneNotFoundError, match="lists no zone"):
        choose_zone([], None)
