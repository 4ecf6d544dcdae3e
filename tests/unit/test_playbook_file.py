"""The playbook file: validation errors name the file and the item; the lab's playbooks fit the lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from sysvmdiag.identity import SYSTEM_ALARM_CALLER
from sysvmdiag.playbooks import DEFAULT_PLAYBOOKS_FILE, PlaybookFileError, load_playbook_file, parse_playbooks
from sysvmdiag.policy import decide
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology

PING = {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "playbooks.yaml"
    path.write_text(text)
    return path


def test_lab_file_loads_with_the_playbooks_the_brief_names() -> None:
    playbooks = {p.id: p for p in load_playbook_file(DEFAULT_PLAYBOOKS_FILE).playbooks}
    web = playbooks["web-reachability"]
    assert "svd-web-unreachable" in web.match.alarm_names
    assert [(d.target_id, d.type.value, d.ip_address) for d in web.diagnostics] == [
        ("r-4-VM", "ping", "198.51.100.80"),
        ("r-4-VM", "traceroute", "198.51.100.80"),
    ]
    vpn = playbooks["vpn-check"]
    assert vpn.match.tags == {"sysvmdiag:playbook": "vpn-check"}
    assert [(d.target_id, d.ip_address) for d in vpn.diagnostics] == [("r-7-VM", "10.50.0.10")]


def test_every_lab_diagnostic_targets_a_lab_vm_and_the_policy_allows_it_for_the_alarm_identity() -> None:
    """A playbook the policy refuses would only ever produce denied jobs: catch it here, not in a page."""
    topology = load_topology(DEFAULT_TOPOLOGY_FILE)
    lab_addresses = {
        str(address.ip)
        for host in topology.hosts
        for interface in host.interfaces
        for address in (interface.ipv4, interface.ipv6)
        if address is not None
    }
    for playbook in load_playbook_file(DEFAULT_PLAYBOOKS_FILE).playbooks:
        for request in playbook.diagnostics:
            assert request.ip_address in lab_addresses, (playbook.id, request.ip_address)
            decision = decide(
                SYSTEM_ALARM_CALLER,
                request.target_id,
                request.type.value,
                request.ip_address,
                request.params,
                topology,
            )
            assert decision.allowed, (playbook.id, request, decision.message)


def test_errors_name_the_file_the_playbook_and_the_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
playbooks:
  - id: fine
    match: {alarmNames: [a]}
    diagnostics: [{targetId: r-4-VM, type: ping, ipAddress: 198.51.100.80}]
  - id: broken
    match: {alarmNames: [b]}
    diagnostics:
      - {targetId: r-4-VM, type: pong, ipAddress: 198.51.100.80}
      - {targetId: r-4-VM, type: ping, ipAddress: 198.51.100.80, hostname: web}
""",
    )
    with pytest.raises(PlaybookFileError) as caught:
        load_playbook_file(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:")
    assert "playbooks[1] (id 'broken').diagnostics[0].type" in text
    assert "playbooks[1] (id 'broken').diagnostics[1].hostname: Extra inputs are not permitted" in text
    assert "'fine'" not in text


@pytest.mark.parametrize(
    ("playbook", "message"),
    [
        ({"id": "x", "match": {}, "diagnostics": [PING]}, "match needs alarmNames, tags, or both"),
        ({"id": "x", "match": {"alarmNames": ["a"]}, "diagnostics": []}, "at least 1 item"),
        ({"id": "bad#id", "match": {"alarmNames": ["a"]}, "diagnostics": [PING]}, "String should match"),
        ({"id": "x", "match": {"alarmNames": [""]}, "diagnostics": [PING]}, "at least 1 character"),
        ({"id": "x", "match": {"tags": {"": "v"}}, "diagnostics": [PING]}, "at least 1 character"),
        (
            {"id": "x", "match": {"alarmNames": ["a"]}, "diagnostics": [{**PING, "params": "x" * 300}]},
            "at most 256 characters",
        ),
        (
            {"id": "x", "match": {"alarmNames": ["a"], "names": ["b"]}, "diagnostics": [PING]},
            "match.names: Extra inputs",
        ),
    ],
)
def test_invalid_playbooks_are_refused(playbook: dict, message: str) -> None:
    with pytest.raises(PlaybookFileError, match=r"here\.yaml") as caught:
        parse_playbooks({"playbooks": [playbook]}, "here.yaml")
    assert message in str(caught.value)


def test_duplicate_ids_are_refused() -> None:
    playbook = {"id": "same", "match": {"alarmNames": ["a"]}, "diagnostics": [PING]}
    with pytest.raises(PlaybookFileError, match="playbook id 'same' is used twice"):
        parse_playbooks({"playbooks": [playbook, playbook]}, "dup.yaml")


def test_unreadable_and_non_yaml_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(PlaybookFileError, match=r"missing\.yaml: cannot read"):
        load_playbook_file(tmp_path / "missing.yaml")
    with pytest.raises(PlaybookFileError, match="not valid YAML"):
        load_playbook_file(_write(tmp_path, "playbooks: [\n"))


def test_seed_and_cloudstack_field_names_are_accepted_like_the_api() -> None:
    parsed = parse_playbooks(
        {
            "playbooks": [
                {
                    "id": "x",
                    "match": {"alarmNames": ["a"]},
                    "diagnostics": [
                        {
                            "uuid": "4b1d5c2e-7a0f-4c1e-9d3b-000000000004",
                            "diagnosisTest": "arping",
                            "ipaddress": "10.1.1.11",
                        }
                    ],
                }
            ]
        }
    )
    request = parsed.playbooks[0].diagnostics[0]
    assert (request.target_id, request.type.value, request.ip_address) == (
        "4b1d5c2e-7a0f-4c1e-9d3b-000000000004",
        "arping",
        "10.1.1.11",
    )


def test_tag_match_needs_every_tag_and_a_name_match_is_enough() -> None:
    playbook = parse_playbooks(
        {
            "playbooks": [
                {
                    "id": "x",
                    "match": {"alarmNames": ["named"], "tags": {"team": "net", "severity": "page"}},
                    "diagnostics": [PING],
                }
            ]
        }
    ).playbooks[0]
    assert playbook.match.matches("named", {})
    assert playbook.match.matches("other", {"team": "net", "severity": "page", "extra": "1"})
    assert not playbook.match.matches("other", {"team": "net"})
    assert not playbook.match.matches("other", {"team": "net", "severity": "ticket"})
