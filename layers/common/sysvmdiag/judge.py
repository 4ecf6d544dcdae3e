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
    PMTU_SEND_FAILED,
    ArpingResult,
    IcmpError,
    MtrResult,
    NdiscResult,
    ParsedResult,
    PingResult,
    PmtuResult,
    ToolMessage,
    TracerouteResult,
)
from sysvmdiag.toolargs import EXIT_TIMEOUT
from sysvmdiag.verdicts import Cause, CauseCode, Verdict

# The exit statuses with which each tool gives its answer: ping and arping exit 1 when replies are
# missing, ndisc6 2; mtr and tracepath exit 0 whatever the path. Anything else (ping's 2, mtr's 1,
# the VM side's refusal, no status at all) is the tool failing.
ANSWER_EXIT_CODES: dict[str, frozenset[int]] = {
    "ping": frozenset({0, 1}),
    "traceroute": frozenset({0}),
    "arping": frozenset({0, 1}),
    "mtr": frozenset({0}),
    "pmtu": frozenset({0}),
    "ndisc": frozenset({0, 2}),
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

# traceroute's and tracepath's marks: !X (Linux traceroute), !A (tracepath's IPv6 administratively
# prohibited; BSD-style net prohibited) and !C are a firewall.
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
    if isinstance(result, MtrResult):
        return _mtr(result)
    if isinstance(result, PmtuResult):
        return _pmtu(result)
    if isinstance(result, NdiscResult):
        return _ndisc(result)
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


@dataclass(frozen=True)
class _Path:
    """What the hop rules read of a traceroute, mtr or tracepath run that neither arrived nor was refused."""

    tool: str
    destination: str | None
    answers: list[tuple[int, str]]  # (hop, address) of every answer, in output order
    last_hop: int
    probed: int  # how many hops were probed
    hop_limit: int | None  # the hop limit, when the run shows it ran out


def _path_end(path: _Path) -> Judgement:
    """Who answered last: the last hop (out of hops, or another address) or one before the silence."""
    at_last = next((address for hop, address in path.answers if hop == path.last_hop), None)
    if at_last is not None:
        return _answered_short(path, at_last)
    if not path.answers:
        return Judgement(
            Verdict.UNREACHABLE,
            [Cause(code=CauseCode.NO_REPLY, message=f"No hop answered ({path.probed} hop(s) probed).")],
        )
    hop, address = path.answers[-1]
    if path.last_hop > hop + 1:
        silent = f"hops {hop + 1} to {path.last_hop}"
    else:  # tracepath may end on a hop it got an answer at, after probing it again unanswered
        silent = f"hop {path.last_hop}" if path.last_hop == hop + 1 else "its later probes"
    message = f"Hop {hop} ({address}) was the last to answer; {silent} did not."
    return Judgement(
        Verdict.UNREACHABLE,
        [Cause(code=CauseCode.NO_REPLY_AFTER_HOP, message=message, hop=hop, address=address)],
    )


def _answered_short(path: _Path, address: str) -> Judgement:
    """The last hop answered but is not the destination: the hop limit ran out, or another address."""
    last = path.last_hop
    if path.hop_limit is not None and last >= path.hop_limit:
        code = CauseCode.HOP_LIMIT
        message = f"Hop {last} ({address}) still answered when the {path.hop_limit}-hop limit ran out."
    else:
        code = CauseCode.OTHER_ADDRESS_ANSWERED
        message = f"{path.tool} ended at hop {last}, answered by {address}, not {path.destination}."
    return Judgement(Verdict.UNDETERMINED, [Cause(code=code, message=message, hop=last, address=address)])


def _mark_causes(marks: list[tuple[int, str | None, str]]) -> list[Cause]:
    """One cause per mark, hop and address (``!N`` on three probes is one cause)."""
    causes: dict[tuple[CauseCode, int, str | None], Cause] = {}
    for hop, address, mark in marks:
        code = MARKS.get(mark, CauseCode.ICMP_ERROR)
        causes.setdefault(
            (code, hop, address),
            Cause(
                code=code,
                message=f"Hop {hop} ({address or 'no address'}) answered {mark}: {_MARK_SENTENCES[code]}.",
                hop=hop,
                address=address,
            ),
        )
    return list(causes.values())


def _traceroute(result: TracerouteResult) -> Judgement:
    if result.reached:
        return Judgement(Verdict.REACHABLE)
    marks = _mark_causes(
        [
            (hop.hop, probe.address, probe.annotation)
            for hop in result.hops
            for probe in hop.probes
            if probe.annotation
        ]
    )
    if marks:
        return Judgement(Verdict.UNREACHABLE, marks)
    if not result.hops:
        return _undetermined(CauseCode.UNREADABLE_OUTPUT, "traceroute printed no hop.")
    answers = [(hop.hop, probe.address) for hop in result.hops for probe in hop.probes if probe.address]
    return _path_end(
        _Path(
            "traceroute", result.destination, answers, result.hops[-1].hop, len(result.hops), result.max_hops
        )
    )


def _mtr(result: MtrResult) -> Judgement:
    """The destination's loss when it answered; else where the answers stop (mtr's report has no marks)."""
    if not result.hops:
        return _undetermined(CauseCode.UNREADABLE_OUTPUT, "mtr reported no hop.")
    last = result.hops[-1]
    if result.reached:
        if not last.loss_percent:
            return Judgement(Verdict.REACHABLE)
        loss = f"{last.loss_percent:g}% loss"
        message = f"{last.received} of {last.sent} probes to the destination answered ({loss})."
        return Judgement(
            Verdict.PARTIAL,
            [Cause(code=CauseCode.PACKET_LOSS, message=message, hop=last.hop, address=last.address)],
        )
    answers = [(hop.hop, hop.address) for hop in result.hops if hop.address and hop.received]
    if answers[-2:] == [(last.hop - 1, last.address), (last.hop, last.address)]:
        # mtr goes past a hop only on "time exceeded": the router that answered it, answering the
        # next hop too, answered in the destination's place, with an error its report does not name.
        message = (
            f"Hop {last.hop} ({last.address}) answered in the destination's place, as it had answered "
            f"hop {last.hop - 1}: an ICMP error such as host or network unreachable (mtr does not say which)."
        )
        return Judgement(
            Verdict.UNREACHABLE,
            [Cause(code=CauseCode.ICMP_ERROR, message=message, hop=last.hop, address=last.address)],
        )
    return _path_end(_Path("mtr", result.destination, answers, last.hop, len(result.hops), None))


def _pmtu(result: PmtuResult) -> Judgement:
    """Like traceroute: tracepath's marks say why it stopped; the path MTU itself is no cause."""
    if result.reached:
        return Judgement(Verdict.REACHABLE)
    unsent = next((hop.hop for hop in result.hops if hop.mark == PMTU_SEND_FAILED), None)
    if unsent is not None:
        return _undetermined(
            CauseCode.TOOL_ERROR, f"pmtu failed: tracepath could not send its probe at hop {unsent}."
        )
    marks = _mark_causes([(hop.hop, hop.address, hop.mark) for hop in result.hops if hop.mark])
    if marks:
        return Judgement(Verdict.UNREACHABLE, marks)
    if not result.hops:
        return _undetermined(CauseCode.UNREADABLE_OUTPUT, "tracepath printed no hop.")
    last = result.hops[-1].hop
    answers = [(hop.hop, hop.address) for hop in result.hops if hop.address]
    probed = len({hop.hop for hop in result.hops})
    return _path_end(
        _Path("pmtu", result.destination, answers, last, probed, last if result.too_many_hops else None)
    )


def _ndisc(result: NdiscResult) -> Judgement:
    if result.responded:
        return Judgement(Verdict.REACHABLE)
    destination = result.destination or "the destination"
    message = (
        f"Nobody answered neighbour solicitation for {destination} on {result.interface or 'the link'}: "
        f"{result.attempts_timed_out} attempt(s) timed out."
    )
    return Judgement(
        Verdict.UNREACHABLE,
        [Cause(code=CauseCode.NDISC_NO_REPLY, message=message, address=result.destination)],
    )


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
