"""How a diagnostic result reads to a person, in one place: the CLI's lines and the notifications' line.

Both format the typed results of :mod:`sysvmdiag.results`, so a field renamed there fails here, in
tests, instead of printing "None" in a terminal or an SNS message. A value the parser could not
read shows as "?" (counts) or "-" (times).

Every line here, and every line the CLI prints, passes through :func:`printable`: text that came from a
client or a VM (a user agent, a target id, a tool's stderr) cannot move the cursor, start a new line,
recolour or reorder a terminal. JSON output (``--json``, the API) is left as it is.
"""

from __future__ import annotations

import unicodedata

from sysvmdiag.results import (
    ArpingResult,
    MtrResult,
    NdiscResult,
    ParsedResult,
    PingResult,
    PmtuHop,
    PmtuResult,
    TracerouteResult,
)

# Unicode categories escaped by printable(): controls (C0, DEL, C1: newline, carriage return, ESC),
# format characters (the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the
# marks U+200E/U+200F/U+061C, zero-width characters), line and paragraph separators, lone surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` as one inert line for a terminal or a notification: every control, format or separator
    character is written as its escape (``\\n``, ``\\x1b``, ``\\u202e``); everything else is kept.

    Backslashes are kept as they are, so printable(printable(x)) == printable(x).
    """
    text = str(text)
    if all(unicodedata.category(char) not in _ESCAPED_CATEGORIES for char in text):
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in text
    )


def number(value: float | None) -> str:
    """A count or percentage as ``%g`` (3, 0.5, 100), "?" when unknown."""
    return f"{value:g}" if value is not None else "?"


def ms(value: float | None) -> str:
    """A round-trip time with its unit, "-" when the probe got no answer."""
    return f"{value:.3f} ms" if value is not None else "-"


def detail_lines(result: ParsedResult) -> list[str]:
    """The indented lines the CLI prints under a run's headline: counts and rtt, hops, or replies."""
    lines: list[str] = []
    if isinstance(result, PingResult | ArpingResult):
        lines.append(
            f"  {number(result.received)}/{number(result.transmitted)} received, "
            f"{number(result.packet_loss_percent)}% loss"
        )
    if isinstance(result, PingResult) and result.rtt_ms is not None:
        rtt = result.rtt_ms
        lines.append(f"  rtt min/avg/max/mdev {ms(rtt.min)} / {ms(rtt.avg)} / {ms(rtt.max)} / {ms(rtt.mdev)}")
    if isinstance(result, TracerouteResult):
        for hop in result.hops:
            addresses = sorted({probe.address or "*" for probe in hop.probes}) or ["*"]
            rtts = " ".join(ms(probe.rtt_ms) for probe in hop.probes if probe.rtt_ms is not None)
            lines.append(f"  {hop.hop:>2}  {', '.join(addresses):<18} {rtts}")
    if isinstance(result, MtrResult):  # mtr's own columns, but for StDev
        lines.extend(
            f"  {hop.hop:>2}  {hop.address or '???':<18} {number(hop.loss_percent)}% loss "
            f"({number(hop.received)}/{number(hop.sent)}), avg {ms(hop.avg_ms)}, best {ms(hop.best_ms)}, "
            f"worst {ms(hop.worst_ms)}"
            for hop in result.hops
        )
    if isinstance(result, PmtuResult):
        lines.append(f"  pmtu {number(result.pmtu)}, starting from {number(result.local_pmtu)}")
        lines.extend(_pmtu_hop_line(hop) for hop in result.hops)
    if isinstance(result, ArpingResult):
        lines.extend(
            f"  reply from {reply.address} [{reply.mac}] {ms(reply.rtt_ms)}" for reply in result.replies
        )
    if isinstance(result, NdiscResult):
        lines.append(
            f"  reply from {result.address or '?'} [{result.mac}]"
            if result.responded
            else f"  no reply on {result.interface or '?'}, {result.attempts_timed_out} attempt(s) timed out"
        )
    return [printable(line) for line in lines]


def _pmtu_hop_line(hop: PmtuHop) -> str:
    """One tracepath line: who answered (or "no reply"), its rtt, and the pmtu or mark it gave."""
    who = hop.address or ("no reply" if hop.mark is None and hop.pmtu is None else "this VM")
    rtt = ms(hop.rtt_ms) if hop.rtt_ms is not None else None
    tail = " ".join(part for part in (rtt, f"pmtu {hop.pmtu}" if hop.pmtu else None, hop.mark) if part)
    return f"  {hop.hop:>2}  {who:<18} {tail}".rstrip()


def verdict_line(verdict: str, causes: list[tuple[str, str]]) -> str:
    """The verdict and each cause's code and sentence, on one indented line.

    Plain strings, not the models of :mod:`sysvmdiag.verdicts`: a server newer than the CLI may give a
    cause code this CLI does not know, and it is still worth printing.
    """
    line = f"  verdict: {verdict}"
    if causes:
        line += " - " + " ".join(f"{code}: {message}" for code, message in causes)
    return printable(line)


def one_line(result: ParsedResult, destination: str) -> str:
    """A short line for a notification: loss and average rtt, how far a trace got, the path MTU, or the
    MAC that answered; errors counted.

    ``destination`` is the address asked for, shown when the output did not name one.
    """
    if isinstance(result, TracerouteResult):
        answers = [(hop.hop, probe.address) for hop in result.hops for probe in hop.probes if probe.address]
        line = _trace_line(result.reached, result.destination or destination, len(result.hops), answers)
    elif isinstance(result, MtrResult):
        line = _mtr_line(result, result.destination or destination)
    elif isinstance(result, PmtuResult):
        line = _pmtu_line(result, result.destination or destination)
    elif isinstance(result, NdiscResult):
        line = _ndisc_line(result, result.destination or destination)
    else:
        line = (
            f"{number(result.received)}/{number(result.transmitted)} replies, "
            f"{number(result.packet_loss_percent)}% loss"
        )
        if result.rtt_ms is not None and result.rtt_ms.avg is not None:
            line += f", avg {number(result.rtt_ms.avg)} ms"
    if result.errors:
        line += f", {len(result.errors)} error(s)"
    return printable(line)


def _trace_line(reached: bool, destination: str, hops: int, answers: list[tuple[int, str]]) -> str:
    """How far a traceroute or mtr got: ``answers`` are (hop, address) of every answer, in order."""
    if reached:
        return f"reached {destination} in {hops} hop(s)"
    line = f"{destination} not reached after {hops} hop(s)"
    if answers:
        hop, address = answers[-1]
        line += f", last answer from {address} at hop {hop}"
    return line


def _mtr_line(result: MtrResult, destination: str) -> str:
    answers = [(hop.hop, hop.address) for hop in result.hops if hop.address and hop.received]
    line = _trace_line(result.reached, destination, len(result.hops), answers)
    if result.reached:
        last = result.hops[-1]
        line += f", {number(last.loss_percent)}% loss, avg {number(last.avg_ms)} ms"
    return line


def _pmtu_line(result: PmtuResult, destination: str) -> str:
    """The path MTU, how far tracepath got, and each drop at the router that reported it."""
    last_hop = result.hops[-1].hop if result.hops else 0
    line = f"pmtu {number(result.pmtu)} toward {destination}, "
    line += (
        f"reached in {result.hop_count or last_hop} hop(s)"
        if result.reached
        else f"not reached after {last_hop} hop(s)"
    )
    drops, before = [], result.local_pmtu
    for drop in result.drops:
        where = _router_hop(result, drop.hop, drop.address)
        drops.append(f"from {number(before)} to {drop.pmtu} at {drop.address or 'this VM'} ({where})")
        before = drop.pmtu
    if drops:
        line += "; drops " + ", ".join(drops)
    return line


def _router_hop(result: PmtuResult, probed: int, address: str | None) -> str:
    """Where the router that reported a drop is: the hop it answered "time exceeded" at, if it did."""
    hop = next(
        (
            hop.hop
            for hop in result.hops
            if address and hop.address == address and hop.pmtu is None and not hop.mark
        ),
        None,
    )
    return f"hop {hop}" if hop is not None else f"before hop {probed}"


def _ndisc_line(result: NdiscResult, destination: str) -> str:
    if not result.responded:
        return f"no answer from {destination}, {result.attempts_timed_out} attempt(s) timed out"
    line = f"{destination} is at {result.mac}"
    if result.address and result.address != destination:
        line += f" (answered by {result.address})"
    return line
