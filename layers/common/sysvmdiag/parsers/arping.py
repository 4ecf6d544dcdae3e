"""Thomas Habets' ``arping`` (Debian package ``arping``, 2.x), which jc has no parser for.

Its output, for an IP target::

    ARPING 203.0.113.1
    60 bytes from 02:5e:00:00:00:01 (203.0.113.1): index=0 time=41.532 usec
    Timeout

    --- 203.0.113.1 statistics ---
    2 packets transmitted, 1 packets received,  50% unanswered (0 extra)
    rtt min/avg/max/std-dev = 0.042/0.042/0.042/0.000 ms

Reply times carry their own unit (nsec, usec, msec or sec), so they are converted to ms here.
"""

from __future__ import annotations

import re

from sysvmdiag.parsers.common import loss_percent, stderr_errors
from sysvmdiag.results import ArpingReply, ArpingResult, RoundTrip

HEADER_LINE = re.compile(r"^ARPING\s+(?P<target>\S+)")
# "60 bytes from <mac> (<ip>): index=0 time=41.532 usec"; a MAC target swaps the two and says icmp_seq.
REPLY_LINE = re.compile(
    r"^(?P<bytes>\d+)\s+bytes\s+from\s+(?P<first>\S+)\s+\((?P<second>[^)]+)\):\s+"
    r"(?:index|icmp_seq)=(?P<seq>\d+)"
    r"(?:\s+time=(?P<time>[\d.]+)\s*(?P<unit>nsec|usec|msec|sec))?"
)
SUMMARY_LINE = re.compile(
    r"^(?P<transmitted>\d+)\s+packets\s+transmitted,\s+(?P<received>\d+)\s+packets\s+received,\s+"
    r"(?P<loss>[\d.]+)%\s+unanswered(?:\s+\((?P<extra>\d+)\s+extra\))?"
)
RTT_LINE = re.compile(
    r"^rtt\s+min/avg/max/std-dev\s+=\s+(?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)/(?P<mdev>[\d.]+)\s+ms"
)
MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
MS_PER_UNIT = {"nsec": 1e-6, "usec": 1e-3, "msec": 1.0, "sec": 1000.0}


def _reply(match: re.Match[str]) -> ArpingReply:
    first, second = match["first"], match["second"]
    mac, address = (first, second) if MAC.match(first) else (second, first)
    rtt_ms = None
    if match["time"] is not None:
        rtt_ms = round(float(match["time"]) * MS_PER_UNIT[match["unit"]], 6)
    return ArpingReply(mac=mac.lower(), address=address, seq=int(match["seq"]), rtt_ms=rtt_ms)


def parse_arping(stdout: str, stderr: str, exit_code: int | None) -> ArpingResult:
    """Counts, loss, rtt statistics and the replying MAC addresses of one ``arping`` run."""
    result = ArpingResult(errors=stderr_errors(stderr))
    unread: list[str] = []
    for raw_line in stdout.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("---"):
            continue
        if line == "Timeout":
            result.timeouts += 1
        elif match := REPLY_LINE.match(line):
            result.replies.append(_reply(match))
        elif match := SUMMARY_LINE.match(line):
            result.transmitted = int(match["transmitted"])
            result.received = int(match["received"])
            result.packet_loss_percent = float(match["loss"])
            result.extra = int(match["extra"]) if match["extra"] is not None else None
        elif match := RTT_LINE.match(line):
            result.rtt_ms = RoundTrip(**{key: float(match[key]) for key in ("min", "avg", "max", "mdev")})
        elif match := HEADER_LINE.match(line):
            result.destination = match["target"]
        else:
            unread.append(line)

    if result.transmitted is None:
        result.received = len(result.replies)
        result.parse_error = (
            f"arping produced no output (exit code {exit_code})"
            if not stdout.strip()
            else "arping output has no statistics summary (the run was probably cut short)"
        )
    elif unread:
        result.parse_error = f"{len(unread)} line(s) of arping output were not understood"
    if result.packet_loss_percent is None:
        result.packet_loss_percent = loss_percent(result.transmitted, result.received)
    return result
