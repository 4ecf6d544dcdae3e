"""The parsers against real outputs captured from the lab (./outputs, see tests/lab/parsers/capture.py)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysvmdiag.parsers import PARSERS, parse_output
from sysvmdiag.toolargs import parse_command_line, parse_invocation
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


def destination(name: str) -> str:
    return shlex.split(fixture(name)["command"])[-1]


# --- the fixtures themselves ---------------------------------------------------------------------


def test_every_capture_has_a_fixture_and_every_fixture_a_capture() -> None:
    assert sorted(capture.name for capture in CAPTURES) == FIXTURE_NAMES


@pytest.mark.parametrize("destination", ["192.0.2.1", "fd00::1", "8.8.8.8", "100.64.254.1"])
def test_capture_refuses_addresses_outside_the_lab(destination: str) -> None:
    with pytest.raises(CaptureRefused, match="not a lab address"):
        check_lab_destination(load_topology(DEFAULT_TOPOLOGY_FILE), destination)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_capture_targets_a_lab_address(name: str) -> None:
    check_lab_destination(load_topology(DEFAULT_TOPOLOGY_FILE), destination(name))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_records_a_command_the_vm_side_accepts(name: str) -> None:
    record = fixture(name)
    assert isinstance(record["exit_code"], int)
    assert record["stdout"] or record["stderr"]  # an answer, or the tool failing
    assert parse_command_line(record["command"]) == shlex.split(record["command"])  # canonical, as sent
    assert parse_invocation(record["command"]).exec_argv() == record["argv"]  # what the VM ran


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_parses_cleanly(name: str) -> None:
    result, record = parsed(name), fixture(name)
    assert result["tool"] == record["tool"]
    if not record["stdout"]:  # the tool failed: nothing to read, and its stderr kept
        assert "produced no output" in result["parse_error"]
        assert [error["message"] for error in result["errors"]] == record["stderr"].splitlines()
        return
    assert result["parse_error"] is None
    named_when_reached = record["tool"] == "pmtu" and not result["reached"]  # tracepath prints no header
    assert result["destination"] == (None if named_when_reached else destination(name))


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


# --- mtr -------------------------------------------------------------------------------------------
# The captures' facts are asserted so that they hold for the lab's recapture too (see capture.py).


def raw_hubs(name: str) -> list[dict[str, Any]]:
    return json.loads(fixture(name)["stdout"])["report"]["hubs"]


def mtr_report(destination: str, *hubs: tuple[str, float, float]) -> str:
    """mtr -j's report (its 4-space indent) with a hub per (host, Loss%, Avg) after the captured header."""
    header = json.loads(fixture("mtr_v4_ok")["stdout"])["report"]["mtr"] | {"dst": destination}
    report = {
        "report": {
            "mtr": header,
            "hubs": [
                {
                    "count": count,
                    "host": host,
                    "Loss%": loss,
                    "Snt": 5,
                    "Last": avg,
                    "Avg": avg,
                    "Best": avg,
                    "Wrst": avg,
                    "StDev": 0.0,
                }
                for count, (host, loss, avg) in enumerate(hubs, 1)
            ],
        }
    }
    return json.dumps(report, indent=4) + "\n"


@pytest.mark.parametrize("name", ["mtr_v4_ok", "mtr_v6_ok"])
def test_mtr_every_hop_answers_every_probe(name: str) -> None:
    result = parsed(name)
    assert (result["destination"], result["cycles"], result["reached"]) == (destination(name), 5, True)
    assert result["hops"][-1]["address"] == destination(name)
    assert [hop["hop"] for hop in result["hops"]] == list(range(1, len(result["hops"]) + 1))
    for hop, hub in zip(result["hops"], raw_hubs(name), strict=True):
        assert hop == {
            "hop": hub["count"],
            "address": hub["host"],
            "loss_percent": 0.0,
            "sent": 5,
            "received": 5,
            "last_ms": hub["Last"],
            "avg_ms": hub["Avg"],
            "best_ms": hub["Best"],
            "worst_ms": hub["Wrst"],
            "stdev_ms": hub["StDev"],
        }
    assert result["errors"] == []


def test_mtr_v4_values() -> None:
    hops = parsed("mtr_v4_ok")["hops"]
    assert [(hop["address"], hop["avg_ms"], hop["worst_ms"]) for hop in hops] == [
        ("203.0.113.1", 0.122, 0.175),
        ("198.51.100.2", 0.121, 0.158),
        ("198.51.100.80", 0.121, 0.148),
    ]


def test_mtr_router_answers_in_place_of_an_unreachable_host() -> None:
    result = parsed("mtr_host_unreachable")
    assert result["reached"] is False
    router, in_place = result["hops"][-2:]
    assert router["address"] == in_place["address"] != destination("mtr_host_unreachable")
    assert in_place["hop"] == router["hop"] + 1 and in_place["received"] > 0
    # ARP gives up after about 3 s: the router's errors come back that late.
    assert in_place["worst_ms"] > 1000


def test_mtr_fails_on_an_unknown_interface() -> None:
    result = parsed("mtr_no_such_interface")
    assert result["hops"] == [] and result["destination"] is None and result["reached"] is False
    assert result["errors"] == [{"message": "mtr: no such interface"}]
    assert result["parse_error"] == "mtr produced no output (exit code 1)"


def test_mtr_unanswered_hop_has_no_address_and_no_times() -> None:
    stdout = mtr_report("10.99.2.2", ("10.99.1.1", 0.0, 0.091), ("???", 100.0, 0.0))
    result = parse_wire("mtr", stdout, "", 0)
    assert result["hops"][1] == {
        "hop": 2,
        "address": None,
        "loss_percent": 100.0,
        "sent": 5,
        "received": 0,
        "last_ms": None,
        "avg_ms": None,
        "best_ms": None,
        "worst_ms": None,
        "stdev_ms": None,
    }
    assert result["reached"] is False and result["parse_error"] is None


@pytest.mark.parametrize(("loss", "received"), [(40.0, 3), (33.3, 3), (66.7, 2), (100.0, 0), (0.0, 5)])
def test_mtr_received_is_derived_from_sent_and_loss(loss: float, received: int) -> None:
    result = parse_wire("mtr", mtr_report("10.99.2.2", ("10.99.2.2", loss, 0.092)), "", 0)
    assert result["hops"][0]["received"] == received
    assert result["reached"] is (received > 0)


def test_mtr_ipv6_destination_is_compared_by_value() -> None:
    result = parse_wire("mtr", mtr_report("fd99:2::2", ("fd99:2:0::2", 0.0, 0.1)), "", 0)
    assert result["reached"] is True


def test_mtr_report_cut_short_keeps_every_whole_hop() -> None:
    stdout = fixture("mtr_v4_ok")["stdout"]
    result = parse_wire("mtr", stdout[: stdout.rindex('"count"')], "", None)  # into the last hop
    assert result["destination"] == destination("mtr_v4_ok") and result["cycles"] == 5
    assert [(hop["hop"], hop["address"]) for hop in result["hops"]] == [
        (hub["count"], hub["host"]) for hub in raw_hubs("mtr_v4_ok")[:-1]
    ]
    assert result["reached"] is False
    assert result["parse_error"].startswith("mtr output is not whole JSON (")


@pytest.mark.parametrize(
    ("stdout", "parse_error"),
    [
        ("[1, 2]\n", "mtr output has no report object"),
        ('{"report": {"hubs": []}}\n', "mtr's report names no destination"),
        ("mtr: something else\n", "mtr output is not whole JSON (Expecting value, character 0)"),
        (
            '{"report": {"mtr": {"dst": "10.99.2.2"}, "hubs": [{"host": "10.99.1.1"}, 7]}}',
            "2 hop(s) of mtr's report were not understood",
        ),
        ("[" * 100_000 + "]" * 100_000, "mtr output is not JSON (RecursionError)"),
    ],
)
def test_mtr_odd_reports_say_what_is_wrong(stdout: str, parse_error: str) -> None:
    assert parse_wire("mtr", stdout, "", 0)["parse_error"] == parse_error


def test_mtr_older_quoted_counts_and_odd_numbers() -> None:
    stdout = mtr_report("10.99.2.2", ("10.99.2.2", 0.0, 0.1)).replace('"count": 1', '"count": "1"')
    stdout = stdout.replace('"StDev": 0.0', '"StDev": NaN').replace('"Snt": 5', '"Snt": "5"')
    hop = parse_wire("mtr", stdout, "", 0)["hops"][0]
    assert (hop["hop"], hop["sent"], hop["received"], hop["stdev_ms"]) == (1, 5, 5, None)


def test_mtr_resolve_failure_exits_0_with_only_stderr() -> None:
    # mtr 0.95 with -4 and an IPv6 destination (captured in the throwaway lab): exit 0, nothing on stdout.
    stderr = "mtr: Failed to resolve host: fd99:2::2: Address family for hostname not supported\n"
    result = parse_wire("mtr", "", stderr, 0)
    assert result["errors"] == [{"message": stderr.strip()}]
    assert result["parse_error"] == "mtr produced no output (exit code 0)"


# --- pmtu (tracepath) ------------------------------------------------------------------------------

# Captured in the throwaway lab (capture.py), as hand-written cases: the lab has no firewall rule for them.
TRACEPATH_V6_ADMIN_PROHIBITED = (
    " 1?: [LOCALHOST]                        0.027ms pmtu 1500\n"
    " 1:  fd99:1::1                                             0.080ms \n"
    " 1:  fd99:1::1                                             0.013ms \n"
    " 2:  fd99:1::1                                             0.017ms pmtu 1400\n"
    " 2:  fd99:1::1                                             0.015ms !A\n"
    "     Resume: pmtu 1400 \n"
)
TRACEPATH_NO_ROUTE = " 1:  send failed\n     Resume: pmtu 65535 \n"
TRACEPATH_SILENT_ROUTER = (  # its time exceeded dropped, its frag needed let through
    " 1?: [LOCALHOST]                      pmtu 1500\n"
    " 1:  no reply\n"
    " 2:  10.99.1.1                                             0.093ms pmtu 1400\n"
    + "".join(f"{hop:2}:  no reply\n" for hop in range(2, 11))
    + "     Too many hops: pmtu 1400\n     Resume: pmtu 1400 \n"
)


def pmtu_hop(
    hop: int,
    address: str | None,
    rtt_ms: float | None = None,
    pmtu: int | None = None,
    mark: str | None = None,
) -> dict[str, Any]:
    return {"hop": hop, "address": address, "rtt_ms": rtt_ms, "pmtu": pmtu, "mark": mark}


@pytest.mark.parametrize("name", ["pmtu_drop", "pmtu_v6"])
def test_pmtu_drop_reported_by_the_router_before_the_narrow_link(name: str) -> None:
    result = parsed(name)
    assert (result["pmtu"], result["local_pmtu"], result["reached"]) == (1400, 1500, True)
    [drop] = result["drops"]
    assert drop["pmtu"] == 1400
    # The router answered time exceeded for the hop before, then "pmtu 1400" probing this one.
    assert (drop["hop"], drop["address"], 1400) in [
        (hop["hop"], hop["address"], hop["pmtu"]) for hop in result["hops"]
    ]
    assert any(hop["hop"] == drop["hop"] - 1 and hop["address"] == drop["address"] for hop in result["hops"])
    last = result["hops"][-1]
    assert (last["hop"], last["address"], last["mark"]) == (result["hop_count"], destination(name), None)
    assert result["back"] == result["hop_count"] and result["too_many_hops"] is False
    assert result["errors"] == []


def test_pmtu_drop_lines() -> None:
    """r2 reports the narrow link behind it while the probe at TTL 3 passes through it."""
    assert parsed("pmtu_drop")["hops"] == [
        pmtu_hop(1, "203.0.113.1", 0.079),
        pmtu_hop(1, "203.0.113.1", 0.012),
        pmtu_hop(2, "198.51.100.2", 0.025),
        pmtu_hop(3, "198.51.100.2", 0.022, pmtu=1400),
        pmtu_hop(3, "198.51.100.130", 0.056),
    ]
    assert parsed("pmtu_drop")["drops"] == [{"hop": 3, "address": "198.51.100.2", "pmtu": 1400}]


def test_pmtu_cached_starts_small_and_sees_no_drop() -> None:
    result = parsed("pmtu_cached")
    assert (result["pmtu"], result["local_pmtu"], result["drops"], result["reached"]) == (
        1400,
        1400,
        [],
        True,
    )
    assert all(hop["pmtu"] is None for hop in result["hops"])
    assert result["hops"][-1]["address"] == destination("pmtu_cached")


def test_pmtu_v6_localhost_line_has_a_time_and_is_no_hop() -> None:
    result = parsed("pmtu_v6")
    assert fixture("pmtu_v6")["stdout"].splitlines()[0].split()[2].endswith("ms")
    assert result["hops"][0]["hop"] == 1 and result["hops"][0]["address"] is not None


def test_pmtu_runs_out_of_hops_before_the_drop() -> None:
    """-m 2 stops one hop short of the narrow link: no drop seen, the full-size MTU, not reached."""
    result = parsed("pmtu_too_many_hops")
    assert result["hops"] == [
        pmtu_hop(1, "203.0.113.1", 0.081),
        pmtu_hop(1, "203.0.113.1", 0.012),
        pmtu_hop(2, "198.51.100.2", 0.025),
    ]
    assert (result["too_many_hops"], result["reached"], result["pmtu"], result["local_pmtu"]) == (
        True,
        False,
        1500,
        1500,
    )
    assert (result["drops"], result["hop_count"], result["back"], result["errors"]) == ([], None, None, [])


def test_pmtu_host_unreachable_mark_ends_it() -> None:
    result = parsed("pmtu_host_unreachable")
    last = result["hops"][-1]
    assert last["mark"] == "!H" and last["rtt_ms"] > 1000  # after ARP gave up
    assert result["errors"] == [
        {"hop": last["hop"], "address": last["address"], "message": "!H host unreachable"}
    ]
    assert (result["reached"], result["too_many_hops"], result["hop_count"], result["back"]) == (
        False,
        False,
        None,
        None,
    )
    assert (result["pmtu"], [drop["pmtu"] for drop in result["drops"]]) == (1400, [1400])


def test_pmtu_admin_prohibited_over_ipv6() -> None:
    result = parse_wire("pmtu", TRACEPATH_V6_ADMIN_PROHIBITED, "", 0)
    assert result["hops"][-1] == pmtu_hop(2, "fd99:1::1", 0.015, mark="!A")
    assert result["errors"] == [
        {"hop": 2, "address": "fd99:1::1", "message": "!A communication administratively prohibited"}
    ]
    assert (result["pmtu"], result["local_pmtu"], result["parse_error"]) == (1400, 1500, None)


def test_pmtu_send_failed_is_a_mark_without_address() -> None:
    result = parse_wire("pmtu", TRACEPATH_NO_ROUTE, "", 0)
    assert result["hops"] == [pmtu_hop(1, None, mark="send failed")]
    assert result["errors"] == [
        {"hop": 1, "address": None, "message": "send failed the VM could not send the probe (no route?)"}
    ]
    assert (result["pmtu"], result["local_pmtu"], result["parse_error"]) == (65535, None, None)


def test_pmtu_drop_from_a_router_that_is_otherwise_silent() -> None:
    result = parse_wire("pmtu", TRACEPATH_SILENT_ROUTER, "", 0)
    assert result["drops"] == [{"hop": 2, "address": "10.99.1.1", "pmtu": 1400}]
    assert [hop["address"] for hop in result["hops"]] == [None, "10.99.1.1", *[None] * 9]
    assert result["too_many_hops"] is True and result["parse_error"] is None


def test_pmtu_asymm_names_and_a_later_local_drop() -> None:
    stdout = (
        " 1?: [LOCALHOST]                      pmtu 9000\n"
        " 1:  gw.lab (10.99.1.1)                                  0.090ms asymm  2 \n"
        " 2?: [LOCALHOST]                      pmtu 1500\n"
        " 2:  10.99.2.2                                           0.028ms reached\n"
        "     Resume: pmtu 1500 hops 2 back 3 \n"
    )
    result = parse_wire("pmtu", stdout, "", 0)
    assert result["hops"] == [
        pmtu_hop(1, "10.99.1.1", 0.09),
        pmtu_hop(2, None, pmtu=1500),
        pmtu_hop(2, "10.99.2.2", 0.028),
    ]
    assert result["drops"] == [{"hop": 2, "address": None, "pmtu": 1500}]
    assert (result["local_pmtu"], result["back"], result["destination"], result["parse_error"]) == (
        9000,
        3,
        "10.99.2.2",
        None,
    )


def test_pmtu_cut_short_and_garbage_lines() -> None:
    lines = fixture("pmtu_drop")["stdout"].splitlines(keepends=True)
    cut = parse_wire("pmtu", "".join(lines[:5]), "", None)  # up to r2's drop line
    assert cut["drops"] == parsed("pmtu_drop")["drops"] and cut["pmtu"] is None and cut["reached"] is False
    assert cut["parse_error"] == "tracepath output has no Resume line (the run was probably cut short)"
    odd = parse_wire("pmtu", "".join(lines[:2]) + " 3:  ??? weird line\nhello\n" + lines[-1], "", 0)
    assert odd["parse_error"] == "2 line(s) of tracepath output were not understood"
    assert len(odd["hops"]) == 1


def test_pmtu_failure_on_stderr_only() -> None:
    stderr = "tracepath: fd99:2::2: Address family for hostname not supported\n"
    result = parse_wire("pmtu", "", stderr, 1)
    assert result["errors"] == [{"message": stderr.strip()}]
    assert result["parse_error"] == "tracepath produced no output (exit code 1)"


# --- ndisc (ndisc6) --------------------------------------------------------------------------------


def test_ndisc_answer_names_the_mac_in_lower_case() -> None:
    result, stdout = parsed("ndisc_ok"), fixture("ndisc_ok")["stdout"]
    printed = stdout.split("Target link-layer address: ", 1)[1].split()[0]
    assert result["mac"] == printed.lower() and re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", result["mac"])
    assert (result["destination"], result["interface"]) == (
        destination("ndisc_ok"),
        "eth0",
    )
    assert (result["address"], result["responded"], result["attempts_timed_out"]) == (
        destination("ndisc_ok"),
        True,
        0,
    )
    assert result["mac"] == stable_mac("guest1a", "eth0")  # the lab gives guest1a's eth0 its stable MAC


def test_ndisc_no_response_counts_the_attempts() -> None:
    result = parsed("ndisc_no_response")
    assert (result["responded"], result["mac"], result["address"], result["attempts_timed_out"]) == (
        False,
        None,
        None,
        3,
    )
    assert fixture("ndisc_no_response")["stderr"] == ""  # ndisc6 writes "Timed out." on stdout


@pytest.mark.parametrize(
    ("stdout", "parse_error"),
    [
        (
            "Soliciting fd99:1::99 (fd99:1::99) on eth0...\nTimed out.\n",
            "ndisc6 output ends before an answer or 'No response.' (the run was probably cut short)",
        ),
        (
            "Soliciting fd99:1::1 (fd99:1::1) on eth0...\nTarget link-layer address: CA:37:5D:9F:B7:7E\n",
            "ndisc6 output ends before the answer's 'from' line (the run was probably cut short)",
        ),
        ("Timed out.\nNo response.\n", "ndisc6 output has no 'Soliciting' line"),
        (
            "Soliciting fd99:1::99 (fd99:1::99) on eth0...\nhello\nNo response.\n",
            "1 line(s) of ndisc6 output were not understood",
        ),
    ],
)
def test_ndisc_odd_outputs_say_what_is_missing(stdout: str, parse_error: str) -> None:
    assert parse_wire("ndisc", stdout, "", 2)["parse_error"] == parse_error


def test_ndisc_failure_on_stderr_only() -> None:
    result = parse_wire("ndisc", "", "eth9: No such device\n", 1)  # captured in the throwaway lab
    assert result["errors"] == [{"message": "eth9: No such device"}]
    assert result["parse_error"] == "ndisc6 produced no output (exit code 1)"


# --- odd input: never raise, say what went wrong -------------------------------------------------

TOOLS = tuple(PARSERS)
KEYS_BY_TOOL = {
    "ping": set(parsed("ping_v4_ok")),
    "traceroute": set(parsed("traceroute_v4")),
    "arping": set(parsed("arping_ok")),
    "mtr": set(parsed("mtr_v4_ok")),
    "pmtu": set(parsed("pmtu_drop")),
    "ndisc": set(parsed("ndisc_ok")),
}


def test_every_tool_has_a_parser_and_a_golden_output() -> None:
    assert set(TOOLS) == set(KEYS_BY_TOOL) == {fixture(name)["tool"] for name in FIXTURE_NAMES}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "\n\n",
        "garbage\nmore garbage\n",
        "\x00\xff\ufffd binary",
        "PING",
        "traceroute to",
        "ARPING",
        "{",
        '{"report": {"hubs": [',
        "null",
        " 1?: [LOCALHOST] pmtu 1500\n",
        "Soliciting",
    ],
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
    assert parse_wire("mtr", " \n", "", 1)["parse_error"] == "mtr produced no output (exit code 1)"
    assert parse_wire("pmtu", "", "", None)["parse_error"] == "tracepath produced no output (exit code None)"
    assert parse_wire("ndisc", "", "", 2)["parse_error"] == "ndisc6 produced no output (exit code 2)"


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
    odd_lines = [
        "",
        "*",
        "ms",
        " 9  * ms !H",
        " 9:  no reply",
        "     Resume: pmtu 1",
        "Timed out.",
        "},",
        "]",
    ]
    mangled = data.draw(st.lists(st.sampled_from([*lines, *odd_lines]), max_size=12))
    assert set(parse_wire(record["tool"], "\n".join(mangled), "", None)) == KEYS_BY_TOOL[record["tool"]]
