"""What the parsers read out of the tools' outputs: the ``result`` of every diagnostic.

One pydantic model per tool, told apart by ``tool``, so the OpenAPI document shows callers each
shape and the CLI and notifications format typed values instead of guessing at dict keys. Field
names are snake_case on the wire (they were before these models existed; callers read them).
Every field has a default, so a parser that could read nothing still returns a whole result with
a ``parse_error`` sentence. Only pydantic is imported here: the API models build on this.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Part(BaseModel):
    """A piece of a result; every field is always written, so the response schema requires them all."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class ToolMessage(_Part):
    """A line the tool wrote on stderr: tools report their own failures there."""

    message: str


class IcmpError(_Part):
    """An ICMP error report ping printed ("From 10.1.1.1 icmp_seq=1 Destination Host Unreachable")."""

    address: str
    seq: int
    message: str


class HopError(_Part):
    """A traceroute or tracepath ``!X`` mark, once per hop and address, with what it means."""

    hop: int
    address: str | None
    message: str


class RoundTrip(_Part):
    """The tool's own rtt summary line, in milliseconds."""

    min: float | None = None
    avg: float | None = None
    max: float | None = None
    mdev: float | None = None


class PingReply(_Part):
    seq: int | None = None
    ttl: int | None = None
    rtt_ms: float | None = None
    address: str | None = None
    duplicate: bool = False


class TracerouteProbe(_Part):
    """One probe of a hop; an unanswered one (``*``) has every field null."""

    address: str | None = None
    rtt_ms: float | None = None
    annotation: str | None = Field(default=None, description='traceroute\'s mark, e.g. "!N".')


class TracerouteHop(_Part):
    hop: int
    probes: list[TracerouteProbe] = Field(default_factory=list)


class ArpingReply(_Part):
    mac: str = Field(description="Lower case, colon separated.")
    address: str
    seq: int
    rtt_ms: float | None = None


class MtrHop(_Part):
    """One hop of mtr's report; an unanswered one ("???") has address null and no times."""

    hop: int
    address: str | None = None
    loss_percent: float | None = None
    sent: int | None = None
    received: int | None = Field(default=None, description="Derived from sent and loss: mtr prints no count.")
    last_ms: float | None = None
    avg_ms: float | None = None
    best_ms: float | None = None
    worst_ms: float | None = None
    stdev_ms: float | None = None


# tracepath's word where a hop's address would be when the VM could not send the probe at all.
PMTU_SEND_FAILED = "send failed"


class PmtuHop(_Part):
    """One hop line of tracepath, in output order (a hop number repeats when tracepath probes it again)."""

    hop: int = Field(description="As printed: the probe's TTL.")
    address: str | None = Field(
        default=None, description='Who answered; null for "no reply" and for the VM itself ([LOCALHOST]).'
    )
    rtt_ms: float | None = None
    pmtu: int | None = Field(default=None, description="The smaller path MTU this answer reported.")
    mark: str | None = Field(
        default=None, description=f'tracepath\'s "!H", "!N", "!A", "!P", or "{PMTU_SEND_FAILED}".'
    )


class PmtuDrop(_Part):
    """A router (or, address null, the VM itself) reported that the path needs smaller packets."""

    hop: int = Field(description="As printed: the TTL of the probe it answered; the router is before it.")
    address: str | None
    pmtu: int


def _parse_error() -> Any:
    return Field(default=None, description="Why the output was not fully read; null when it was.")


class _ToolResult(_Part):
    @property
    def ended_short(self) -> bool:
        """True when the run stopped before its destination although the tool may have exited 0."""
        return False


class PingResult(_ToolResult):
    """Counts, loss, rtt statistics, replies and ICMP errors of one ``ping`` run."""

    tool: Literal["ping"] = "ping"
    destination: str | None = None
    transmitted: int | None = None
    received: int | None = None
    duplicates: int = 0
    error_count: int = Field(default=0, description="ping's own error count (+N errors).")
    packet_loss_percent: float | None = None
    rtt_ms: RoundTrip | None = None
    replies: list[PingReply] = Field(default_factory=list)
    errors: list[IcmpError | ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()


class TracerouteResult(_ToolResult):
    """Hops with every probe, and whether the destination answered the last one."""

    tool: Literal["traceroute"] = "traceroute"
    destination: str | None = None
    max_hops: int | None = None
    hops: list[TracerouteHop] = Field(default_factory=list)
    reached: bool = False
    errors: list[HopError | ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()

    @property
    def ended_short(self) -> bool:
        return not self.reached


class ArpingResult(_ToolResult):
    """Counts, loss, rtt statistics and the replying MAC addresses of one ``arping`` run."""

    tool: Literal["arping"] = "arping"
    destination: str | None = None
    transmitted: int | None = None
    received: int | None = None
    extra: int | None = None
    packet_loss_percent: float | None = None
    rtt_ms: RoundTrip | None = None
    replies: list[ArpingReply] = Field(default_factory=list)
    timeouts: int = 0
    errors: list[ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()


class MtrResult(_ToolResult):
    """Per-hop loss and round-trip statistics of one ``mtr`` report, and whether the destination answered."""

    tool: Literal["mtr"] = "mtr"
    destination: str | None = None
    cycles: int | None = Field(default=None, description="Probes sent to each hop (-c).")
    hops: list[MtrHop] = Field(default_factory=list)
    reached: bool = Field(default=False, description="The last hop is the destination and answered.")
    errors: list[ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()

    @property
    def ended_short(self) -> bool:
        return not self.reached


class PmtuResult(_ToolResult):
    """The path MTU tracepath found, where it dropped, and how far the probes got."""

    tool: Literal["pmtu"] = "pmtu"
    destination: str | None = Field(default=None, description="tracepath names it only when reached.")
    pmtu: int | None = Field(default=None, description="The path MTU of its Resume line.")
    local_pmtu: int | None = Field(default=None, description="The MTU it started from (first line).")
    drops: list[PmtuDrop] = Field(default_factory=list)
    reached: bool = False
    too_many_hops: bool = Field(default=False, description="The hop limit (-m) ran out first.")
    hop_count: int | None = Field(
        default=None, description="Resume's \"hops N\": the destination's distance."
    )
    back: int | None = Field(default=None, description='Resume\'s "back N": the hops the replies took.')
    hops: list[PmtuHop] = Field(default_factory=list)
    errors: list[HopError | ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()

    @property
    def ended_short(self) -> bool:
        return not self.reached


class NdiscResult(_ToolResult):
    """The link-layer address that answered ``ndisc6``'s neighbour solicitation, if any."""

    tool: Literal["ndisc"] = "ndisc"
    destination: str | None = None
    interface: str | None = None
    mac: str | None = Field(default=None, description="Lower case, colon separated.")
    address: str | None = Field(default=None, description="The address the answer came from.")
    attempts_timed_out: int = 0
    responded: bool = False
    errors: list[ToolMessage] = Field(default_factory=list)
    parse_error: str | None = _parse_error()


AnyResult = PingResult | TracerouteResult | ArpingResult | MtrResult | PmtuResult | NdiscResult
ParsedResult = Annotated[AnyResult, Field(discriminator="tool")]
PARSED_RESULT: TypeAdapter[ParsedResult] = TypeAdapter(ParsedResult)
RESULT_TYPES: dict[str, type[AnyResult]] = {
    "ping": PingResult,
    "traceroute": TracerouteResult,
    "arping": ArpingResult,
    "mtr": MtrResult,
    "pmtu": PmtuResult,
    "ndisc": NdiscResult,
}


def with_tool(raw: dict[str, Any] | None, tool: str) -> dict[str, Any]:
    """``raw`` naming its ``tool``: results stored before they were typed have none (it is the run type)."""
    raw = raw or {}
    return raw if "tool" in raw else {**raw, "tool": tool}


def load_result(raw: dict[str, Any] | None, tool: str) -> ParsedResult:
    """A result as JSON gave it (a stored job, an API answer), ``tool`` filled in when it lacks one."""
    return PARSED_RESULT.validate_python(with_tool(raw, tool))
