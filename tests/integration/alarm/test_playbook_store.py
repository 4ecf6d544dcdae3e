"""Playbooks in the topology table: idempotent load that prunes, and cheap lookups by name and tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from sysvmdiag.cli import main as cli_main
from sysvmdiag.playbooks import DEFAULT_PLAYBOOKS_FILE, PlaybookStore, load_playbooks, parse_playbooks
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology
from sysvmdiag.topology.store import TopologyStore

PING = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80"}


def _file(*playbooks: dict[str, Any]):
    return parse_playbooks({"playbooks": list(playbooks)})


def _all_items(table: Any) -> dict[tuple[str, str], dict[str, Any]]:
    items = table.scan()["Items"]
    return {(item["pk"], item["sk"]): item for item in items}


class QueryCounter:
    """Counts the DynamoDB calls a store makes (botocore's event hooks on the table's client)."""

    def __init__(self, table: Any) -> None:
        self.calls: list[str] = []
        table.meta.client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


def test_load_is_idempotent_and_lists_every_playbook(tables: dict[str, Any]) -> None:
    table = tables["topology"]
    first = load_playbooks(DEFAULT_PLAYBOOKS_FILE, table)
    items = _all_items(table)
    second = load_playbooks(DEFAULT_PLAYBOOKS_FILE, table)
    assert first.playbooks == second.playbooks == 4
    assert second.removed_items == 0
    assert _all_items(table) == items
    assert [p.id for p in PlaybookStore(table).list_playbooks()] == sorted(
        ["web-reachability", "vpn-check", "datacenter-link", "secondary-storage"]
    )
    assert all("zone_id" not in item and "list_pk" not in item for item in items.values())


def test_reload_prunes_playbooks_and_matches_no_longer_in_the_file(tables: dict[str, Any]) -> None:
    store = PlaybookStore(tables["topology"])
    store.load(
        _file(
            {
                "id": "keep",
                "match": {"alarmNames": ["old-name", "stays"], "tags": {"a": "1"}},
                "diagnostics": [PING],
            },
            {"id": "gone", "match": {"alarmNames": ["gone-alarm"]}, "diagnostics": [PING]},
        )
    )
    report = store.load(
        _file(
            {"id": "keep", "match": {"alarmNames": ["stays", "new-name"]}, "diagnostics": [PING]},
        )
    )
    # gone's definition and match, keep's old-name match and its tag match
    assert report.removed_items == 4
    assert [p.id for p in store.list_playbooks()] == ["keep"]
    assert store.playbooks_for_alarm("old-name") == []
    assert store.playbooks_for_alarm("gone-alarm") == []
    assert store.playbooks_for_alarm("other", {"a": "1"}) == []
    assert [p.id for p in store.playbooks_for_alarm("new-name")] == ["keep"]
    keys = set(_all_items(tables["topology"]))
    assert keys == {
        ("PLAYBOOKS", "keep"),
        ("PLAYBOOK_ALARM#stays", "PLAYBOOK#keep"),
        ("PLAYBOOK_ALARM#new-name", "PLAYBOOK#keep"),
    }


def test_an_empty_file_removes_every_playbook(tables: dict[str, Any], tmp_path: Path) -> None:
    load_playbooks(DEFAULT_PLAYBOOKS_FILE, tables["topology"])
    empty = tmp_path / "none.yaml"
    empty.write_text("version: 1\nplaybooks: []\n")
    load_playbooks(empty, tables["topology"])
    assert _all_items(tables["topology"]) == {}


def test_lookup_by_name_is_one_query_and_each_tag_one_more(tables: dict[str, Any]) -> None:
    table = tables["topology"]
    load_playbooks(DEFAULT_PLAYBOOKS_FILE, table)
    store = PlaybookStore(table)
    counter = QueryCounter(table)
    assert [p.id for p in store.playbooks_for_alarm("svd-web-unreachable")] == ["web-reachability"]
    assert counter.calls == ["Query"]
    counter.calls.clear()
    tags = {"sysvmdiag:playbook": "vpn-check", "env": "lab"}
    found = store.playbooks_for_alarm("svd-vpn-latency-high", tags)
    assert [p.id for p in found] == ["vpn-check"]
    assert counter.calls == ["Query", "Query", "Query"]


def test_lookup_needs_all_tags_and_finds_a_playbook_once_by_name_and_tag(tables: dict[str, Any]) -> None:
    table = tables["topology"]
    load_playbooks(DEFAULT_PLAYBOOKS_FILE, table)
    store = PlaybookStore(table)
    assert store.playbooks_for_alarm("anything", {"team": "storage"}) == []
    assert [p.id for p in store.playbooks_for_alarm("anything", {"team": "storage", "severity": "page"})] == [
        "secondary-storage"
    ]
    both = store.playbooks_for_alarm("svd-vpn-tunnel-down", {"sysvmdiag:playbook": "vpn-check"})
    assert [p.id for p in both] == ["vpn-check"]
    assert store.playbooks_for_alarm("svd-web-unreachable-not", {"sysvmdiag:playbook": "nope"}) == []


def test_tag_keys_and_values_with_separators_do_not_collide(tables: dict[str, Any]) -> None:
    store = PlaybookStore(tables["topology"])
    store.load(
        _file(
            {"id": "one", "match": {"tags": {"a=b": "c"}}, "diagnostics": [PING]},
            {"id": "two", "match": {"tags": {"a": "b=c"}}, "diagnostics": [PING]},
        )
    )
    assert [p.id for p in store.playbooks_for_alarm("x", {"a=b": "c"})] == ["one"]
    assert [p.id for p in store.playbooks_for_alarm("x", {"a": "b=c"})] == ["two"]


def test_a_topology_reload_leaves_the_playbooks_alone(tables: dict[str, Any]) -> None:
    """The topology loader prunes its zone's items; playbook items are not zone items."""
    load_playbooks(DEFAULT_PLAYBOOKS_FILE, tables["topology"])
    topology_store = TopologyStore(tables["topology"], tables["accounts"])
    load_topology_into_tables(load_topology(DEFAULT_TOPOLOGY_FILE), topology_store)
    load_topology_into_tables(load_topology(DEFAULT_TOPOLOGY_FILE), topology_store)
    assert len(PlaybookStore(tables["topology"]).list_playbooks()) == 4
    assert len(topology_store.list_system_vms().system_vms()) == len(
        load_topology(DEFAULT_TOPOLOGY_FILE).system_vms()
    )


def test_cli_load_and_list(tables: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["playbooks", "load", str(DEFAULT_PLAYBOOKS_FILE)]) == 0
    assert '"playbooks": 4' in capsys.readouterr().out
    assert cli_main(["playbooks", "list"]) == 0
    out = capsys.readouterr().out
    assert "web-reachability: alarm svd-web-unreachable" in out
    assert "traceroute 198.51.100.80 on r-4-VM -n -q 1 -w 1 -m 6" in out
    assert "vpn-check: alarm svd-vpn-tunnel-down; tags sysvmdiag:playbook=vpn-check" in out


def test_cli_load_of_a_bad_file_writes_nothing(
    tables: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("playbooks: [{id: x, match: {}, diagnostics: []}]\n")
    assert cli_main(["playbooks", "load", str(bad)]) == 2
    assert f"{bad}:" in capsys.readouterr().err
    assert boto3.resource("dynamodb").Table(tables["topology"].name).scan()["Items"] == []
