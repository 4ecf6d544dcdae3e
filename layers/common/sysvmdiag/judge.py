"""The rules that read a run's parsed result into a verdict and its causes (the codes of
:mod:`sysvmdiag.verdicts`).

Pure: the same result, exit status and truncation always give the same judgement, so stored answers
written before verdicts existed are judged on load exactly as a run is. The rules never guess: a run
that did not end in the tool's own answer (time limit, cut output, a failing tool, unread output) is
``undetermined``, whatever it printed before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sysvmdiag.results import (
    ArpingResult,
    IcmpError,
    ParsedResult,
    PingResult,
    ToolMessage,
    TracerouteHop,
    TracerouteResult,
)
from sysvmdiag.toolargs import EXIT_TIMEOUT
from sysvmdiag.verdicts import Cause, CauseCode, Verdict

# The exit statuses with which each tool gives its answer: ping and arping exit 1 when replies are
# missing; anything else (ping's 2, the VM side's refusal, no status at all) is the tool failing.
ANSWER_EXIT_CODES: dict[str, frozenset[int]] = {
    "ping": frozenset({0, 1}),
    "traceroute": frozenset({0}),
    "arping": frozenset({0, 1}),
}

# ping's ICMP error texts (iputils, IPv4 and IPv6), lower-cased fragments, first match wins.
ICMP_TEXTS: tuple[tuple[str, CauseCode], ...] = (
    ("prohibited", CauseCode.ADMIN_PROHIBITED),  # "Destination Host Prohibited", "Administratively ..."
    ("packet filtered", CauseCode.ADMIN_PROHIBITED),
    ("net unreachable", CauseCode.NET_UNREACHABLE),
    ("net unknown", CauseCode.NET_UNREACHABLE),
    ("no route", CauseCode.NET_UNREACHABLE),  # IPv6 "Destination unreachable: No route"
    ("host unreachable", CauseCode.HOST_UNREACHABLE),
    ("address unreachable", CauseCode.HOST_UNREACHABLE),  # IPv6: neighbour discovery failed
    ("host unknown", CauseCode.HOST_UNREACHABLE),
)
NOT_AN_ERROR = ("redirect",)  # "Redirect Host(New nexthop: ...)" is advice, not a failure

# traceroute's marks: !X (Linux) and !A, !C (BSD-style: net, host prohibited) are a firewall.
MARKS: dict[str, CauseCode] = {
    "!H": CauseCode.HOST_UNREACHABLE,
    "!N": CauseCode.NET_UNREACHABLE,
    "!X": CauseCode.ADMIN_PROHIBITED,
    "!A": CauseCode.ADMIN_PROHIBITED,
    "!C": CauseCode.ADMIN_PROHIBITED,
}
_MARK_SENTENCES = {
    CauseCode.HOST_UNREACHABLE: "the destination host is unreachable from there",
    CauseCode.NET_UNREACHABLE: "it has no route to the destination network",
    CauseCode.ADMIN_PROHIBITED: "communication administratively prohibited (a firewall)",
    CauseCode.ICMP_ERROR: "an ICMP error that ends the trace",
}


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    cause: list[Cause] = field(default_factory=list)


def judge(result: ParsedResult, exit_code: int | None, *, truncated: bool = False) -> Judgement:
    """The verdict and its causes for one run, from its parsed result, exit status and truncation."""
    if exit_code == EXIT_TIMEOUT:
        return _undetermined(
            CauseCode.TIMEOUT, f"{result.tool} was stopped at the VM's time limit (exit {EXIT_TIMEOUT})."
        )
    if truncated:
        return _undetermined(
            CauseCode.OUTPUT_TRUNCATED, f"{result.tool}'s output passed the size cap and was cut."
        )
    failure = _failure(result, exit_code)
    if failure is not None:
        return failure
    if isinstance(result, PingResult):
        return _ping(result)
    if isinstance(result, TracerouteResult):
        return _traceroute(result)
    return _arping(result)


def _undetermined(code: CauseCode, message: str) -> Judgement:
    return Judgement(Verdict.UNDETERMINED, [Cause(code=code, message=message)])


def _failure(result: ParsedResult, exit_code: int | None) -> Judgement | None:
    """Undetermined when the tool did not end in its answer: a failing tool, or output not fully read."""
    stderr = [error.message for error in result.errors if isinstance(error, ToolMessage)]
    if exit_code not in ANSWER_EXIT_CODES[result.tool] or (result.parse_error and stderr):
        status = f"exit {exit_code}" if exit_code is not None else "no exit status"
        said = f": {stderr[0]}" if stderr else "."
        return _undetermined(CauseCode.TOOL_ERROR, f"{result.tool} failed ({status}){said}")
    if result.parse_error:
        return _undetermined(
            CauseCode.UNREADABLE_OUTPUT, f"The output was not fully read: {result.parse_error}."
        )
    return None


def _uncounted(tool: str) -> Judgement:
    return _undetermined(CauseCode.UNREADABLE_OUTPUT, f"{tool} shows no probe sent.")


def _ping(result: PingResult) -> Judgement:
    transmitted, received = result.transmitted, result.received
    if not transmitted or received is None:
        return _uncounted("ping")
    if received >= transmitted:
        return Judgement(Verdict.REACHABLE)
    icmp = _icmp_causes([error for error in result.errors if isinstance(error, IcmpError)])
    if received == 0:
        return Judgement(Verdict.UNREACHABLE, icmp or [_no_reply(transmitted)])
    loss = f"{result.packet_loss_percent:g}% loss" if result.packet_loss_percent is not None else "loss"
    lost = Cause(code=CauseCode.PACKET_LOSS, message=f"{received} of {transmitted} probes answered ({loss}).")
    return Judgement(Verdict.PARTIAL, [lost, *icmp])


def _no_reply(transmitted: int) -> Cause:
    return Cause(
        code=CauseCode.NO_REPLY,
        message=f"None of {transmitted} probes got a reply, and no ICMP error came back.",
    )


def _icmp_causes(errors: list[IcmpError]) -> list[Cause]:
    """One cause per kind of ICMP error and reporting router, in the order ping printed them."""
    causes: dict[tuple[CauseCode, str], Cause] = {}
    for error in errors:
        text = error.message.lower()
        if any(word in text for word in NOT_AN_ERROR):
            continue
        code = next((code for part, code in ICMP_TEXTS if part in text), CauseCode.ICMP_ERROR)
        causes.setdefault(
            (code, error.address),
            Cause(code=code, message=f"{error.address} answered: {error.message}.", address=error.address),
        )
    return list(causes.values())


def _traceroute(result: TracerouteResult) -> Judgement:
    if result.reached:
        return Judgement(Verdict.REACHABLE)
    marks = _mark_causes(result.hops)
    if marks:
        return Judgement(Verdict.UNREACHABLE, marks)
    if not result.hops:
        return _undetermined(CauseCode.UNREADABLE_OUTPUT, "traceroute printed no hop.")
    last = result.hops[-1]
    last_address = next((probe.address for probe in last.probes if probe.address), None)
    if last_address is not None:
        return _answered_short(result, last, last_address)
    answered = [(hop.hop, probe.address) for hop in result.hops for probe in hop.probes if probe.address]
    if not answered:
        return Judgement(
            Verdict.UNREACHABLE,
            [Cause(code=CauseCode.NO_REPLY, message=f"No hop answered ({len(result.hops)} hop(s) probed).")],
        )
    hop, address = answered[-1]
    message = f"Hop {hop} ({address}) was the last to answer; hops {hop + 1} to {last.hop} did not."
    return Judgement(
        Verdict.UNREACHABLE,
        [Cause(code=CauseCode.NO_REPLY_AFTER_HOP, message=message, hop=hop, address=address)],
    )


def _answered_short(result: TracerouteResult, last: TracerouteHop, address: str) -> Judgement:
    """The last hop answered but is not the destination: the hop limit ran out, or another address."""
    if result.max_hops is not None and last.hop >= result.max_hops:
        code = CauseCode.HOP_LIMIT
        message = f"Hop {last.hop} ({address}) still answered when the {result.max_hops}-hop limit ran out."
    else:
        code = CauseCode.OTHER_ADDRESS_ANSWERED
        message = f"traceroute ended at hop {last.hop}, answered by {address}, not {result.destination}."
    return Judgement(Verdict.UNDETERMINED, [Cause(code=code, message=message, hop=last.hop, address=address)])


def _mark_causes(hops: list[TracerouteHop]) -> list[Cause]:
    """One cause per mark, hop and address (``!N`` on three probes is one cause)."""
    causes: dict[tuple[CauseCode, int, str | None], Cause] = {}
    for hop in hops:
        for probe in hop.probes:
            if not probe.annotation:
                continue
            code = MARKS.get(probe.annotation, CauseCode.ICMP_ERROR)
            where = f"Hop {hop.hop} ({probe.address or 'no address'})"
            causes.setdefault(
                (code, hop.hop, probe.address),
                Cause(
                    code=code,
                    message=f"{where} answered {probe.annotation}: {_MARK_SENTENCES[code]}.",
                    hop=hop.hop,
                    address=probe.address,
                ),
            )
    return list(causes.values())


def _arping(result: ArpingResult) -> Judgement:
    if not result.transmitted or result.received is None:
        return _uncounted("arping")
    if result.received:
        return Judgement(Verdict.REACHABLE)
    return Judgement(
        Verdict.UNREACHABLE,
        [
            Cause(
                code=CauseCode.ARP_NO_REPLY,
                message=f"Nobody answered ARP for {result.destination or 'the destination'}: "
                f"{result.transmitted} request(s) unanswered.",
                address=result.destination,
            )
        ],
    )
