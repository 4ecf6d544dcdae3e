"""iputils ``ping`` (IPv4 and IPv6) via jc's streaming ping parser, normalised.

jc's line-by-line parser (``ping_s``) is used rather than the whole-output one because it keeps
going past lines it does not know and still reads a truncated run (a run cut off by the
runner's timeout has replies but no summary). What jc does not keep is the text of ICMP error
reports ("From 10.1.1.1 icmp_seq=1 Destination Host Unreachable"), so those are read here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import jc

from sysvmdiag.parsers.common import loss_percent, stderr_errors
from sysvmdiag.results import IcmpError, PingReply, PingResult, RoundTrip

# "From 10.1.1.1 icmp_seq=1 Destination Host Unreachable"; without -n: "From gw (10.1.1.1) icmp_seq=..".
ICMP_ERROR_LINE = re.compile(
    r"^From\s+(?P<source>\S+)(?:\s+\((?P<address>[^)]+)\))?\s+icmp_[rs]eq=(?P<seq>\d+)\s+(?P<message>.+?)\s*$"
)
HEADER_LINE = re.compile(r"^PING\s+(?P<name>\S+?)\s*\((?P<address>[^)]+)\)")


def _strip_colon(source: str) -> str:
    """Old pings write "From 10.1.1.1: icmp_seq"; keep IPv6 literals ending in "::" intact."""
    if not source.endswith(":"):
        return source
    try:
        ipaddress.ip_address(source)
    except ValueError:
        return source[:-1]
    return source


def icmp_errors(stdout: str) -> list[IcmpError]:
    """The ICMP error reports ping printed, one entry per line, in output order."""
    errors: list[IcmpError] = []
    for line in stdout.splitlines():
        match = ICMP_ERROR_LINE.match(line.strip())
        if match:
            errors.append(
                IcmpError(
                    address=match["address"] or _strip_colon(match["source"]),
                    seq=int(match["seq"]),
                    message=match["message"],
                )
            )
    return errors


def _destination(stdout: str) -> str | None:
    for line in stdout.splitlines():
        match = HEADER_LINE.match(line.strip())
        if match:
            return match["address"]
    return None


def parse_ping(stdout: str, stderr: str, exit_code: int | None) -> PingResult:
    """Counts, loss, rtt statistics, replies and ICMP errors of one ``ping`` run."""
    replies: list[PingReply] = []
    summary: dict[str, Any] | None = None
    unreadable: list[str] = []
    for record in jc.parse("ping_s", stdout.splitlines(), ignore_exceptions=True, quiet=True):
        meta = record.get("_jc_meta", {})
        if not meta.get("success", True):
            unreadable.append(meta.get("line", ""))
        elif record.get("type") == "reply":
            replies.append(
                PingReply(
                    seq=record.get("icmp_seq"),
                    ttl=record.get("ttl"),
                    rtt_ms=record.get("time_ms"),
                    address=record.get("response_ip"),
                    duplicate=bool(record.get("duplicate")),
                )
            )
        elif record.get("type") == "summary":
            summary = record

    icmp_reports = icmp_errors(stdout)
    result = PingResult(
        destination=_destination(stdout),
        error_count=len(icmp_reports),
        replies=replies,
        errors=[*icmp_reports, *stderr_errors(stderr)],
    )
    if summary is not None:
        result.transmitted = summary.get("packets_transmitted")
        result.received = summary.get("packets_received")
        result.duplicates = summary.get("duplicates") or 0
        # ping's own "+N errors" count; the lines themselves may be fewer if output was cut.
        result.error_count = summary.get("errors") or 0
        result.packet_loss_percent = summary.get("packet_loss_percent")
        if summary.get("round_trip_ms_min") is not None:
            result.rtt_ms = RoundTrip(
                min=summary.get("round_trip_ms_min"),
                avg=summary.get("round_trip_ms_avg"),
                max=summary.get("round_trip_ms_max"),
                mdev=summary.get("round_trip_ms_stddev"),
            )
    else:
        # Cut off before the summary: the replies seen so far are still facts worth returning.
        result.received = len([reply for reply in replies if not reply.duplicate])
        result.parse_error = _missing_summary_reason(stdout, stderr, exit_code)
    if result.packet_loss_percent is None:
        result.packet_loss_percent = loss_percent(result.transmitted, result.received)
    if unreadable and result.parse_error is None:
        result.parse_error = f"{len(unreadable)} line(s) of ping output were not understood"
    return result


def _missing_summary_reason(stdout: str, stderr: str, exit_code: int | None) -> str:
    if not stdout.strip():
        first_error = next((line.strip() for line in stderr.splitlines() if line.strip()), None)
        detail = f": {first_error}" if first_error else ""
        return f"ping produced no output (exit code {exit_code}){detail}"
    return "ping output has no statistics summary (the run was probably cut short)"
