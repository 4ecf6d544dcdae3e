"""How a diagnostic result reads to a person, in one place: the CLI's lines and the notifications' line.

Both format the typed results of :mod:`sysvmdiag.results`, so a field renamed there fails here, in
tests, instead of printing "None" in a terminal or an SNS message. A value the parser could not
read shows as "?" (counts) or "-" (times).
"""

from __future__ import annotations

from sysvmdiag.results import ArpingResult, ParsedResult, PingResult, TracerouteResult


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
    return lines


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
    return line


def _traceroute_line(result: TracerouteResult, destination: str) -> str:
    if result.reached:
        return f"reached {destination} in {len(result.hops)} hop(s)"
    line = f"{destination} not reached after {len(result.hops)} hop(s)"
    answered = [(hop.hop, probe.address) for hop in result.hops for probe in hop.probes if probe.address]
    if answered:
        hop, address = answered[-1]
        line += f", last answer from {address} at hop {hop}"
    return line
