"""The error catalogue: every code the API can answer, with its HTTP status, retry and audit outcome.

One place for each fact: the policy's reason codes (:class:`~sysvmdiag.policy.reasons.ReasonCode`), the
runner's (:class:`~sysvmdiag.runner.errors.RunnerErrorCode`) and the limits' codes are members of this
catalogue and take their status and sentence from it; ``python -m sysvmdiag.errors`` prints the table the
README shows (a test keeps the two in step). Pure: no AWS, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus


class Outcome(StrEnum):
    """What an audit record says of a request answered with a code."""

    DENIED = "denied"  # the policy said no
    REJECTED = "rejected"  # bad input, over a limit, or a backing service down: nothing ran
    FAILED = "failed"  # admitted, but the run did not give a tool's answer


class Source(StrEnum):
    REQUEST = "request"
    POLICY = "policy"
    LIMITS = "limits"
    RUNNER = "runner"
    SERVICE = "service"


@dataclass(frozen=True)
class CodeSpec:
    status: HTTPStatus
    outcome: Outcome
    source: Source
    sentence: str
    retry_after: int | None = None  # seconds to wait before the same request; None: do not retry as is


class ErrorCode(StrEnum):
    """Every code an answer's ``code`` can hold."""

    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_JSON = "INVALID_JSON"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    INVALID_AUDIT_QUERY = "INVALID_AUDIT_QUERY"
    SYNC_BUDGET_EXCEEDED = "SYNC_BUDGET_EXCEEDED"
    MATRIX_TOO_LARGE = "MATRIX_TOO_LARGE"
    INVALID_TEST = "INVALID_TEST"
    INVALID_DESTINATION = "INVALID_DESTINATION"
    INVALID_OPTION = "INVALID_OPTION"
    OPTION_OUT_OF_BOUNDS = "OPTION_OUT_OF_BOUNDS"
    ARPING_IPV4_ONLY = "ARPING_IPV4_ONLY"
    NDISC_IPV6_ONLY = "NDISC_IPV6_ONLY"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    SYSTEM_VM_KIND_ADMIN_ONLY = "SYSTEM_VM_KIND_ADMIN_ONLY"
    TARGET_NOT_OWNED = "TARGET_NOT_OWNED"
    VM_NOT_RUNNING = "VM_NOT_RUNNING"
    DESTINATION_IN_MANAGEMENT_RANGE = "DESTINATION_IN_MANAGEMENT_RANGE"
    VR_CONTROL_OR_MANAGEMENT_ADDRESS = "VR_CONTROL_OR_MANAGEMENT_ADDRESS"
    DESTINATION_NOT_ALLOWED = "DESTINATION_NOT_ALLOWED"
    SHARED_NETWORK_NOT_EXCLUSIVE = "SHARED_NETWORK_NOT_EXCLUSIVE"
    NO_ROUTE = "NO_ROUTE"
    EGRESS_NOT_ALLOWED = "EGRESS_NOT_ALLOWED"
    INTERFACE_NOT_ALLOWED = "INTERFACE_NOT_ALLOWED"
    ARPING_NOT_ON_LINK = "ARPING_NOT_ON_LINK"
    NDISC_NOT_ON_LINK = "NDISC_NOT_ON_LINK"
    STATE_PART_ADMIN_ONLY = "STATE_PART_ADMIN_ONLY"
    AUDIT_ADMIN_ONLY = "AUDIT_ADMIN_ONLY"
    LIMITS_ADMIN_ONLY = "LIMITS_ADMIN_ONLY"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    MATRIX_NOT_FOUND = "MATRIX_NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_JOBS = "TOO_MANY_JOBS"
    VM_BUSY = "VM_BUSY"
    BASTION_UNREACHABLE = "BASTION_UNREACHABLE"
    VM_UNREACHABLE = "VM_UNREACHABLE"
    HOST_KEY_MISMATCH = "HOST_KEY_MISMATCH"
    AUTH_FAILED = "AUTH_FAILED"
    TIMEOUT = "TIMEOUT"
    SSH_KEY_UNAVAILABLE = "SSH_KEY_UNAVAILABLE"
    JOB_DEADLINE_EXCEEDED = "JOB_DEADLINE_EXCEEDED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
    MATRICES_UNAVAILABLE = "MATRICES_UNAVAILABLE"
    STATE_BUNDLES_UNAVAILABLE = "STATE_BUNDLES_UNAVAILABLE"
    VM_STATE_UNREADABLE = "VM_STATE_UNREADABLE"
    TOPOLOGY_INCOMPLETE = "TOPOLOGY_INCOMPLETE"
    INTERNAL_ERROR = "INTERNAL_ERROR"

    @property
    def spec(self) -> CodeSpec:
        return CATALOGUE[self]

    @property
    def status(self) -> HTTPStatus:
        return self.spec.status

    @property
    def sentence(self) -> str:
        return self.spec.sentence


_S = HTTPStatus
_O = Outcome
_F = Source
_INFRA = "an address reserved for the zone's infrastructure"


def _spec(status: HTTPStatus, outcome: Outcome, source: Source, sentence: str, retry: int | None = None):
    return CodeSpec(status, outcome, source, sentence, retry)


CATALOGUE: dict[ErrorCode, CodeSpec] = {
    ErrorCode.INVALID_REQUEST: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.REQUEST,
        "The body or a query parameter is not valid; `field` names it.",
    ),
    ErrorCode.INVALID_JSON: _spec(_S.BAD_REQUEST, _O.REJECTED, _F.REQUEST, "The body is not valid JSON."),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: _spec(
        _S.UNSUPPORTED_MEDIA_TYPE, _O.REJECTED, _F.REQUEST, "The body must be sent as application/json."
    ),
    ErrorCode.ROUTE_NOT_FOUND: _spec(_S.NOT_FOUND, _O.REJECTED, _F.REQUEST, "There is no such route."),
    ErrorCode.METHOD_NOT_ALLOWED: _spec(
        _S.METHOD_NOT_ALLOWED,
        _O.REJECTED,
        _F.REQUEST,
        "The route exists but not with this method; the Allow header lists the methods it takes.",
    ),
    ErrorCode.UNAUTHENTICATED: _spec(
        _S.UNAUTHORIZED, _O.REJECTED, _F.REQUEST, "The request carries no valid caller identity."
    ),
    ErrorCode.UNKNOWN_COMMAND: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.REQUEST,
        "The CloudStack API (`/client/api`) has no such command; `listApis` names those it serves.",
    ),
    ErrorCode.INVALID_AUDIT_QUERY: _spec(
        _S.BAD_REQUEST, _O.REJECTED, _F.REQUEST, "The audit query's window or page token is not valid."
    ),
    ErrorCode.SYNC_BUDGET_EXCEEDED: _spec(
        _S.UNPROCESSABLE_ENTITY,
        _O.REJECTED,
        _F.REQUEST,
        "The run may outlast the synchronous budget and this deployment has no job queue.",
    ),
    ErrorCode.MATRIX_TOO_LARGE: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.REQUEST,
        "A reachability matrix has more cells (targets x destinations x tests) than one may have; the "
        "message gives the bound. Nothing ran.",
    ),
    ErrorCode.INVALID_TEST: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.POLICY,
        "The test must be one of ping, traceroute, arping, mtr, pmtu or ndisc.",
    ),
    ErrorCode.INVALID_DESTINATION: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.POLICY,
        "The destination must be a single IPv4 or IPv6 address literal in canonical form (no hostnames, "
        "leading zeros or zone ids), and never 0.0.0.0, ::, 255.255.255.255 or multicast (for anyone); "
        "an IPv4-mapped IPv6 address is judged as the IPv4 address.",
    ),
    ErrorCode.INVALID_OPTION: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.POLICY,
        "An option is not on the tool's allow-list (or is malformed, repeated, contains shell "
        "characters, or is an extra argument); the message names it.",
    ),
    ErrorCode.OPTION_OUT_OF_BOUNDS: _spec(
        _S.BAD_REQUEST,
        _O.REJECTED,
        _F.POLICY,
        "An allowed option has a value outside its bounds, or the options together could not finish "
        "within the 60 s a run may take; the message names the bound.",
    ),
    ErrorCode.ARPING_IPV4_ONLY: _spec(
        _S.FORBIDDEN, _O.DENIED, _F.POLICY, "arping works with IPv4 destinations only."
    ),
    ErrorCode.NDISC_IPV6_ONLY: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "ndisc (IPv6 neighbour discovery) works with IPv6 destinations only.",
    ),
    ErrorCode.TARGET_NOT_FOUND: _spec(
        _S.NOT_FOUND,
        _O.DENIED,
        _F.POLICY,
        "No system VM with that id or name exists that you may use: a VM you may not use is answered "
        "exactly like one that does not exist.",
    ),
    ErrorCode.SYSTEM_VM_KIND_ADMIN_ONLY: _spec(
        _S.NOT_FOUND,
        _O.DENIED,
        _F.POLICY,
        "Audit detail only (the caller is answered TARGET_NOT_FOUND): secondary storage and console "
        "proxy VMs can be diagnosed by root admins only.",
    ),
    ErrorCode.TARGET_NOT_OWNED: _spec(
        _S.NOT_FOUND,
        _O.DENIED,
        _F.POLICY,
        "Audit detail only (the caller is answered TARGET_NOT_FOUND): the virtual router serves no "
        "network your account has (or, for a domain admin, an account of your domain subtree has); a "
        "shared network used by several accounts is nobody's.",
    ),
    ErrorCode.VM_NOT_RUNNING: _spec(
        _S.CONFLICT,
        _O.DENIED,
        _F.POLICY,
        "The system VM is not in the Running state, so nothing can run on it.",
    ),
    ErrorCode.DESTINATION_IN_MANAGEMENT_RANGE: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        f"The destination is in the zone's management range(s), {_INFRA}; only admins may probe it.",
    ),
    ErrorCode.VR_CONTROL_OR_MANAGEMENT_ADDRESS: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        f"The destination is {_INFRA}: on its control, management or storage network, of the SSH "
        "bastion, or on the link between the lab and its host; only admins may probe it.",
    ),
    ErrorCode.DESTINATION_NOT_ALLOWED: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "The destination is an address of another tenant (reached over the public network or a static "
        "route, it lies in a network, VPC, private-gateway route or VPN remote CIDR of an account you do "
        "not cover, or on a shared network used by several accounts), the network or broadcast address "
        "of a subnet the zone describes, or a loopback, link-local, reserved or 0.0.0.0/8 address; only "
        "admins may probe it.",
    ),
    ErrorCode.SHARED_NETWORK_NOT_EXCLUSIVE: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "The destination or the egress is on a shared network that your account uses together with "
        "other accounts (whoever owns it); only admins may probe it.",
    ),
    ErrorCode.NO_ROUTE: _spec(
        _S.FORBIDDEN, _O.DENIED, _F.POLICY, "The system VM has no route toward the destination."
    ),
    ErrorCode.EGRESS_NOT_ALLOWED: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "The traffic would leave the VM over an interface your account may not probe from: the zone's "
        "infrastructure, another tenant's network, or a VPC gateway toward something other than its "
        "routes, remote CIDRs or far end.",
    ),
    ErrorCode.INTERFACE_NOT_ALLOWED: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "The interface option names an interface other than the one the policy chose for the "
        "destination (non-admins, and arping for everyone), or one the VM does not have.",
    ),
    ErrorCode.ARPING_NOT_ON_LINK: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "arping only works toward an address on a subnet directly connected to one of the VM's interfaces.",
    ),
    ErrorCode.NDISC_NOT_ON_LINK: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "ndisc only works toward an address on a subnet directly connected to one of the VM's interfaces.",
    ),
    ErrorCode.STATE_PART_ADMIN_ONLY: _spec(
        _S.FORBIDDEN,
        _O.DENIED,
        _F.POLICY,
        "Only admins may read a VM's firewall rules (iptables) and logs; others read the addresses, "
        "routes, rules and neighbours of their own networks.",
    ),
    ErrorCode.AUDIT_ADMIN_ONLY: _spec(
        _S.FORBIDDEN, _O.DENIED, _F.SERVICE, "Only administrators may read the audit trail."
    ),
    ErrorCode.LIMITS_ADMIN_ONLY: _spec(
        _S.FORBIDDEN, _O.DENIED, _F.SERVICE, "Only administrators may read another account's limits."
    ),
    ErrorCode.JOB_NOT_FOUND: _spec(
        _S.NOT_FOUND,
        _O.DENIED,
        _F.SERVICE,
        "No such job is visible to you (its owner, the owner's domain admins and admins see it).",
    ),
    ErrorCode.MATRIX_NOT_FOUND: _spec(
        _S.NOT_FOUND,
        _O.DENIED,
        _F.SERVICE,
        "No such reachability matrix is visible to you (its owner and admins see it).",
    ),
    ErrorCode.RATE_LIMITED: _spec(
        _S.TOO_MANY_REQUESTS, _O.REJECTED, _F.LIMITS, "Over the account's requests per minute; nothing ran."
    ),
    ErrorCode.TOO_MANY_JOBS: _spec(
        _S.TOO_MANY_REQUESTS,
        _O.REJECTED,
        _F.LIMITS,
        "Over the account's concurrent jobs and runs; nothing ran.",
    ),
    ErrorCode.VM_BUSY: _spec(
        _S.TOO_MANY_REQUESTS, _O.REJECTED, _F.LIMITS, "The system VM is at its concurrent runs; nothing ran."
    ),
    ErrorCode.BASTION_UNREACHABLE: _spec(
        _S.BAD_GATEWAY, _O.FAILED, _F.RUNNER, "The SSH bastion could not be reached; nothing ran."
    ),
    ErrorCode.VM_UNREACHABLE: _spec(
        _S.BAD_GATEWAY, _O.FAILED, _F.RUNNER, "The system VM's SSH could not be reached; nothing ran."
    ),
    ErrorCode.HOST_KEY_MISMATCH: _spec(
        _S.BAD_GATEWAY,
        _O.FAILED,
        _F.RUNNER,
        "A host key differs from the pinned one (the VM was rebuilt, or someone is in between); nothing ran.",
    ),
    ErrorCode.AUTH_FAILED: _spec(
        _S.BAD_GATEWAY, _O.FAILED, _F.RUNNER, "The service's SSH key was refused; nothing ran."
    ),
    ErrorCode.TIMEOUT: _spec(
        _S.GATEWAY_TIMEOUT,
        _O.FAILED,
        _F.RUNNER,
        "The run outlived its budget; the tool was killed on the VM.",
    ),
    ErrorCode.SSH_KEY_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE,
        _O.FAILED,
        _F.RUNNER,
        "The service's SSH key could not be read from Secrets Manager; nothing ran.",
        30,
    ),
    ErrorCode.JOB_DEADLINE_EXCEEDED: _spec(
        _S.GATEWAY_TIMEOUT,
        _O.FAILED,
        _F.SERVICE,
        "The job did not finish by its deadline (its worker stopped or never started).",
    ),
    ErrorCode.STORE_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE,
        _O.REJECTED,
        _F.SERVICE,
        "DynamoDB (or another backing AWS service) failed past boto3's retries; nothing ran.",
        5,
    ),
    ErrorCode.QUEUE_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE,
        _O.FAILED,
        _F.SERVICE,
        "The job queue did not take the job; nothing will run.",
        60,
    ),
    ErrorCode.AUDIT_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE, _O.REJECTED, _F.SERVICE, "This deployment has no audit table."
    ),
    ErrorCode.MATRICES_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE,
        _O.REJECTED,
        _F.SERVICE,
        "This deployment has no jobs table and queue, which a reachability matrix runs on; nothing ran.",
    ),
    ErrorCode.STATE_BUNDLES_UNAVAILABLE: _spec(
        _S.SERVICE_UNAVAILABLE,
        _O.REJECTED,
        _F.SERVICE,
        "This deployment cannot keep VM-state bundles (no DATA_BUCKET; for getDiagnosticsData, also no jobs "
        "table to keep the read for queryAsyncJobResult); nothing ran.",
    ),
    ErrorCode.VM_STATE_UNREADABLE: _spec(
        _S.BAD_GATEWAY,
        _O.FAILED,
        _F.SERVICE,
        "The VM's answer to a state request was not the document its VM side prints (an older VM side, "
        "or an answer cut at the output cap); nothing was stored.",
    ),
    ErrorCode.TOPOLOGY_INCOMPLETE: _spec(
        _S.INTERNAL_SERVER_ERROR,
        _O.FAILED,
        _F.SERVICE,
        "The loaded topology lacks an SSH endpoint for the VM or the bastion; reload it.",
    ),
    ErrorCode.INTERNAL_ERROR: _spec(
        _S.INTERNAL_SERVER_ERROR,
        _O.FAILED,
        _F.SERVICE,
        "A bug stopped the request (logged with its traceback); the request is audited.",
    ),
}


class ServiceError(Exception):
    """Raised by the library; handlers turn it into ``{"code", "message"}`` with the code's status.

    ``detail_code``/``detail``: the precise reason when the caller is told less (the audit keeps them;
    they never reach the response body). ``retry_after`` overrides the catalogue's (limits know when
    capacity comes back).
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        detail_code: str | None = None,
        detail: str | None = None,
    ):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.status = int(self.code.status)
        self.field = field
        self.retry_after = retry_after if retry_after is not None else self.code.spec.retry_after
        self.detail_code = detail_code if detail_code is not None and detail_code != self.code else None
        self.detail = detail if detail is not None and detail != message else None

    @property
    def outcome(self) -> Outcome:
        return self.code.spec.outcome

    def headers(self) -> dict[str, str]:
        """``Retry-After`` where the catalogue (or the limit) says when to come back."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}

    def to_dict(self) -> dict[str, str]:
        body = {"code": self.code.value, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def markdown_table() -> str:
    """The README's error table: one row per code, as the catalogue defines it."""
    lines = [
        "| Code | HTTP | Audit | Retry-After | From | Meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for code, spec in CATALOGUE.items():
        retry = f"{spec.retry_after} s" if spec.retry_after else "-"
        if spec.source is Source.LIMITS:
            retry = "when a slot frees"
        lines.append(
            f"| `{code.value}` | {int(spec.status)} | {spec.outcome.value} | {retry} | {spec.source.value} "
            f"| {spec.sentence} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
