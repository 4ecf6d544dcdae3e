"""Re-run every capture in the live lab: the stored fixtures must still describe what the tools print.

Some of a run differs from run to run and is not compared: round-trip times, and ICMP error
reports (time exceeded, unreachable) that routers rate-limit, so a probe or error the fixture has
may be missing (``*``, mtr's loss, tracepath's "no reply") when tests run back to back. What must
hold: the same replies to echo requests, ARP and neighbour solicitation, every hop address,
annotation and error message seen live is one the fixture has at the same place, and the same path
MTU and drops.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sysvmdiag.runner import BastionRunner, parse_private_key
from sysvmdiag.topology.model import SshEndpoint, Topology, load_topology
from tests.conftest import GOLDEN_OUTPUTS
from tests.lab.parsers.capture import CAPTURES, Capture, prepare_pmtu_cache, run_capture
from tests.unit.parsers.wire import parse_wire

OUTPUTS = GOLDEN_OUTPUTS

pytestmark = pytest.mark.lab


def assert_consistent(live: dict[str, Any], stored: dict[str, Any]) -> None:
    """``live`` is a run of the same command as ``stored``, up to timing and ICMP rate limits."""
    assert live["parse_error"] == stored["parse_error"]  # None but for a tool's failure (no output)
    assert live["destination"] == stored["destination"]
    if live["tool"] in NEWER_TOOLS:
        NEWER_TOOLS[live["tool"]](live, stored)
        return
    if live["tool"] == "traceroute":
        answers_by_hop = {
            hop["hop"]: {(p["address"], p["annotation"]) for p in hop["probes"] if p["address"]}
            for hop in stored["hops"]
        }
        answered = 0
        for hop in live["hops"]:
            for probe in hop["probes"]:
                if probe["address"] is not None:
                    answered += 1
                    assert (probe["address"], probe["annotation"]) in answers_by_hop.get(hop["hop"], set()), (
                        hop
                    )
        assert answered > 0 or not any(answers_by_hop.values())
        assert live["reached"] <= stored["reached"]
        return
    assert live["received"] == stored["received"]
    if live["tool"] == "arping":
        assert [(r["mac"], r["address"], r["seq"]) for r in live["replies"]] == [
            (r["mac"], r["address"], r["seq"]) for r in stored["replies"]
        ]
        return
    assert [(r["seq"], r["address"], r["ttl"]) for r in live["replies"]] == [
        (r["seq"], r["address"], r["ttl"]) for r in stored["replies"]
    ]
    assert (live["rtt_ms"] is None) == (stored["rtt_ms"] is None)
    stored_errors = {(error.get("address"), error["message"]) for error in stored["errors"]}
    assert {(error.get("address"), error["message"]) for error in live["errors"]} <= stored_errors


def _consistent_mtr(live: dict[str, Any], stored: dict[str, Any]) -> None:
    """The same hops; an address seen live is the fixture's at that hop; the destination's replies."""
    assert [hop["hop"] for hop in live["hops"]] == [hop["hop"] for hop in stored["hops"]]
    for live_hop, stored_hop in zip(live["hops"], stored["hops"], strict=True):
        assert live_hop["address"] in (None, stored_hop["address"]), live_hop
    assert live["reached"] == stored["reached"]
    assert live["errors"] == stored["errors"]
    if stored["reached"]:
        assert live["hops"][-1]["received"] == stored["hops"][-1]["received"]


def _consistent_pmtu(live: dict[str, Any], stored: dict[str, Any]) -> None:
    """The same path MTU, start, drops and end; every answer seen live is one the fixture has."""
    for key in ("pmtu", "local_pmtu", "reached", "too_many_hops", "hop_count", "back"):
        assert live[key] == stored[key], key
    assert [(d["address"], d["pmtu"]) for d in live["drops"]] == [
        (d["address"], d["pmtu"]) for d in stored["drops"]
    ]
    answers = {(hop["hop"], hop["address"], hop["mark"]) for hop in stored["hops"] if hop["address"]}
    for hop in live["hops"]:
        assert hop["address"] is None or (hop["hop"], hop["address"], hop["mark"]) in answers, hop


def _consistent_ndisc(live: dict[str, Any], stored: dict[str, Any]) -> None:
    """The same answer (MAC and sender) or the same timeouts."""
    for key in ("interface", "mac", "address", "responded", "attempts_timed_out"):
        assert live[key] == stored[key], key


NEWER_TOOLS = {"mtr": _consistent_mtr, "pmtu": _consistent_pmtu, "ndisc": _consistent_ndisc}


@pytest.fixture(scope="module")
def topology(lab_status: dict[str, Any]) -> Topology:
    return load_topology(lab_status["topology"])


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda capture: capture.name)
def test_live_run_matches_its_fixture(
    capture: Capture, topology: Topology, lab_status: dict[str, Any]
) -> None:
    stored = json.loads((OUTPUTS / f"{capture.name}.json").read_text())
    record = run_capture(capture, topology)
    assert record["namespace"] == lab_status["hosts"][capture.host]["namespace"]
    live = parse_wire(capture.tool, record["stdout"], record["stderr"], record["exit_code"])
    assert record["exit_code"] == stored["exit_code"], record
    expected = parse_wire(stored["tool"], stored["stdout"], stored["stderr"], stored["exit_code"])
    assert_consistent(live, expected)


def test_live_arping_mac_is_the_gateway_interface_mac(topology: Topology, lab_status: dict[str, Any]) -> None:
    arping_ok = next(capture for capture in CAPTURES if capture.name == "arping_ok")
    record = run_capture(arping_ok, topology)
    result = parse_wire("arping", record["stdout"], record["stderr"], record["exit_code"])
    gateway = next(i for i in lab_status["hosts"]["r1"]["interfaces"] if i["ipv4"] == "203.0.113.1/24")
    assert {reply["mac"] for reply in result["replies"]} == {gateway["mac"]}


def _endpoint(ssh: dict[str, Any]) -> SshEndpoint:
    return SshEndpoint(address=ssh["address"], port=ssh["port"], user=ssh["user"], host_key=ssh["host_key"])


@pytest.fixture(scope="module")
def runner(lab_status: dict[str, Any]) -> Iterator[BastionRunner]:
    key = parse_private_key(Path(lab_status["private_key"]).read_text())
    bastion_runner = BastionRunner(_endpoint(lab_status["bastion"]), key)
    yield bastion_runner
    bastion_runner.close()


# One capture per tool and IP version, from two different system VMs.
THROUGH_SSH = [
    "ping_v6_ok",
    "traceroute_v4",
    "arping_ok",
    "ping_ssvm_storage",
    "arping_ssvm_management",
    "mtr_v4_ok",
    "pmtu_drop",
    "ndisc_ok",
]


@pytest.mark.parametrize("name", THROUGH_SSH)
def test_output_through_bastion_and_forced_command_parses_like_the_fixture(
    name: str, runner: BastionRunner, lab_status: dict[str, Any]
) -> None:
    """What the service really parses: the VM-side program's pass-through of the tool over SSH."""
    capture = next(capture for capture in CAPTURES if capture.name == name)
    vm = _endpoint(lab_status["hosts"][capture.host]["ssh"])
    prepare_pmtu_cache(lab_status["hosts"][capture.host]["namespace"], capture)
    output = runner.run(vm, shlex.join(capture.argv), timeout=30)
    live = parse_wire(capture.argv[0], output.stdout, output.stderr, output.exit_code)
    stored = json.loads((OUTPUTS / f"{name}.json").read_text())
    assert output.exit_code == stored["exit_code"], output
    assert output.stderr == stored["stderr"]
    assert_consistent(
        live, parse_wire(stored["tool"], stored["stdout"], stored["stderr"], stored["exit_code"])
    )
