"""Results read by people (sysvmdiag.summaries): the CLI's lines and the notifications' line.

The expected lines are what the CLI and the playbook notifications printed for these captures
before results were typed; the typed formatter must print them unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sysvmdiag.cli.client import summarize
from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.judge import judge
from sysvmdiag.models import DiagnosticResult, DiagnosticType
from sysvmdiag.parsers import parse_output
from sysvmdiag.playbooks.runs import job_summary
from sysvmdiag.results import (
    MtrHop,
    MtrResult,
    NdiscResult,
    ParsedResult,
    PingResult,
    PmtuDrop,
    PmtuHop,
    PmtuResult,
    TracerouteResult,
)
from sysvmdiag.summaries import detail_lines, ms, number, one_line

OUTPUTS = Path(__file__).resolve().parent / "outputs"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def capture(name: str) -> dict[str, Any]:
    return json.loads((OUTPUTS / f"{name}.json").read_text())


def parsed(name: str) -> ParsedResult:
    record = capture(name)
    return parse_output(record["tool"], record["stdout"], record["stderr"], record["exit_code"])


def answer(name: str) -> DiagnosticResult:
    record = capture(name)
    return DiagnosticResult(
        id="d-1",
        target_id="4b1d5c2e-7a0f-4c1e-9d3b-000000000004",
        target_name="r-4-VM",
        type=DiagnosticType(record["tool"]),
        ip_address=record["argv"][-1],
        status="succeeded" if record["exit_code"] == 0 else "failed",
        success=record["exit_code"] == 0,
        exit_code=record["exit_code"],
        stdout=record["stdout"],
        stderr=record["stderr"],
        result=parsed(name),
        egress_interface="eth2",
        egress_kind="public",
        started_at=NOW,
        finished_at=NOW,
        duration_ms=7,
    )


DETAIL_LINES = {
    "ping_v4_ok": [
        "  3/3 received, 0% loss",
        "  rtt min/avg/max/mdev 0.084 ms / 0.099 ms / 0.110 ms / 0.011 ms",
    ],
    "ping_v4_host_unreachable": ["  0/3 received, 100% loss"],
    "traceroute_v4": [
        "   1  203.0.113.1        0.052 ms 0.004 ms 0.006 ms",
        "   2  198.51.100.2       0.024 ms 0.005 ms 0.005 ms",
        "   3  198.51.100.80      0.021 ms 0.006 ms 0.006 ms",
    ],
    "traceroute_stars": [f"   {hop}  *                  " for hop in (1, 2, 3)],
    "arping_ok": [
        "  2/2 received, 0% loss",
        "  reply from 203.0.113.1 [02:15:b4:d4:8a:8c] 0.009 ms",
        "  reply from 203.0.113.1 [02:15:b4:d4:8a:8c] 0.005 ms",
    ],
    "arping_no_reply": ["  0/2 received, 100% loss"],
    "mtr_v4_ok": [
        "   1  203.0.113.1        0% loss (5/5), avg 0.122 ms, best 0.101 ms, worst 0.175 ms",
        "   2  198.51.100.2       0% loss (5/5), avg 0.121 ms, best 0.107 ms, worst 0.158 ms",
        "   3  198.51.100.80      0% loss (5/5), avg 0.121 ms, best 0.108 ms, worst 0.148 ms",
    ],
    "mtr_no_such_interface": [],
    "pmtu_drop": [
        "  pmtu 1400, starting from 1500",
        "   1  203.0.113.1        0.079 ms",
        "   1  203.0.113.1        0.012 ms",
        "   2  198.51.100.2       0.025 ms",
        "   3  198.51.100.2       0.022 ms pmtu 1400",
        "   3  198.51.100.130     0.056 ms",
    ],
    "pmtu_host_unreachable": [
        "  pmtu 1400, starting from 1500",
        "   1  203.0.113.1        0.076 ms",
        "   1  203.0.113.1        0.010 ms",
        "   2  198.51.100.2       0.023 ms",
        "   3  198.51.100.2       0.016 ms pmtu 1400",
        "   3  no reply",
        "   3  198.51.100.2       3073.243 ms !H",
    ],
    "pmtu_too_many_hops": [
        "  pmtu 1500, starting from 1500",
        "   1  203.0.113.1        0.081 ms",
        "   1  203.0.113.1        0.012 ms",
        "   2  198.51.100.2       0.025 ms",
    ],
    "ndisc_ok": ["  reply from 2001:db8:1:1::11 [02:17:a0:15:2d:58]"],
    "ndisc_no_response": ["  no reply on eth0, 3 attempt(s) timed out"],
}

ONE_LINES = {
    "ping_v4_ok": "3/3 replies, 0% loss, avg 0.099 ms",
    "ping_v4_host_unreachable": "0/3 replies, 100% loss, 3 error(s)",
    "traceroute_v4": "reached 198.51.100.80 in 3 hop(s)",
    "traceroute_stars": "10.1.1.99 not reached after 3 hop(s)",
    "traceroute_net_unreachable": (
        "10.100.0.10 not reached after 2 hop(s), last answer from 198.51.100.2 at hop 2, 1 error(s)"
    ),
    "arping_ok": "2/2 replies, 0% loss, avg 0.007 ms",
    "arping_no_reply": "0/2 replies, 100% loss",
    "mtr_v4_ok": "reached 198.51.100.80 in 3 hop(s), 0% loss, avg 0.121 ms",
    "mtr_v6_ok": "reached 2001:db8:52::80 in 3 hop(s), 0% loss, avg 0.164 ms",
    "mtr_host_unreachable": (
        "198.51.100.99 not reached after 3 hop(s), last answer from 198.51.100.2 at hop 3"
    ),
    "mtr_no_such_interface": "192.0.2.99 not reached after 0 hop(s), 1 error(s)",
    "pmtu_drop": (
        "pmtu 1400 toward 198.51.100.130, reached in 3 hop(s); drops from 1500 to 1400 at 198.51.100.2 "
        "(hop 2)"
    ),
    "pmtu_cached": "pmtu 1400 toward 198.51.100.130, reached in 3 hop(s)",
    "pmtu_v6": (
        "pmtu 1400 toward 2001:db8:53::130, reached in 3 hop(s); drops from 1500 to 1400 at 2001:db8:51::2 "
        "(hop 2)"
    ),
    "pmtu_host_unreachable": (
        "pmtu 1400 toward 192.0.2.99, not reached after 3 hop(s); drops from 1500 to 1400 at 198.51.100.2 "
        "(hop 2), 1 error(s)"
    ),
    "pmtu_too_many_hops": "pmtu 1500 toward 192.0.2.99, not reached after 2 hop(s)",
    "ndisc_ok": "2001:db8:1:1::11 is at 02:17:a0:15:2d:58",
    "ndisc_no_response": "no answer from 2001:db8:1:1::99, 3 attempt(s) timed out",
}


@pytest.mark.parametrize(("name", "lines"), DETAIL_LINES.items())
def test_detail_lines_of_captured_runs(name: str, lines: list[str]) -> None:
    assert detail_lines(parsed(name)) == lines


@pytest.mark.parametrize(("name", "line"), ONE_LINES.items())
def test_one_line_of_captured_runs(name: str, line: str) -> None:
    assert one_line(parsed(name), "192.0.2.99") == line


def test_unknown_values_show_as_question_marks_and_dashes() -> None:
    # ping with no output at all (the CLI raised TypeError on this before results were typed)
    assert detail_lines(parse_output("ping", "", "ping: connect: Network is unreachable\n", 2)) == [
        "  0/? received, ?% loss"
    ]
    assert one_line(PingResult(), "198.51.100.80") == "?/? replies, ?% loss"
    assert (number(None), ms(None), number(0.5), ms(1)) == ("?", "-", "0.5", "1.000 ms")


def test_newer_results_read_by_hand() -> None:
    silent_router = PmtuResult(
        pmtu=1400,
        local_pmtu=1500,
        hops=[PmtuHop(hop=1), PmtuHop(hop=2, address="10.99.1.1", rtt_ms=0.093, pmtu=1400)],
        drops=[PmtuDrop(hop=2, address="10.99.1.1", pmtu=1400), PmtuDrop(hop=3, address=None, pmtu=1280)],
    )
    assert one_line(silent_router, "10.99.2.2") == (
        "pmtu 1400 toward 10.99.2.2, not reached after 2 hop(s); drops from 1500 to 1400 at 10.99.1.1 "
        "(before hop 2), from 1400 to 1280 at this VM (before hop 3)"
    )
    unsent = PmtuResult(pmtu=65535, hops=[PmtuHop(hop=1, mark="send failed")])
    assert detail_lines(unsent) == ["  pmtu 65535, starting from ?", "   1  this VM            send failed"]
    assert one_line(PmtuResult(), "10.99.2.2") == "pmtu ? toward 10.99.2.2, not reached after 0 hop(s)"
    silent_hop = MtrResult(hops=[MtrHop(hop=1, address=None, loss_percent=100.0, sent=5, received=0)])
    assert detail_lines(silent_hop) == ["   1  ???                100% loss (0/5), avg -, best -, worst -"]
    proxied = NdiscResult(
        destination="fd99:1::5", mac="02:00:00:00:00:01", address="fd99:1::1", responded=True
    )
    assert one_line(proxied, "fd99:1::5") == "fd99:1::5 is at 02:00:00:00:00:01 (answered by fd99:1::1)"


def test_cli_summary_of_an_mtr_answer_prints_its_hop_table() -> None:
    # Built from the ping answer: the API's request model may not offer mtr yet; the CLI reads any type.
    record = capture("mtr_v4_ok")
    result = parsed("mtr_v4_ok")
    judgement = judge(result, record["exit_code"])
    body = json.loads(answer("ping_v4_ok").model_dump_json(by_alias=True)) | {
        "type": "mtr",
        "ipAddress": record["argv"][-1],
        "result": result.model_dump(mode="json"),
        "verdict": judgement.verdict.value,
        "cause": [],
    }
    assert summarize(body).splitlines() == [
        f"mtr {record['argv'][-1]} from r-4-VM via eth2 (public): success, exit 0, 7 ms",
        "  verdict: reachable",
        *DETAIL_LINES["mtr_v4_ok"],
    ]


def test_a_traceroute_without_a_header_names_the_address_asked_for() -> None:
    assert one_line(TracerouteResult(), "198.51.100.80") == "198.51.100.80 not reached after 0 hop(s)"


def test_cli_summary_of_an_answer() -> None:
    body = json.loads(answer("ping_v4_ok").model_dump_json(by_alias=True))
    assert summarize(body).splitlines() == [
        "ping 198.51.100.80 from r-4-VM via eth2 (public): success, exit 0, 7 ms",
        "  verdict: reachable",
        *DETAIL_LINES["ping_v4_ok"],
    ]


def test_cli_summary_shows_the_verdict_and_its_causes_in_one_line() -> None:
    body = json.loads(answer("traceroute_net_unreachable").model_dump_json(by_alias=True))
    assert summarize(body).splitlines()[1] == (
        "  verdict: unreachable - NET_UNREACHABLE: Hop 2 (198.51.100.2) answered !N: "
        "it has no route to the destination network."
    )


def test_cli_summary_of_a_server_without_verdicts_has_no_verdict_line() -> None:
    body = json.loads(answer("ping_v4_ok").model_dump_json(by_alias=True))
    del body["verdict"], body["cause"]
    assert summarize(body).splitlines()[1:] == DETAIL_LINES["ping_v4_ok"]


def test_cli_verdict_line_keeps_causes_it_does_not_know_and_escapes_them() -> None:
    body = json.loads(answer("ping_v4_ok").model_dump_json(by_alias=True)) | {
        "verdict": "unreachable",
        "cause": [{"code": "NEWER_CODE", "message": "forged\nline"}, "not a cause"],
    }
    assert summarize(body).splitlines()[1] == "  verdict: unreachable - NEWER_CODE: forged\\nline"


def test_cli_summary_of_a_failed_run_ends_with_its_stderr() -> None:
    body = json.loads(answer("ping_v4_ok").model_dump_json(by_alias=True)) | {
        "success": False,
        "exitCode": 2,
        "stderr": "ping: oops\n",
        "truncated": True,
    }
    assert summarize(body).splitlines()[-2:] == ["  (output truncated)", "  stderr: ping: oops"]


def test_cli_summary_of_a_result_from_a_server_without_tool_names() -> None:
    body = json.loads(answer("traceroute_v4").model_dump_json(by_alias=True))
    del body["result"]["tool"]
    assert summarize(body).splitlines()[1:] == ["  verdict: reachable", *DETAIL_LINES["traceroute_v4"]]


def test_cli_summary_of_a_result_it_cannot_read_keeps_the_headline_and_verdict() -> None:
    body = json.loads(answer("traceroute_v4").model_dump_json(by_alias=True))
    body["result"] = {"hops": "not a list"}
    assert summarize(body).splitlines() == [
        "traceroute 198.51.100.80 from r-4-VM via eth2 (public): success, exit 0, 7 ms",
        "  verdict: reachable",
    ]


def test_notification_line_of_a_failed_job_adds_its_exit_code() -> None:
    result = answer("ping_v4_deadline_no_reply")
    job = Job(
        id="j-1",
        status=JobStatus.FAILED,
        target_id="r-4-VM",
        type=result.type,
        ip_address=result.ip_address,
        account_id="system:alarm",
        role="admin",
        domain="ROOT",
        worst_case_seconds=10.0,
        created_at=NOW,
        deadline_at=NOW,
        result=result,
    )
    assert job_summary(job) == "0/2 replies, 100% loss (exit code 1)"
