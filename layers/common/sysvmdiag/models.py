"""API request and response models (pydantic): the contract of ``POST /diagnostics`` and friends.

Field names are camelCase on the wire; the seed's names (``uuid``, ``diagnosisTest``,
``destinationIpAddress``) and CloudStack's ``runDiagnostics`` names (``targetid``, ``ipaddress``)
are accepted as aliases so existing callers keep working.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sysvmdiag.audit_record import AuditRecord
from sysvmdiag.judge import judge
from sysvmdiag.results import RESULT_TYPES, ParsedResult, load_result, with_tool
from sysvmdiag.verdicts import Cause, CauseCode, Verdict
from sysvmdiag.vmstate import LOG_NAMES, PARTS

RESULT_MODELS = tuple(RESULT_TYPES.values())


class DiagnosticType(StrEnum):
    PING = "ping"
    TRACEROUTE = "traceroute"
    ARPING = "arping"
    MTR = "mtr"
    PMTU = "pmtu"
    NDISC = "ndisc"


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def _target_id_field(description: str) -> Any:
    """A request's system VM: its uuid or CloudStack name, under the seed's and CloudStack's names too."""
    return Field(
        min_length=1,
        max_length=64,
        validation_alias=AliasChoices("targetId", "uuid", "targetid", "target_id"),
        serialization_alias="targetId",
        description=description,
    )


class DiagnosticRequest(BaseModel):
    """What a caller asks for: run ``type`` on system VM ``targetId`` toward ``ipAddress``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    target_id: str = _target_id_field("UUID (or CloudStack name) of the system VM to run the test on.")
    type: DiagnosticType = Field(
        validation_alias=AliasChoices("type", "diagnosisTest"),
        description="The test to run.",
    )
    ip_address: str = Field(
        min_length=2,
        max_length=64,
        validation_alias=AliasChoices("ipAddress", "destinationIpAddress", "ipaddress", "ip_address"),
        serialization_alias="ipAddress",
        description="Destination IPv4 or IPv6 address (a literal, not a name).",
    )
    params: str | None = Field(
        default=None,
        max_length=256,
        description='Extra command-line options for the tool, e.g. "-c 5 -i 0.5".',
    )
    run_async: bool = Field(
        default=False,
        validation_alias=AliasChoices("async", "runAsync"),
        serialization_alias="async",
        description="Answer 202 with a job to poll instead of waiting for the result. Runs longer than "
        "the synchronous budget become jobs on their own.",
    )
    cache: bool = Field(
        default=False,
        description="Accept a stored result: when an identical request of the same account (same VM, "
        "test, options and destination, as the policy decided them) also asked for the cache and its "
        "synchronous run finished less than the deployment's RESULT_CACHE_SECONDS ago, answer with that "
        "result (`cached`, `cacheAgeSeconds`) instead of running again; otherwise run and store the "
        "result for the next one. The policy and the requests-per-minute limit apply as to any request. "
        "Jobs (`async`, or runs longer than the synchronous budget) are never answered from the cache "
        "nor stored in it; with RESULT_CACHE_SECONDS 0 (the default) nothing is.",
    )


class ErrorBody(Wire):
    """Every 4xx/5xx answer: a stable machine-readable code and a sentence for a person."""

    code: str
    message: str
    field: str | None = None


class DiagnosticResult(Wire):
    id: str
    target_id: str
    target_name: str | None = None
    type: DiagnosticType
    ip_address: str
    params: str | None = None
    status: str
    success: bool
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool = False
    result: ParsedResult = Field(description="What the parser read from stdout/stderr; its tool is `type`.")
    verdict: Verdict = Field(
        description="What the run says of the path; `undetermined` when it does not say."
    )
    cause: list[Cause] = Field(description="Why, read from the evidence (empty when reachable).")
    egress_interface: str | None = None
    egress_kind: str | None = None
    command: str | None = None
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    cached: bool = Field(
        default=False,
        description="True when this answer is a stored result of an identical earlier request (asked "
        "with `cache`); its times, id and output are that run's.",
    )
    cache_age_seconds: float | None = Field(
        default=None,
        description="How long ago the stored run finished, in seconds; null unless `cached`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _result_names_its_tool(cls, data: Any) -> Any:
        """A stored result may name no ``tool`` (jobs written before results were typed, an empty
        ``{}``): it is the run's ``type``, so every stored job still loads."""
        if isinstance(data, dict) and data.get("type") is not None:
            result = data.get("result")
            if result is None or isinstance(result, dict):
                return {**data, "result": with_tool(result, str(data["type"]))}
        return data

    @model_validator(mode="before")
    @classmethod
    def _judged_unless_given(cls, data: Any) -> Any:
        """The verdict and causes, judged from the result when not given: a run's answer is built without
        them and stored jobs written before verdicts have none, so both are judged by the same rules."""
        if not isinstance(data, dict) or "verdict" in data or data.get("type") is None:
            return data
        result = data.get("result")
        if result is None or isinstance(result, dict):
            try:
                result = load_result(result, str(data["type"]))
            except ValidationError:
                return data  # the result's own error is the one to report
        if not isinstance(result, RESULT_MODELS):
            return data
        exit_code = data.get("exitCode", data.get("exit_code"))
        judgement = judge(
            result,
            exit_code if isinstance(exit_code, int) else None,
            truncated=bool(data.get("truncated")),
        )
        return {**data, "verdict": judgement.verdict, "cause": judgement.cause}


class SystemVmInterface(Wire):
    name: str
    network: str
    network_kind: str
    ipv4: str | None = None
    ipv6: str | None = None


class SystemVmView(Wire):
    id: str
    name: str
    kind: str
    state: str
    interfaces: list[SystemVmInterface]
    allowed_egress_kinds: list[str]


class SystemVmList(Wire):
    count: int
    systemvms: list[SystemVmView]


class AuditPage(Wire):
    """GET /audit: records newest first, and the token of the next page when there is one."""

    items: list[AuditRecord]
    next_token: str | None = None


class RequestsQuota(Wire):
    """Requests per minute, counted in fixed one-minute windows (what ``X-RateLimit-*`` report)."""

    limit: int | None = Field(description="Requests allowed per window; null when the role is unknown")
    used: int = Field(description="Requests counted in the current window")
    remaining: int | None = Field(description="limit - used, at least 0; null when the limit is unknown")
    reset_seconds: int = Field(description="Whole seconds until the current window ends (at least 1)")


class JobsQuota(Wire):
    """Jobs and synchronous runs in flight at once."""

    limit: int | None = Field(description="Allowed at once; null when the role is unknown")
    in_use: int = Field(description="Held now")


class LimitsView(Wire):
    """GET /limits: an account's quotas and its current use. Reading it counts toward no minute."""

    account_id: str
    role: str | None = Field(description="The role the limits are those of; null when unknown to the API")
    enforced: bool = Field(description="False when this deployment has no limits table: nothing is limited")
    requests_per_minute: RequestsQuota
    concurrent_jobs: JobsQuota
    vm_concurrent_runs: int = Field(description="Runs one system VM takes at once, whoever asks")


# -- reachability matrices (POST /matrices, GET /matrices/{id}) ---------------------------------------------

# The one bound on a matrix's size: targets x destinations x tests. Each cell is a job, audited and counted
# toward the caller's minute like any request, so the bound keeps one POST within a minute's budget.
MAX_MATRIX_CELLS = 50
MAX_MATRIX_TARGETS = 10
MAX_MATRIX_DESTINATIONS = 10

_TargetRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
_Destination = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64)]
_Params = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]


class MatrixRequest(BaseModel):
    """Several tests from several system VMs toward several destinations; one job per cell, each cell
    judged by the policy on its own."""

    model_config = ConfigDict(extra="forbid")

    targets: list[_TargetRef] = Field(
        min_length=1,
        max_length=MAX_MATRIX_TARGETS,
        description="System VM uuids (or CloudStack names), each once.",
    )
    destinations: list[_Destination] = Field(
        min_length=1,
        max_length=MAX_MATRIX_DESTINATIONS,
        description="IPv4 or IPv6 address literals, each once.",
    )
    tests: list[DiagnosticType] = Field(
        min_length=1, max_length=len(DiagnosticType), description="The tests to run, each once."
    )
    params: dict[DiagnosticType, _Params] = Field(
        default_factory=dict,
        description='Extra options per test, e.g. {"ping": "-c 3"}; a test not named runs with none.',
    )

    @field_validator("targets", "destinations", "tests")
    @classmethod
    def _each_once(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError("names an entry more than once")
        return values

    @field_validator("destinations")
    @classmethod
    def _address_literals(cls, values: list[str]) -> list[str]:
        """Only a literal's form here: the policy judges each destination (canonical form, ranges)."""
        for value in values:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address literal") from None
        return values

    @field_validator("params")
    @classmethod
    def _params_of_listed_tests(cls, params: dict[DiagnosticType, str], info: ValidationInfo) -> dict:
        extra = sorted(test.value for test in params if test not in info.data.get("tests", ()))
        if extra:
            raise ValueError(f"names tests the matrix does not run: {', '.join(extra)}")
        return params

    @property
    def cell_count(self) -> int:
        return len(self.targets) * len(self.destinations) * len(self.tests)


class CellStatus(StrEnum):
    """A cell's job's status, or ``refused``: no job exists (a limit or a backing service said no when
    the cell was submitted; ``code`` says which)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    REFUSED = "refused"

    @property
    def final(self) -> bool:
        return self not in (CellStatus.QUEUED, CellStatus.RUNNING)


class MatrixCell(Wire):
    """One (target, destination, test): its job's status, the verdict and the numbers that matter."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    target: str
    destination: str
    test: DiagnosticType
    params: str | None = None
    status: CellStatus
    job_id: str | None = Field(
        default=None, description="The cell's job (GET /diagnostics/{id}); null if refused."
    )
    code: str | None = Field(
        default=None, description="Why it was denied, refused or failed (the error code)."
    )
    message: str | None = None
    verdict: Verdict | None = Field(default=None, description="Once it ran.")
    cause: list[CauseCode] = Field(default_factory=list, description="The verdict's cause codes.")
    loss_percent: float | None = Field(default=None, description="ping (and mtr, to the destination).")
    avg_rtt_ms: float | None = Field(default=None, description="ping.")
    hops: int | None = Field(default=None, description="traceroute, mtr, pmtu.")
    reached: bool | None = Field(default=None, description="traceroute, mtr, pmtu.")
    mac: str | None = Field(default=None, description="arping, ndisc: the MAC that answered.")
    pmtu: int | None = Field(default=None, description="pmtu: the path MTU.")


class MatrixView(Wire):
    """A reachability matrix: every cell as its job stands now; ``complete`` once every cell is final."""

    id: str
    account_id: str
    created_at: datetime
    targets: list[str]
    destinations: list[str]
    tests: list[DiagnosticType]
    complete: bool
    cells: list[MatrixCell] = Field(description="Ordered by target, then test, then destination.")


StatePart = Literal[PARTS]  # type: ignore[valid-type]
StateLogName = Literal[LOG_NAMES]  # type: ignore[valid-type]


class VmStateRequest(BaseModel):
    """What a caller asks of ``POST /diagnostics/data``: parts of system VM ``targetId``'s own state."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    target_id: str = _target_id_field("UUID (or CloudStack name) of the system VM whose state to read.")
    parts: list[StatePart] = Field(
        default_factory=list,
        max_length=len(PARTS),
        description="Which parts to read: addresses (`ip -j address`), routes (`ip -j route show table "
        "all`, both families), rules (`ip -j rule`), neighbours (`ip -j neigh`), iptables "
        "(`iptables-save` and `ip6tables-save`, admins only). With neither parts nor logs: everything the "
        "caller may read.",
    )
    logs: list[StateLogName] = Field(
        default_factory=list,
        max_length=len(LOG_NAMES),
        description="Which log tails to read (admins only; the last lines of each, as the VM's operator "
        "mapped the names to files).",
    )


class StateLog(Wire):
    name: str
    path: str | None = None
    present: bool
    cut: bool = Field(description="Older lines (or a longer tail) exist on the VM than the bundle holds.")
    text: str | None = Field(None, description="The tail, when small enough to answer inline.")


class StateBundle(Wire):
    """Where the whole bundle (a zip, one file per part and log) can be downloaded, until when."""

    url: str = Field(description="Pre-signed GET URL of the zip; anyone holding it may download it.")
    expires_at: datetime
    key: str
    bytes: int


class VmStateView(Wire):
    """The VM's state as the caller may see it: small parts inline, all of them in the bundle."""

    id: str
    target_id: str
    target_name: str | None = None
    collected_at: datetime
    parts: list[str] = Field(description="The parts read (the logs are under `logs`).")
    inline: dict[str, Any] = Field(
        description="Each part small enough to answer here: ip -j parts as JSON lists, iptables as text."
    )
    not_inline: list[str] = Field(default_factory=list, description="Parts too large here: in the bundle.")
    logs: list[StateLog] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="Commands that failed or were cut.")
    scoped: bool = Field(
        description="True when the parts were cut to the caller's own networks (anyone but an admin)."
    )
    bundle: StateBundle
