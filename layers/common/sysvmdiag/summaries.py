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

from sysvmdiag.results import ArpingResult, ParsedResult, PingResult, TracerouteResult

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
    if isinstance(result, ArpingResult):
        lines.extend(
            f"  reply from {reply.address} [{reply.mac}] {ms(reply.rtt_ms)}" for reply in result.replies
        )
    return [printable(line) for line in lines]


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
    """A short line for a notification: loss and average rtt, or how far a traceroute got; errors counted.

    ``destination`` is the address asked for, shown when the output did not name one.
    """
    if isinstance(result, TracerouteResult):
        line = _traceroute_line(result, result.destination or destination)
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


def _traceroute_line(result: TracerouteResult, destination: str) -> str:
    if result.reached:
        return f"reached {destination} in {len(result.hops)} hop(s)"
    line = f"{destination} not reached after {len(result.hops)} hop(s)"
    answered = [(hop.hop, probe.address) for hop in result.hops for probe in hop.probes if probe.address]
    if answered:
        hop, address = answered[-1]
        line += f", last answer from {address} at hop {hop}"
    return line
