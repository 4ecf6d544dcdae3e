"""Verdicts and causes (sysvmdiag.judge, sysvmdiag.verdicts), table-tested.

Every golden output is listed in GOLDEN with the verdict and causes it must give, so a capture added
without them fails here; CASES are the outputs the lab does not produce on demand (loss, firewalls,
hop limits, failing tools).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.jobs import Job
from sysvmdiag.judge import Judgement, judge
from sysvmdiag.parsers import parse_output
from sysvmdiag.results import ArpingResult, PingResult
from sysvmdiag.verdicts import CAUSES, CauseCode, Verdict
from sysvmdiag.vmside import EXIT_REFUSED, EXIT_TIMEOUT
from tests.conftest import GOLDEN_OUTPUTS, result_from_capture
from tests.unit.parsers.wire import job_doc

FIXTURE_NAMES = sorted(path.stem for path in GOLDEN_OUTPUTS.glob("*.json"))
NOW = datetime(2025, 1, 1, tzinfo=UTC)

R, P, U, D = Verdict.REACHABLE, Verdict.PARTIAL, Verdict.UNREACHABLE, Verdict.UNDETERMINED
C = CauseCode

# name -> (verdict, [(cause code, hop, address)])
GOLDEN: dict[str, tuple[Verdict, list[tuple[CauseCode, int | None, str | None]]]] = {
    "arping_no_reply": (U, [(C.ARP_NO_REPLY, None, "203.0.113.99")]),
    "arping_ok": (R, []),
    "arping_ssvm_management": (R, []),
    "mtr_host_unreachable": (U, [(C.ICMP_ERROR, 3, "198.51.100.2")]),
    "mtr_no_such_interface": (D, [(C.TOOL_ERROR, None, None)]),
    "mtr_v4_ok": (R, []),
    "mtr_v6_ok": (R, []),
    "ndisc_no_response": (U, [(C.NDISC_NO_REPLY, None, "2001:db8:1:1::99")]),
    "ndisc_ok": (R, []),
    "ping_ssvm_storage": (R, []),
    "ping_v4_deadline_no_reply": (U, [(C.NO_REPLY, None, None)]),
    "ping_v4_host_unreachable": (U, [(C.HOST_UNREACHABLE, None, "10.1.1.1")]),
    "ping_v4_net_unreachable": (U, [(C.NET_UNREACHABLE, None, "198.51.100.2")]),
    "ping_v4_ok": (R, []),
    "ping_v6_address_unreachable": (U, [(C.HOST_UNREACHABLE, None, "2001:db8:1:1::1")]),
    "ping_v6_ok": (R, []),
    "pmtu_cached": (R, []),
    "pmtu_drop": (R, []),
    "pmtu_host_unreachable": (U, [(C.HOST_UNREACHABLE, 3, "198.51.100.2")]),
    "pmtu_too_many_hops": (D, [(C.HOP_LIMIT, 2, "198.51.100.2")]),
    "pmtu_v6": (R, []),
    "traceroute_net_unreachable": (U, [(C.NET_UNREACHABLE, 2, "198.51.100.2")]),
    "traceroute_stars": (U, [(C.NO_REPLY, None, None)]),
    "traceroute_v4": (R, []),
    "traceroute_v6": (R, []),
    "traceroute_v6_stars": (U, [(C.NO_REPLY, None, None)]),
    "traceroute_vpc_private_gateway": (R, []),
}

PING = "PING {d} ({d}) 56(84) bytes of data.\n"
REPLY = "64 bytes from {d}: icmp_seq={seq} ttl=62 time=0.084 ms\n"
PING_SUMMARY = (
    "\n--- {d} ping statistics ---\n{sent} packets transmitted, {got} received, {tail}, time 2033ms\n"
)
TRACE = "traceroute to 198.51.100.80 (198.51.100.80), {m} hops max, 60 byte packets\n"
HOP1 = " 1  203.0.113.1  0.349 ms  0.250 ms  0.242 ms\n"
ARPING_HALF = (
    "ARPING 203.0.113.1\n42 bytes from 02:15:b4:d4:8a:8c (203.0.113.1): index=0 time=9.395 usec\nTimeout\n\n"
    "--- 203.0.113.1 statistics ---\n2 packets transmitted, 1 packets received,  50% unanswered (0 extra)\n"
)
V4, V6 = "198.51.100.80", "2001:db8:1:1::99"
OK_PING = (
    PING.format(d=V4)
    + REPLY.format(d=V4, seq=1)
    + PING_SUMMARY.format(d=V4, sent=1, got=1, tail="0% packet loss")
)


def mtr(destination: str, *hubs: tuple[str, float]) -> str:
    """mtr -j's report with a hub per (host, Loss%): 5 probes each, "???" for a silent hop."""
    return json.dumps(
        {
            "report": {
                "mtr": {
                    "src": "vm",
                    "dst": destination,
                    "tos": 0,
                    "tests": 5,
                    "psize": "64",
                    "bitpattern": "0x00",
                },
                "hubs": [
                    {
                        "count": count,
                        "host": host,
                        "Loss%": loss,
                        "Snt": 5,
                        "Last": 0.1,
                        "Avg": 0.1,
                        "Best": 0.1,
                        "Wrst": 0.1,
                        "StDev": 0.0,
                    }
                    for count, (host, loss) in enumerate(hubs, 1)
                ],
            }
        },
        indent=4,
    )


TRACEPATH_START = " 1?: [LOCALHOST]                      pmtu 1500\n"


def icmp_ping(destination: str, *reports: str) -> str:
    """A ping that got only the ICMP error ``reports`` ("From <router> <text>"), one per probe."""
    lines = "".join(
        f"From {report.split(' ', 1)[0]} icmp_seq={seq} {report.split(' ', 1)[1]}\n"
        for seq, report in enumerate(reports, 1)
    )
    summary = PING_SUMMARY.format(d=destination, sent=len(reports), got=0, tail="100% packet loss")
    header = (
        PING.format(d=destination)
        if ":" not in destination
        else f"PING {destination}({destination}) 56 data bytes\n"
    )
    return header + lines + summary


# id -> (tool, stdout, stderr, exit code, truncated, verdict, [(cause code, hop, address)])
CASES: dict[
    str, tuple[str, str, str, int | None, bool, Verdict, list[tuple[CauseCode, int | None, str | None]]]
] = {
    "ping some lost": (
        "ping",
        PING.format(d=V4)
        + REPLY.format(d=V4, seq=1)
        + REPLY.format(d=V4, seq=3)
        + PING_SUMMARY.format(d=V4, sent=3, got=2, tail="33.3333% packet loss"),
        "",
        1,
        False,
        P,
        [(C.PACKET_LOSS, None, None)],
    ),
    "ping some lost, some host unreachable": (
        "ping",
        PING.format(d="10.1.1.99")
        + REPLY.format(d="10.1.1.99", seq=1)
        + "From 10.1.1.1 icmp_seq=2 Destination Host Unreachable\n"
        + PING_SUMMARY.format(d="10.1.1.99", sent=2, got=1, tail="+1 errors, 50% packet loss"),
        "",
        1,
        False,
        P,
        [(C.PACKET_LOSS, None, None), (C.HOST_UNREACHABLE, None, "10.1.1.1")],
    ),
    "ping filtered, prohibited, ttl exceeded; a redirect is no error": (
        "ping",
        icmp_ping(
            "10.1.1.99",
            "10.1.1.1 Destination Host Prohibited",
            "10.1.1.2 Packet filtered",
            "10.1.1.3 Time to live exceeded",
            "10.1.1.4 Redirect Host(New nexthop: 10.1.1.5)",
            "10.1.1.1 Destination Host Prohibited",
        ),
        "",
        1,
        False,
        U,
        [
            (C.ADMIN_PROHIBITED, None, "10.1.1.1"),
            (C.ADMIN_PROHIBITED, None, "10.1.1.2"),
            (C.ICMP_ERROR, None, "10.1.1.3"),
        ],
    ),
    "ping6 no route, administratively prohibited": (
        "ping",
        icmp_ping(
            V6,
            "2001:db8:1:1::1 Destination unreachable: No route",
            "2001:db8:1:1::2 Destination unreachable: Administratively prohibited",
        ),
        "",
        1,
        False,
        U,
        [(C.NET_UNREACHABLE, None, "2001:db8:1:1::1"), (C.ADMIN_PROHIBITED, None, "2001:db8:1:1::2")],
    ),
    "ping cut short: no summary": (
        "ping",
        PING.format(d=V4) + REPLY.format(d=V4, seq=1),
        "",
        1,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
    "ping fails: no route on the VM": (
        "ping",
        "",
        "ping: connect: Network is unreachable\n",
        2,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "the VM side refuses": (
        "ping",
        "",
        "sysvmdiag-vm: refused: no\n",
        EXIT_REFUSED,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "no exit status": ("ping", OK_PING, "", None, False, D, [(C.TOOL_ERROR, None, None)]),
    "stopped at the VM's time limit, replies or not": (
        "ping",
        PING.format(d=V4) + REPLY.format(d=V4, seq=1),
        "sysvmdiag-vm: ping killed after the 60 s limit\n",
        EXIT_TIMEOUT,
        False,
        D,
        [(C.TIMEOUT, None, None)],
    ),
    "output over the cap": ("ping", OK_PING, "", None, True, D, [(C.OUTPUT_TRUNCATED, None, None)]),
    "traceroute !X": (
        "traceroute",
        TRACE.format(m=20) + HOP1 + " 2  198.51.100.2  0.235 ms !X  0.213 ms !X  0.205 ms !X\n",
        "",
        0,
        False,
        U,
        [(C.ADMIN_PROHIBITED, 2, "198.51.100.2")],
    ),
    "traceroute !A !C !P on one hop": (
        "traceroute",
        TRACE.format(m=20) + " 1  203.0.113.1  0.349 ms !A  0.250 ms !C  0.242 ms !P\n",
        "",
        0,
        False,
        U,
        [(C.ADMIN_PROHIBITED, 1, "203.0.113.1"), (C.ICMP_ERROR, 1, "203.0.113.1")],
    ),
    "traceroute !H": (
        "traceroute",
        TRACE.format(m=20) + HOP1 + " 2  198.51.100.2  0.235 ms !H  *  *\n",
        "",
        0,
        False,
        U,
        [(C.HOST_UNREACHABLE, 2, "198.51.100.2")],
    ),
    "traceroute stars after hop 1": (
        "traceroute",
        TRACE.format(m=3) + HOP1 + " 2  * * *\n 3  * * *\n",
        "",
        0,
        False,
        U,
        [(C.NO_REPLY_AFTER_HOP, 1, "203.0.113.1")],
    ),
    "traceroute out of hops while hops answer": (
        "traceroute",
        TRACE.format(m=2) + HOP1 + " 2  198.51.100.2  0.235 ms  0.213 ms  0.205 ms\n",
        "",
        0,
        False,
        D,
        [(C.HOP_LIMIT, 2, "198.51.100.2")],
    ),
    "traceroute ends at another address": (
        "traceroute",
        TRACE.format(m=20) + HOP1 + " 2  198.51.100.81  0.235 ms  0.213 ms  0.205 ms\n",
        "",
        0,
        False,
        D,
        [(C.OTHER_ADDRESS_ANSWERED, 2, "198.51.100.81")],
    ),
    "traceroute prints no hop": (
        "traceroute",
        TRACE.format(m=20),
        "",
        0,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
    "traceroute fails": (
        "traceroute",
        TRACE.format(m=20),
        "send: Operation not permitted\n",
        1,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "arping half answered": ("arping", ARPING_HALF, "", 0, False, R, []),
    "arping fails on a missing interface": (
        "arping",
        "",
        "arping: libnet_init(LIBNET_LINK, eth9): eth9: SIOCGIFHWADDR: No such device\n",
        1,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "mtr destination loses some": (
        "mtr",
        mtr("10.99.2.2", ("10.99.1.1", 0.0), ("10.99.2.2", 40.0)),
        "",
        0,
        False,
        P,
        [(C.PACKET_LOSS, 2, "10.99.2.2")],
    ),
    "mtr silent after hop 1": (
        "mtr",
        mtr("10.99.2.2", ("10.99.1.1", 0.0), ("???", 100.0)),
        "",
        0,
        False,
        U,
        [(C.NO_REPLY_AFTER_HOP, 1, "10.99.1.1")],
    ),
    "mtr nothing answers": (
        "mtr",
        mtr("10.99.2.2", ("???", 100.0)),
        "",
        0,
        False,
        U,
        [(C.NO_REPLY, None, None)],
    ),
    "mtr ends at another address (an error, or the hop limit)": (
        "mtr",
        mtr("10.99.2.2", ("10.99.1.1", 0.0), ("10.99.3.1", 0.0)),
        "",
        0,
        False,
        D,
        [(C.OTHER_ADDRESS_ANSWERED, 2, "10.99.3.1")],
    ),
    "mtr the same router twice, but a silent hop between": (
        "mtr",
        mtr("10.99.2.2", ("10.99.1.1", 0.0), ("???", 100.0), ("10.99.1.1", 0.0)),
        "",
        0,
        False,
        D,
        [(C.OTHER_ADDRESS_ANSWERED, 3, "10.99.1.1")],
    ),
    "mtr reports no hop": ("mtr", mtr("10.99.2.2"), "", 0, False, D, [(C.UNREADABLE_OUTPUT, None, None)]),
    "mtr resolve failure exits 0": (
        "mtr",
        "",
        "mtr: Failed to resolve host: fd99:2::2: Address family for hostname not supported\n",
        0,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "mtr report cut": (
        "mtr",
        mtr("10.99.2.2", ("10.99.1.1", 0.0), ("10.99.2.2", 0.0))[:-60],
        "",
        0,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
    "pmtu !A over IPv6": (
        "pmtu",
        " 1?: [LOCALHOST]                        0.027ms pmtu 1500\n"
        " 1:  fd99:1::1                                             0.080ms \n"
        " 2:  fd99:1::1                                             0.017ms pmtu 1400\n"
        " 2:  fd99:1::1                                             0.015ms !A\n"
        "     Resume: pmtu 1400 \n",
        "",
        0,
        False,
        U,
        [(C.ADMIN_PROHIBITED, 2, "fd99:1::1")],
    ),
    "pmtu !N and !P": (
        "pmtu",
        TRACEPATH_START
        + " 1:  10.99.1.1                                             0.071ms !N\n"
        + " 1:  10.99.1.2                                             0.071ms !P\n"
        + "     Resume: pmtu 1500 \n",
        "",
        0,
        False,
        U,
        [(C.NET_UNREACHABLE, 1, "10.99.1.1"), (C.ICMP_ERROR, 1, "10.99.1.2")],
    ),
    "pmtu send failed (no route on the VM)": (
        "pmtu",
        " 1:  send failed\n     Resume: pmtu 65535 \n",
        "",
        0,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "pmtu silent after the drop": (
        "pmtu",
        TRACEPATH_START
        + " 1:  no reply\n 2:  10.99.1.1                                             0.093ms pmtu 1400\n"
        + "".join(f"{hop:2}:  no reply\n" for hop in range(2, 11))
        + "     Too many hops: pmtu 1400\n     Resume: pmtu 1400 \n",
        "",
        0,
        False,
        U,
        [(C.NO_REPLY_AFTER_HOP, 2, "10.99.1.1")],
    ),
    "pmtu hops answer up to the hop limit": (
        "pmtu",
        TRACEPATH_START
        + " 1:  10.99.1.1                                             0.071ms \n"
        + " 2:  10.99.3.1                                             0.071ms \n"
        + "     Too many hops: pmtu 1500\n     Resume: pmtu 1500 \n",
        "",
        0,
        False,
        D,
        [(C.HOP_LIMIT, 2, "10.99.3.1")],
    ),
    "pmtu prints no hop": (
        "pmtu",
        TRACEPATH_START + "     Resume: pmtu 1500 \n",
        "",
        0,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
    "pmtu cut short": (
        "pmtu",
        TRACEPATH_START + " 1:  10.99.1.1                                             0.071ms \n",
        "",
        0,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
    "pmtu fails: wrong address family": (
        "pmtu",
        "",
        "tracepath: fd99:2::2: Address family for hostname not supported\n",
        1,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "ndisc fails on a missing interface": (
        "ndisc",
        "",
        "eth9: No such device\n",
        1,
        False,
        D,
        [(C.TOOL_ERROR, None, None)],
    ),
    "ndisc cut before its end": (
        "ndisc",
        "Soliciting fd99:1::99 (fd99:1::99) on eth0...\nTimed out.\n",
        "",
        2,
        False,
        D,
        [(C.UNREADABLE_OUTPUT, None, None)],
    ),
}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN_OUTPUTS / f"{name}.json").read_text())


def judged(name: str) -> Judgement:
    record = fixture(name)
    parsed = parse_output(record["tool"], record["stdout"], record["stderr"], record["exit_code"])
    return judge(parsed, record["exit_code"])


def shape(judgement: Judgement) -> tuple[Verdict, list[tuple[CauseCode, int | None, str | None]]]:
    return judgement.verdict, [(cause.code, cause.hop, cause.address) for cause in judgement.cause]


def every_judgement() -> list[Judgement]:
    cases = [
        judge(parse_output(tool, out, err, code), code, truncated=cut)
        for tool, out, err, code, cut, _, _ in CASES.values()
    ]
    return [judged(name) for name in GOLDEN] + cases


def test_every_golden_output_has_its_verdict_listed() -> None:
    assert sorted(GOLDEN) == FIXTURE_NAMES


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_outputs_give_their_verdict_and_causes(name: str) -> None:
    assert shape(judged(name)) == GOLDEN[name]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_an_answer_carries_the_judgement_of_its_result(name: str) -> None:
    answer = result_from_capture(name, at=NOW)
    assert (answer.verdict, answer.cause) == (judged(name).verdict, judged(name).cause)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cases_give_their_verdict_and_causes(case: str) -> None:
    tool, stdout, stderr, exit_code, truncated, verdict, causes = CASES[case]
    judgement = judge(parse_output(tool, stdout, stderr, exit_code), exit_code, truncated=truncated)
    assert shape(judgement) == (verdict, causes)


def test_causes_name_what_the_evidence_shows() -> None:
    assert [cause.message for cause in judged("traceroute_net_unreachable").cause] == [
        "Hop 2 (198.51.100.2) answered !N: it has no route to the destination network."
    ]
    assert [cause.message for cause in judged("ping_v4_host_unreachable").cause] == [
        "10.1.1.1 answered: Destination Host Unreachable."
    ]
    tool, stdout, stderr, exit_code, *_ = CASES["ping fails: no route on the VM"]
    failed = judge(parse_output(tool, stdout, stderr, exit_code), exit_code)
    assert failed.cause[0].message == "ping failed (exit 2): ping: connect: Network is unreachable"
    tool, stdout, stderr, exit_code, *_ = CASES["ping some lost"]
    lost = judge(parse_output(tool, stdout, stderr, exit_code), exit_code)
    assert lost.cause[0].message == "2 of 3 probes answered (33.3333% loss)."


def test_causes_of_the_newer_tools_name_what_the_evidence_shows() -> None:
    assert [cause.message for cause in judged("mtr_host_unreachable").cause] == [
        "Hop 3 (198.51.100.2) answered in the destination's place, as it had answered hop 2: an ICMP error "
        "such as host or network unreachable (mtr does not say which)."
    ]
    assert [cause.message for cause in judged("pmtu_host_unreachable").cause] == [
        "Hop 3 (198.51.100.2) answered !H: the destination host is unreachable from there."
    ]
    assert [cause.message for cause in judged("ndisc_no_response").cause] == [
        "Nobody answered neighbour solicitation for 2001:db8:1:1::99 on eth0: 3 attempt(s) timed out."
    ]
    assert [cause.message for cause in judged("mtr_no_such_interface").cause] == [
        "mtr failed (exit 1): mtr: no such interface"
    ]
    messages = {
        case: judge(parse_output(tool, out, err, code), code).cause[0].message
        for case, (tool, out, err, code, *_) in CASES.items()
        if tool in ("mtr", "pmtu")
    }
    assert messages["mtr destination loses some"] == "3 of 5 probes to the destination answered (40% loss)."
    assert messages["mtr silent after hop 1"] == "Hop 1 (10.99.1.1) was the last to answer; hop 2 did not."
    assert messages["mtr ends at another address (an error, or the hop limit)"] == (
        "mtr ended at hop 2, answered by 10.99.3.1, not 10.99.2.2."
    )
    assert messages["pmtu hops answer up to the hop limit"] == (
        "Hop 2 (10.99.3.1) still answered when the 2-hop limit ran out."
    )
    assert messages["pmtu send failed (no route on the VM)"] == (
        "pmtu failed: tracepath could not send its probe at hop 1."
    )
    assert messages["pmtu silent after the drop"] == (
        "Hop 2 (10.99.1.1) was the last to answer; hops 3 to 10 did not."
    )
    assert judged("pmtu_too_many_hops").cause[0].message == (
        "Hop 2 (198.51.100.2) still answered when the 2-hop limit ran out."
    )


def test_the_path_mtu_is_no_cause() -> None:
    """A drop is a fact of the result (and its summary), not a reason the path fails."""
    assert judged("pmtu_drop").verdict is R and judged("pmtu_drop").cause == []


def test_no_probe_sent_is_undetermined() -> None:
    for result in (PingResult(transmitted=0, received=0), ArpingResult(transmitted=0, received=0)):
        assert shape(judge(result, 1)) == (D, [(C.UNREADABLE_OUTPUT, None, None)])


def test_every_cause_code_is_given_by_some_case_with_a_verdict_the_table_allows() -> None:
    given: set[CauseCode] = set()
    for judgement in every_judgement():
        for cause in judgement.cause:
            assert judgement.verdict in cause.code.verdicts, (cause.code, judgement.verdict)
            given.add(cause.code)
    assert given == set(CauseCode) == set(CAUSES)


def test_only_reachable_goes_without_a_cause() -> None:
    for judgement in every_judgement():
        assert bool(judgement.cause) == (judgement.verdict is not R)


# --- stored answers ------------------------------------------------------------------------------------


def stored_job(answer_body: dict[str, Any]) -> Job:
    return Job.model_validate_json(job_doc(answer_body, status="failed"))


def answer_body(name: str) -> dict[str, Any]:
    return json.loads(result_from_capture(name, at=NOW).model_dump_json(by_alias=True))


def test_a_job_stored_before_verdicts_is_judged_on_load() -> None:
    body = answer_body("traceroute_net_unreachable")
    del body["verdict"], body["cause"], body["result"]["tool"]  # older still: results named no tool
    job = stored_job(body)
    assert (
        job.result is not None
        and shape(Judgement(job.result.verdict, job.result.cause)) == GOLDEN["traceroute_net_unreachable"]
    )


def test_a_job_stored_before_verdicts_with_an_empty_result_is_undetermined() -> None:
    body = answer_body("ping_v4_ok") | {"result": {}}
    del body["verdict"], body["cause"]
    job = stored_job(body)
    assert job.result is not None and job.result.verdict is D
    assert [cause.code for cause in job.result.cause] == [C.UNREADABLE_OUTPUT]


def test_a_stored_verdict_is_kept_as_it_was_answered() -> None:
    body = answer_body("ping_v4_ok") | {"verdict": "undetermined", "cause": []}
    job = stored_job(body)
    assert job.result is not None and (job.result.verdict, job.result.cause) == (D, [])
