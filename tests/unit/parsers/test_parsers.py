"""The parsers against real outputs captured from the lab (./outputs, see tests/lab/parsers/capture.py)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysvmdiag.parsers import parse_output
from sysvmdiag.toolargs import parse_command_line
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology, stable_mac
from tests.conftest import GOLDEN_OUTPUTS
from tests.lab.parsers.capture import (
    CAPTURES,
    CaptureRefused,
    check_lab_destination,
)
from tests.unit.parsers.wire import parse_wire

OUTPUTS = GOLDEN_OUTPUTS
FIXTURE_NAMES = sorted(path.stem for path in OUTPUTS.glob("*.json"))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((OUTPUTS / f"{name}.json").read_text())


def parsed(name: str) -> dict[str, Any]:
    record = fixture(name)
    return parse_wire(record["tool"], record["stdout"], record["stderr"], record["exit_code"])


def probe_addresses(hop: dict[str, Any]) -> list[str | None]:
    return [probe["address"] for probe in hop["probes"]]


# --- the fixtures themselves ---------------------------------------------------------------------


def test_every_capture_has_a_fixture_and_every_fixture_a_capture() -> None:
    assert sorted(capture.name for capture in CAPTURES) == FIXTURE_NAMES


@pytest.mark.parametrize("destination", ["192.0.2.1", "fd00::1", "8.8.8.8", "100.64.254.1"])
def test_capture_refuses_addresses_outside_the_lab(destination: str) -> None:
    with pytest.raises(CaptureRefused, match="not a lab address"):
        check_lab_destination(load_topology(DEFAULT_TOPOLOGY_FILE), destination)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_capture_targets_a_lab_address(name: str) -> None:
    check_lab_destination(load_topology(DEFAULT_TOPOLOGY_FILE), fixture(name)["argv"][-1])


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_records_a_command_the_vm_side_accepts(name: str) -> None:
    record = fixture(name)
    assert record["command"] == shlex.join(record["argv"])
    assert parse_command_line(record["command"]) == record["argv"]
    assert isinstance(record["exit_code"], int)
    assert record["stdout"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_parses_cleanly(name: str) -> None:
    result = parsed(name)
    assert result["parse_error"] is None
    assert result["tool"] == fixture(name)["tool"]
    assert result["destination"] == fixture(name)["argv"][-1]


# --- ping ------------------------------------------------------------------------------------------


def test_ping_v4_success() -> None:
    result = parsed("ping_v4_ok")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (3, 3, 0.0)
    assert result["rtt_ms"] == {"min": 0.084, "avg": 0.099, "max": 0.11, "mdev": 0.011}
    assert [(r["seq"], r["ttl"], r["rtt_ms"]) for r in result["replies"]] == [
        (1, 62, 0.084),
        (2, 62, 0.11),
        (3, 62, 0.105),
    ]
    assert {r["address"] for r in result["replies"]} == {"198.51.100.80"}
    assert result["errors"] == []
    assert result["duplicates"] == 0


def test_ping_v6_success() -> None:
    result = parsed("ping_v6_ok")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (3, 3, 0.0)
    assert result["rtt_ms"] == {"min": 0.076, "avg": 0.102, "max": 0.127, "mdev": 0.02}
    assert [r["seq"] for r in result["replies"]] == [1, 2, 3]
    assert {r["address"] for r in result["replies"]} == {"2001:db8:52::80"}
    assert result["replies"][2]["rtt_ms"] == 0.127


def test_ping_v4_destination_host_unreachable() -> None:
    result = parsed("ping_v4_host_unreachable")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (3, 0, 100.0)
    assert result["rtt_ms"] is None
    assert result["replies"] == []
    assert result["error_count"] == 3
    assert result["errors"] == [
        {"address": "10.1.1.1", "seq": seq, "message": "Destination Host Unreachable"} for seq in (1, 2, 3)
    ]


def test_ping_v6_address_unreachable() -> None:
    result = parsed("ping_v6_address_unreachable")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (3, 0, 100.0)
    assert [e["address"] for e in result["errors"]] == ["2001:db8:1:1::1"] * 3
    assert {e["message"] for e in result["errors"]} == {"Destination unreachable: Address unreachable"}


def test_ping_net_unreachable_reported_by_a_remote_router() -> None:
    result = parsed("ping_v4_net_unreachable")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (1, 0, 100.0)
    assert result["error_count"] == 1
    assert result["errors"] == [
        {"address": "198.51.100.2", "seq": 1, "message": "Destination Net Unreachable"}
    ]


def test_ping_deadline_with_no_reply_at_all() -> None:
    result = parsed("ping_v4_deadline_no_reply")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (2, 0, 100.0)
    assert result["rtt_ms"] is None
    assert result["replies"] == []
    assert result["errors"] == []
    assert result["error_count"] == 0


def test_ping_from_the_ssvm_to_its_storage_network() -> None:
    result = parsed("ping_ssvm_storage")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (2, 2, 0.0)
    assert [(r["seq"], r["ttl"], r["rtt_ms"], r["address"]) for r in result["replies"]] == [
        (1, 64, 0.031, "172.31.201.10"),
        (2, 64, 0.06, "172.31.201.10"),
    ]
    assert result["rtt_ms"] == {"min": 0.031, "avg": 0.045, "max": 0.06, "mdev": 0.014}


def test_ping_cut_short_keeps_the_replies_it_saw() -> None:
    stdout = fixture("ping_v4_ok")["stdout"]
    cut = "\n".join(stdout.splitlines()[:3]) + "\n"  # header and two replies, no summary
    result = parse_wire("ping", cut, "", None)
    assert result["received"] == 2
    assert result["transmitted"] is None
    assert [r["seq"] for r in result["replies"]] == [1, 2]
    assert "no statistics summary" in result["parse_error"]


def test_ping_duplicates_and_resolved_sources() -> None:
    # ping without -n names the ICMP source ("From gw (10.1.1.1)"); a DUP! reply is not a new one.
    stdout = (
        "PING 10.1.1.11 (10.1.1.11) 56(84) bytes of data.\n"
        "64 bytes from 10.1.1.11: icmp_seq=1 ttl=64 time=0.050 ms\n"
        "64 bytes from 10.1.1.11: icmp_seq=1 ttl=64 time=0.071 ms (DUP!)\n"
        "From gw (10.1.1.1) icmp_seq=2 Destination Host Unreachable\n"
        "\n--- 10.1.1.11 ping statistics ---\n"
        "2 packets transmitted, 1 received, +1 duplicates, +1 errors, 50% packet loss, time 1001ms\n"
        "rtt min/avg/max/mdev = 0.050/0.060/0.071/0.010 ms\n"
    )
    result = parse_wire("ping", stdout, "", 1)
    assert (result["transmitted"], result["received"], result["duplicates"]) == (2, 1, 1)
    assert [r["duplicate"] for r in result["replies"]] == [False, True]
    assert result["errors"] == [{"address": "10.1.1.1", "seq": 2, "message": "Destination Host Unreachable"}]
    assert result["packet_loss_percent"] == 50.0


def test_ping_failure_on_stderr_only() -> None:
    result = parse_wire("ping", "", "ping: connect: Network is unreachable\n", 2)
    assert result["errors"] == [{"message": "ping: connect: Network is unreachable"}]
    assert result["transmitted"] is None
    assert result["parse_error"] == (
        "ping produced no output (exit code 2): ping: connect: Network is unreachable"
    )


# --- traceroute ------------------------------------------------------------------------------------


def test_traceroute_v4_hops_to_the_web_server() -> None:
    result = parsed("traceroute_v4")
    assert result["max_hops"] == 20
    assert [hop["hop"] for hop in result["hops"]] == [1, 2, 3]
    assert [probe_addresses(hop) for hop in result["hops"]] == [
        ["203.0.113.1"] * 3,
        ["198.51.100.2"] * 3,
        ["198.51.100.80"] * 3,
    ]
    assert [p["rtt_ms"] for p in result["hops"][0]["probes"]] == [0.052, 0.004, 0.006]
    assert result["reached"] is True
    assert result["errors"] == []


def test_traceroute_v6_hops_to_the_web_server() -> None:
    result = parsed("traceroute_v6")
    assert [probe_addresses(hop) for hop in result["hops"]] == [
        ["2001:db8:113::1"] * 3,
        ["2001:db8:51::2"] * 3,
        ["2001:db8:52::80"] * 3,
    ]
    assert [p["rtt_ms"] for p in result["hops"][1]["probes"]] == [0.019, 0.007, 0.077]
    assert result["reached"] is True


def test_traceroute_unanswered_probes_are_null_addresses() -> None:
    result = parsed("traceroute_stars")
    assert result["max_hops"] == 3
    assert [hop["hop"] for hop in result["hops"]] == [1, 2, 3]
    for hop in result["hops"]:
        assert hop["probes"] == [{"address": None, "rtt_ms": None, "annotation": None}] * 3
    assert result["reached"] is False


def test_traceroute_v6_unanswered_probes() -> None:
    result = parsed("traceroute_v6_stars")
    assert result["destination"] == "2001:db8:1:1::99"
    assert [(hop["hop"], probe_addresses(hop)) for hop in result["hops"]] == [
        (1, [None, None]),
        (2, [None, None]),
    ]
    assert result["reached"] is False


def test_traceroute_vpc_through_its_private_gateway() -> None:
    result = parsed("traceroute_vpc_private_gateway")
    assert result["max_hops"] == 10
    assert [probe_addresses(hop) for hop in result["hops"]] == [["10.250.1.1"] * 3, ["10.100.0.10"] * 3]
    assert [p["rtt_ms"] for p in result["hops"][1]["probes"]] == [0.019, 0.005, 0.004]
    assert result["reached"] is True


def test_traceroute_network_unreachable_mark() -> None:
    result = parsed("traceroute_net_unreachable")
    assert [probe_addresses(hop) for hop in result["hops"]] == [["203.0.113.1"] * 3, ["198.51.100.2"] * 3]
    assert [p["annotation"] for p in result["hops"][1]["probes"]] == ["!N"] * 3
    assert [p["rtt_ms"] for p in result["hops"][1]["probes"]] == [0.235, 0.213, 0.205]
    assert result["errors"] == [{"hop": 2, "address": "198.51.100.2", "message": "!N network unreachable"}]
    assert result["reached"] is False


def test_traceroute_stars_keep_their_place_among_answers() -> None:
    # The captured header and hop 1 of traceroute_v4, then a hop where probes 1 and 3 answered
    # from two different routers and probe 2 timed out.
    header, first_hop = fixture("traceroute_v4")["stdout"].splitlines()[:2]
    stdout = f"{header}\n{first_hop}\n 2  198.51.100.2  0.024 ms *  198.51.100.3  0.030 ms\n"
    result = parse_wire("traceroute", stdout, "", 0)
    assert probe_addresses(result["hops"][1]) == ["198.51.100.2", None, "198.51.100.3"]
    assert [p["rtt_ms"] for p in result["hops"][1]["probes"]] == [0.024, None, 0.03]
    assert result["parse_error"] is None


def test_traceroute_trailing_stars_after_an_annotation() -> None:
    # Seen in the lab when r2's ICMP errors were rate limited (a re-run of traceroute_net_unreachable).
    header, first_hop = fixture("traceroute_net_unreachable")["stdout"].splitlines()[:2]
    stdout = f"{header}\n{first_hop}\n 2  198.51.100.2  0.019 ms !N * *\n"
    result = parse_wire("traceroute", stdout, "", 0)
    assert result["hops"][1]["probes"] == [
        {"address": "198.51.100.2", "rtt_ms": 0.019, "annotation": "!N"},
        {"address": None, "rtt_ms": None, "annotation": None},
        {"address": None, "rtt_ms": None, "annotation": None},
    ]
    assert result["parse_error"] is None


# --- arping ----------------------------------------------------------------------------------------


def test_arping_success_names_the_gateway_mac() -> None:
    result = parsed("arping_ok")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (2, 2, 0.0)
    # The lab gives r1's eth0 (the public gateway 203.0.113.1) its stable MAC.
    assert stable_mac("r1", "eth0") == "02:15:b4:d4:8a:8c"
    assert result["replies"] == [
        {"mac": "02:15:b4:d4:8a:8c", "address": "203.0.113.1", "seq": 0, "rtt_ms": 0.009395},
        {"mac": "02:15:b4:d4:8a:8c", "address": "203.0.113.1", "seq": 1, "rtt_ms": 0.005088},
    ]
    assert result["rtt_ms"] == {"min": 0.005, "avg": 0.007, "max": 0.009, "mdev": 0.002}
    assert result["timeouts"] == 0
    assert result["extra"] == 0


def test_arping_from_the_ssvm_on_its_management_interface() -> None:
    result = parsed("arping_ssvm_management")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (3, 3, 0.0)
    assert stable_mac("mgmt", "eth0") == "02:25:52:2b:09:b1"
    assert [(r["mac"], r["address"], r["seq"]) for r in result["replies"]] == [
        ("02:25:52:2b:09:b1", "172.31.200.10", seq) for seq in (0, 1, 2)
    ]
    assert [r["rtt_ms"] for r in result["replies"]] == [0.008008, 0.005137, 0.005204]


def test_arping_no_reply() -> None:
    result = parsed("arping_no_reply")
    assert (result["transmitted"], result["received"], result["packet_loss_percent"]) == (2, 0, 100.0)
    assert result["replies"] == []
    assert result["rtt_ms"] is None
    assert result["timeouts"] == 2


@pytest.mark.parametrize(
    ("printed", "rtt_ms"),
    [("812.000 nsec", 0.000812), ("9.395 usec", 0.009395), ("1.250 msec", 1.25), ("1.500 sec", 1500.0)],
)
def test_arping_reply_time_units_become_milliseconds(printed: str, rtt_ms: float) -> None:
    stdout = fixture("arping_ok")["stdout"].replace("9.395 usec", printed)
    assert parse_wire("arping", stdout, "", 0)["replies"][0]["rtt_ms"] == rtt_ms


# --- odd input: never raise, say what went wrong -------------------------------------------------

TOOLS = ("ping", "traceroute", "arping")
KEYS_BY_TOOL = {
    "ping": set(parsed("ping_v4_ok")),
    "traceroute": set(parsed("traceroute_v4")),
    "arping": set(parsed("arping_ok")),
}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize(
    "stdout",
    ["", "\n\n", "garbage\nmore garbage\n", "\x00\xff\ufffd binary", "PING", "traceroute to", "ARPING"],
)
def test_odd_output_gives_the_same_keys_and_a_parse_error(tool: str, stdout: str) -> None:
    result = parse_wire(tool, stdout, "", 2)
    assert set(result) == KEYS_BY_TOOL[tool]
    assert result["parse_error"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_truncation_of_a_real_output_parses(name: str) -> None:
    record = fixture(name)
    lines = record["stdout"].splitlines(keepends=True)
    for cut in range(len(lines)):
        result = parse_wire(record["tool"], "".join(lines[:cut]), record["stderr"], None)
        assert set(result) == KEYS_BY_TOOL[record["tool"]]
    for cut in range(len(record["stdout"])):  # mid-line cuts too
        parse_wire(record["tool"], record["stdout"][:cut], "", None)


def test_empty_output_explains_itself_with_the_exit_code() -> None:
    empty_traceroute = parse_wire("traceroute", "", "", 1)
    assert empty_traceroute["parse_error"] == "traceroute produced no output (exit code 1)"
    assert parse_wire("arping", "", "", None)["parse_error"] == "arping produced no output (exit code None)"


def test_unknown_tool() -> None:
    # No result type can say "nmap" (results are a union told apart by tool); the request model's
    # enum keeps every caller's tool to the three, so another name is a programming error.
    with pytest.raises(ValueError, match="no parser for tool 'nmap'"):
        parse_output("nmap", "x", "", 0)


@settings(max_examples=150, deadline=None)
@given(tool=st.sampled_from(TOOLS), stdout=st.text(), stderr=st.text())
def test_never_raises_on_arbitrary_text(tool: str, stdout: str, stderr: str) -> None:
    assert set(parse_wire(tool, stdout, stderr, None)) == KEYS_BY_TOOL[tool]


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(FIXTURE_NAMES),
    data=st.data(),
)
def test_never_raises_on_mangled_real_output(name: str, data: st.DataObject) -> None:
    record = fixture(name)
    lines = record["stdout"].splitlines()
    mangled = data.draw(st.lists(st.sampled_from([*lines, "", "*", "ms", " 9  * ms !H"]), max_size=12))
    assert set(parse_wire(record["tool"], "\n".join(mangled), "", None)) == KEYS_BY_TOOL[record["tool"]]
