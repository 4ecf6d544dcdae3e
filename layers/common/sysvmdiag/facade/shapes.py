"""This service's answers in CloudStack's response shapes (field names of ``AsyncJobResponse``,
``RunDiagnosticsResponse``, ``SystemVmResponse`` and ``DomainRouterResponse``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.facade.catalogue import DEFAULT_PAGE_SIZE
from sysvmdiag.facade.codes import cloudstack_error
from sysvmdiag.jobs import Job, JobStatus
from sysvmdiag.models import DiagnosticResult, SystemVmView
from sysvmdiag.state_reads import StateReadRecord

RUN_DIAGNOSTICS_CMD = "org.apache.cloudstack.api.command.admin.diagnostics.RunDiagnosticsCmd"
GET_DIAGNOSTICS_DATA_CMD = "org.apache.cloudstack.api.command.admin.diagnostics.GetDiagnosticsDataCmd"
PENDING, SUCCEEDED, FAILED = 0, 1, 2
_TRAFFIC_TYPES = {
    "public": "Public",
    "management": "Management",
    "control": "Control",
    "storage": "Storage",
}
_SYSTEM_VM_TYPES = {"ssvm": "secondarystoragevm", "cpvm": "consoleproxy"}
ROUTER_KINDS = frozenset({"vr", "vpcvr"})


def cloudstack_time(moment: datetime | None) -> str | None:
    """CloudStack's ``yyyy-MM-dd'T'HH:mm:ssZ`` (e.g. 2026-12-01T05:08:37+0000)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z") if moment else None


def async_job(job: Job) -> dict[str, Any]:
    """``queryAsyncJobResult``'s answer: pending, or the result, or the failure (never a success with
    exit code -1, as CloudStack reports an SSH timeout)."""
    answer: dict[str, Any] = {
        "accountid": job.account_id,
        "cmd": RUN_DIAGNOSTICS_CMD,
        "created": cloudstack_time(job.created_at),
        "jobid": job.id,
        "jobinstancetype": "SystemVm",
        "jobinstanceid": job.target_id,
        "jobprocstatus": 0,
        "jobresultcode": 0,
        "jobstatus": PENDING,
    }
    if not job.status.final:
        return answer
    answer["completed"] = cloudstack_time(job.finished_at)
    if job.status is JobStatus.SUCCEEDED and job.result is not None:
        return {
            **answer,
            "jobstatus": SUCCEEDED,
            "jobresulttype": "object",
            "jobresult": diagnostics(job.result),
        }
    failure = cloudstack_error(_job_error(job)).body()
    return {
        **answer,
        "jobstatus": FAILED,
        "jobresultcode": failure["errorcode"],
        "jobresulttype": "object",
        "jobresult": {key: failure[key] for key in ("errorcode", "cserrorcode", "errortext")},
    }


def async_state_read(kept: StateReadRecord) -> dict[str, Any]:
    """``queryAsyncJobResult`` for a getDiagnosticsData read: done, with ``{"diagnostics": {"url"}}``
    as CloudStack's GetDiagnosticsDataResponse, and this service's findings under ``sysvmdiag``."""
    view = kept.view
    return {
        "accountid": kept.account_id,
        "cmd": GET_DIAGNOSTICS_DATA_CMD,
        "created": cloudstack_time(kept.created_at),
        "completed": cloudstack_time(view.collected_at),
        "jobid": kept.id,
        "jobinstancetype": "SystemVm",
        "jobinstanceid": view.target_id,
        "jobprocstatus": 0,
        "jobresultcode": 0,
        "jobstatus": SUCCEEDED,
        "jobresulttype": "object",
        "jobresult": {
            "diagnostics": {"url": view.bundle.url},
            "sysvmdiag": {
                "parts": view.parts,
                "logs": [log.name for log in view.logs],
                "scoped": view.scoped,
                "problems": view.problems,
                "bytes": view.bundle.bytes,
                "expiresAt": view.bundle.expires_at.isoformat(),
            },
        },
    }


def _job_error(job: Job) -> ServiceError:
    if job.error is None:
        return ServiceError(ErrorCode.INTERNAL_ERROR, f"The job ended {job.status.value} without a result.")
    try:
        return ServiceError(job.error.code, job.error.message)
    except ValueError:  # a code this release no longer has: still a failure, with its sentence
        return ServiceError(ErrorCode.INTERNAL_ERROR, job.error.message)


def diagnostics(result: DiagnosticResult) -> dict[str, Any]:
    """``{"diagnostics": {stdout, stderr, exitcode}}`` exactly as RunDiagnosticsResponse, and this
    service's own findings beside it under ``sysvmdiag`` (clients ignore keys they do not know)."""
    return {
        "diagnostics": {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exitcode": str(result.exit_code),
        },
        "sysvmdiag": {
            "id": result.id,
            "success": result.success,
            "status": result.status,
            "truncated": result.truncated,
            "result": result.result.model_dump(mode="json", by_alias=True),
            "verdict": result.verdict.value,
            "cause": [cause.model_dump(mode="json") for cause in result.cause],
            "egressInterface": result.egress_interface,
            "egressKind": result.egress_kind,
            "durationMs": result.duration_ms,
        },
    }


def system_vm(view: SystemVmView) -> dict[str, Any]:
    """A ``SystemVmResponse``: the addresses the listing lets the caller see, by traffic type."""
    return {
        **_vm_fields(view),
        "systemvmtype": _SYSTEM_VM_TYPES.get(view.kind, view.kind),
        "role": view.kind.upper(),
    }


def router(view: SystemVmView) -> dict[str, Any]:
    """A ``DomainRouterResponse`` with its nics (only those the listing shows the caller)."""
    guest = next((i for i in view.interfaces if _traffic_type(i.network_kind) == "Guest" and i.ipv4), None)
    answer = {
        **_vm_fields(view),
        "role": "VIRTUAL_ROUTER",
        "isvpcrouter": view.kind == "vpcvr",
        "nic": [
            {
                "networkname": iface.network,
                "traffictype": _traffic_type(iface.network_kind),
                "type": iface.network_kind,
                "deviceid": iface.name.removeprefix("eth"),
                **({"ipaddress": iface.ipv4} if iface.ipv4 else {}),
                **({"ip6address": iface.ipv6} if iface.ipv6 else {}),
            }
            for iface in view.interfaces
        ],
    }
    if guest is not None:
        answer["guestipaddress"] = guest.ipv4
    return answer


def _vm_fields(view: SystemVmView) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": view.id, "name": view.name, "state": view.state}
    for iface in view.interfaces:
        field = {"Public": "publicip", "Control": "linklocalip", "Management": "privateip"}.get(
            _traffic_type(iface.network_kind)
        )
        if field and iface.ipv4 and field not in answer:
            answer[field] = iface.ipv4
    return answer


def _traffic_type(network_kind: str) -> str:
    return _TRAFFIC_TYPES.get(network_kind, "Guest")


def page(items: list[dict[str, Any]], values: dict[str, str]) -> list[dict[str, Any]]:
    """CloudStack's paging: ``page`` (from 1) needs ``pagesize``; without, the first DEFAULT_PAGE_SIZE."""
    size = _positive(values, "pagesize", DEFAULT_PAGE_SIZE)
    if "page" in values and "pagesize" not in values:
        raise ServiceError(ErrorCode.INVALID_REQUEST, "page needs pagesize", field="pagesize")
    number = _positive(values, "page", 1)
    return items[(number - 1) * size : number * size]


def _positive(values: dict[str, str], name: str, default: int) -> int:
    text = values.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 0 < int(text) <= 1_000_000:
        raise ServiceError(ErrorCode.INVALID_REQUEST, f"{name} must be a positive whole number", field=name)
    return int(text)


def listed(response_key: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A list answer: ``{"count": total, key: [...]}``, or ``{}`` when nothing matched (as CloudStack)."""
    return {"count": total, response_key: items} if total else {}
