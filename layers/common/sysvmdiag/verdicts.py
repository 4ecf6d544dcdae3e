"""The verdict on a run and the causes behind it: what operators read first, as they do in GCP
Connectivity Tests or Azure Network Watcher.

One table: every cause code, the verdicts it goes with and what it means (``python -m
sysvmdiag.verdicts`` prints it as the README shows it; a test keeps the two in step). The rules that
read a parsed result into a verdict are :func:`sysvmdiag.judge.judge`. Only pydantic is imported here:
the API models build on this.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    """What the run says of the path to the destination."""

    REACHABLE = "reachable"  # every probe answered (ping, mtr), the destination answered (the others)
    PARTIAL = "partial"  # some probes answered, some did not
    UNREACHABLE = "unreachable"  # nothing came back from the destination
    UNDETERMINED = "undetermined"  # the evidence does not say: never guessed


_R, _P, _U, _D = Verdict.REACHABLE, Verdict.PARTIAL, Verdict.UNREACHABLE, Verdict.UNDETERMINED


class CauseCode(StrEnum):
    """Every code a cause can hold; :data:`CAUSES` says what each means."""

    NO_REPLY = "NO_REPLY"
    NO_REPLY_AFTER_HOP = "NO_REPLY_AFTER_HOP"
    HOST_UNREACHABLE = "HOST_UNREACHABLE"
    NET_UNREACHABLE = "NET_UNREACHABLE"
    ADMIN_PROHIBITED = "ADMIN_PROHIBITED"
    ICMP_ERROR = "ICMP_ERROR"
    ARP_NO_REPLY = "ARP_NO_REPLY"
    NDISC_NO_REPLY = "NDISC_NO_REPLY"
    PACKET_LOSS = "PACKET_LOSS"
    HOP_LIMIT = "HOP_LIMIT"
    OTHER_ADDRESS_ANSWERED = "OTHER_ADDRESS_ANSWERED"
    TIMEOUT = "TIMEOUT"
    OUTPUT_TRUNCATED = "OUTPUT_TRUNCATED"
    TOOL_ERROR = "TOOL_ERROR"
    UNREADABLE_OUTPUT = "UNREADABLE_OUTPUT"

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return CAUSES[self][0]

    @property
    def meaning(self) -> str:
        return CAUSES[self][1]


# The one table: each code's verdicts and meaning, in the order the README lists them.
CAUSES: dict[CauseCode, tuple[tuple[Verdict, ...], str]] = {
    CauseCode.NO_REPLY: (
        (_U,),
        "No probe got a reply and nothing sent an ICMP error back (ping; traceroute, mtr or pmtu: no hop "
        "answered).",
    ),
    CauseCode.NO_REPLY_AFTER_HOP: (
        (_U,),
        "traceroute, mtr, pmtu: the hop named (`hop`, `address`) was the last to answer; every probe "
        "past it went unanswered, so look there or just beyond.",
    ),
    CauseCode.HOST_UNREACHABLE: (
        (_U, _P),
        "The router named (`address`) could not deliver to the destination host (ICMP host or address "
        "unreachable, traceroute or pmtu `!H`): usually nothing answers ARP or neighbour discovery there.",
    ),
    CauseCode.NET_UNREACHABLE: (
        (_U, _P),
        "The router named (`address`) has no route to the destination's network (ICMP network "
        "unreachable or no route, traceroute or pmtu `!N`).",
    ),
    CauseCode.ADMIN_PROHIBITED: (
        (_U, _P),
        "The router or host named (`address`) refused the probes: communication administratively "
        "prohibited or packet filtered (traceroute `!X`, `!A`, `!C`, pmtu `!A`): a firewall or ACL.",
    ),
    CauseCode.ICMP_ERROR: (
        (_U, _P),
        "Another ICMP error or traceroute mark (e.g. time exceeded, `!P`, `!F`), quoted in the message; "
        "for mtr, a router (`hop`, `address`) answering in the destination's place with an error mtr's "
        "report does not name.",
    ),
    CauseCode.ARP_NO_REPLY: (
        (_U,),
        "arping: nobody on the link answered ARP for the destination.",
    ),
    CauseCode.NDISC_NO_REPLY: (
        (_U,),
        "ndisc: nobody on the link answered IPv6 neighbour solicitation for the destination (the IPv6 "
        "twin of `ARP_NO_REPLY`).",
    ),
    CauseCode.PACKET_LOSS: (
        (_P,),
        "Some probes got no reply (ping; mtr: to the destination); the message gives the loss and the "
        "counts.",
    ),
    CauseCode.HOP_LIMIT: (
        (_D,),
        "traceroute, pmtu: hops still answered when the hop limit (`-m`) ran out; raise it to see further.",
    ),
    CauseCode.OTHER_ADDRESS_ANSWERED: (
        (_D,),
        "traceroute, mtr: the last hop answered from an address (`address`) other than the destination's "
        "(for mtr, an error from it or the hop limit: its report does not say which).",
    ),
    CauseCode.TIMEOUT: (
        (_D,),
        "The run hit the time limit on the VM and the tool was stopped before it could report.",
    ),
    CauseCode.OUTPUT_TRUNCATED: (
        (_D,),
        "The output passed the service's size cap and was cut; the end, where the answer is, is missing.",
    ),
    CauseCode.TOOL_ERROR: (
        (_D,),
        "The tool itself failed (an exit status that is not its answer, an error on stderr, quoted, or "
        "tracepath's `send failed`).",
    ),
    CauseCode.UNREADABLE_OUTPUT: (
        (_D,),
        "The output could not be fully read (the parser's `parse_error`, quoted).",
    ),
}


class Cause(BaseModel):
    """One reason for the verdict, read from the evidence: a code from the table and a sentence."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    code: CauseCode
    message: str = Field(description="A sentence for a person, naming what the evidence shows.")
    hop: int | None = Field(default=None, description="The hop (traceroute, mtr, pmtu) it concerns, if any.")
    address: str | None = Field(default=None, description="The address that answered (or last did).")


def markdown_table() -> str:
    """The README's cause table: one row per code, as :data:`CAUSES` defines it."""
    lines = ["| Cause | Verdict | Meaning |", "| --- | --- | --- |"]
    for code in CauseCode:
        verdicts = ", ".join(verdict.value for verdict in code.verdicts)
        lines.append(f"| `{code.value}` | {verdicts} | {code.meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
