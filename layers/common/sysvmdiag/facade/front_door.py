"""One CloudStack request, start to end: parameters -> caller (signature) -> command -> the same use
cases as the JSON API -> CloudStack's answer. Refusals before a use case (bad signature, unknown
command, bad parameters) are counted and audited as the JSON API's edge refusals are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.facade import catalogue, diagnostics_data, shapes
from sysvmdiag.facade.auth import KeyPairs, authenticated_caller
from sysvmdiag.facade.codes import cloudstack_error, envelope_name
from sysvmdiag.facade.params import CloudStackParams, request_params
from sysvmdiag.models import DiagnosticRequest, VmStateRequest
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.policy import Caller

# CloudStack's runDiagnostics types; the IPv6 variants are the same tools (the address says the family).
TYPE_ALIASES = {"ping6": "ping", "traceroute6": "traceroute"}


@dataclass(frozen=True)
class CloudStackRequest:
    method: str
    raw_query: str
    body: bytes
    content_type: str | None
    origin: RequestOrigin


@dataclass(frozen=True)
class CloudStackAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class CloudStackFrontDoor:
    def __init__(
        self,
        service: DiagnosticsService,
        keypairs: KeyPairs,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._service = service
        self._keypairs = keypairs
        self._clock = clock

    def answer(self, request: CloudStackRequest) -> CloudStackAnswer:
        """Never raises a ServiceError: every refusal is CloudStack's error envelope."""
        params: CloudStackParams | None = None
        caller: Caller | None = None
        try:
            if request.method not in ("GET", "HEAD", "POST"):  # HEAD: GET without the body
                raise ServiceError(
                    ErrorCode.METHOD_NOT_ALLOWED, f"/client/api takes GET and POST, not {request.method}."
                )
            params = request_params(request.raw_query, request.body, request.content_type)
            caller = authenticated_caller(params, self._keypairs, self._clock())
            command = catalogue.command_named(params.command)
            values = command.values(params)
        except ServiceError as error:
            refused = self._service.refused_at_the_edge(caller, request.origin, error)
            return _error(catalogue.known_name(params.command if params else None), refused)
        try:
            body = self._run(command, values, caller, request.origin)
        except ServiceError as error:  # the use cases audit and count their own refusals
            return _error(command.name, error)
        return CloudStackAnswer(200, {envelope_name(command.name): body})

    def _run(
        self, command: catalogue.Command, values: dict[str, str], caller: Caller, origin: RequestOrigin
    ) -> dict[str, Any]:
        if command is catalogue.RUN_DIAGNOSTICS:
            return self._run_diagnostics(values, caller, origin)
        if command is catalogue.GET_DIAGNOSTICS_DATA:
            return self._get_diagnostics_data(values, caller, origin)
        if command is catalogue.QUERY_ASYNC_JOB_RESULT:
            return self._query_async_job_result(values["jobid"], caller)
        if command is catalogue.LIST_APIS:
            return catalogue.list_apis(values.get("name"))
        return self._list(command, values, caller)

    def _run_diagnostics(
        self, values: dict[str, str], caller: Caller, origin: RequestOrigin
    ) -> dict[str, Any]:
        """Always a job, as CloudStack's runDiagnostics is an async command; a refusal is immediate."""
        test = values["type"].strip().lower()
        try:
            request = DiagnosticRequest(
                target_id=values["targetid"],
                type=TYPE_ALIASES.get(test, test),
                ip_address=values["ipaddress"],
                params=values.get("params"),
                run_async=True,
            )
        except ValidationError as err:
            raise _invalid(err, caller, origin, self._service) from None
        job = self._service.submit_job(caller, request, origin)
        return {"jobid": job.id, "id": job.target_id}

    def _get_diagnostics_data(
        self, values: dict[str, str], caller: Caller, origin: RequestOrigin
    ) -> dict[str, Any]:
        """An async command in CloudStack: the read is done before the answer (about a second), kept, and
        its URL comes from queryAsyncJobResult, as CloudStack's clients expect."""
        try:
            parts, logs = diagnostics_data.parts_and_logs(values.get("files"))
            request = VmStateRequest(target_id=values["targetid"], parts=parts, logs=logs)
        except ServiceError as error:
            raise self._service.refused_at_the_edge(caller, origin, error) from None
        except ValidationError as err:
            raise _invalid(err, caller, origin, self._service) from None
        view = self._service.read_vm_state(caller, request, origin, keep=True)
        return {"jobid": view.id, "id": view.target_id}

    def _query_async_job_result(self, job_id: str, caller: Caller) -> dict[str, Any]:
        """A diagnostic job, or else a kept getDiagnosticsData read; neither: the job's JOB_NOT_FOUND."""
        try:
            return shapes.async_job(self._service.job_for(caller, job_id))
        except ServiceError as missing:
            if missing.code is not ErrorCode.JOB_NOT_FOUND:
                raise
            kept = self._service.state_read_for(caller, job_id)
            if kept is None:
                raise
            return shapes.async_state_read(kept)

    def _list(self, command: catalogue.Command, values: dict[str, str], caller: Caller) -> dict[str, Any]:
        views = self._service.list_targets(caller).systemvms
        routers = command is catalogue.LIST_ROUTERS
        views = [view for view in views if (view.kind in shapes.ROUTER_KINDS) == routers]
        items = [shapes.router(view) if routers else shapes.system_vm(view) for view in views]
        items = [item for item in items if _matches(item, values)]
        key = "router" if routers else "systemvm"
        return shapes.listed(key, shapes.page(items, values), len(items))


def _matches(item: dict[str, Any], values: dict[str, str]) -> bool:
    """CloudStack's list filters: exact id, name, state and systemvmtype; keyword within the name."""
    for name in ("id", "name", "state", "systemvmtype"):
        if name in values and str(item.get(name, "")).lower() != values[name].lower():
            return False
    keyword = values.get("keyword")
    return not keyword or keyword.lower() in item["name"].lower()


_FIELDS = {
    "target_id": "targetid",
    "ip_address": "ipaddress",
    "type": "type",
    "params": "params",
    "parts": "files",
    "logs": "files",
}


def _invalid(
    err: ValidationError, caller: Caller, origin: RequestOrigin, service: DiagnosticsService
) -> ServiceError:
    """A parameter the request model refuses: 431 naming CloudStack's parameter, counted and audited."""
    first = err.errors()[0]
    name = _FIELDS.get(str(first["loc"][0]) if first["loc"] else "", "params")
    error = ServiceError(ErrorCode.INVALID_REQUEST, f"{name}: {first['msg']}", field=name)
    return service.refused_at_the_edge(caller, origin, error)


def _error(command: str | None, error: ServiceError) -> CloudStackAnswer:
    failure = cloudstack_error(error)
    return CloudStackAnswer(
        int(failure.errorcode), {envelope_name(command): failure.body()}, failure.headers()
    )
