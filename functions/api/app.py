"""API Lambda (HTTP API, payload v2): parse, call the library, respond. No logic lives here."""

from __future__ import annotations

# Before the heavy imports below: the zone's bastion connects while they run (sysvmdiag.warmup).
from sysvmdiag.warmup import start_bastion_warmup

start_bastion_warmup()

# isort: split
import json
import sys
import warnings
from datetime import datetime
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.identity import caller_from_context
from sysvmdiag.jobs import Job
from sysvmdiag.lazy_swagger import LazySwaggerResolver
from sysvmdiag.models import (
    AuditPage,
    DiagnosticRequest,
    DiagnosticResult,
    ErrorBody,
    LimitsView,
    MatrixRequest,
    MatrixView,
    SystemVmList,
    VmStateRequest,
    VmStateView,
)
from sysvmdiag.observability import logger, metrics, tracer
from sysvmdiag.pipeline import quota
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.policy import Caller

TITLE = "sysvmdiag"
DESCRIPTION = (
    "Run ping, traceroute, arping, mtr, pmtu (path MTU) and ndisc (IPv6 neighbour discovery) on cloud "
    "system VMs, under an access policy."
)

# Denials and errors emit no metric of their own on some paths; an empty flush is expected, not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def _json_body(text: str) -> Any:
    """``json.loads`` as powertools calls it for the body, every way of failing a JSONDecodeError (which
    powertools answers as ``json_invalid``): an integer over ``sys.get_int_max_str_digits()`` digits
    (int() raises a bare ValueError) and nesting deeper than the recursion limit (RecursionError)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError as err:
        limit = sys.get_int_max_str_digits()
        raise json.JSONDecodeError(f"a number has more than {limit} digits", text, 0) from err
    except RecursionError as err:
        raise json.JSONDecodeError("it is nested too deeply", text, 0) from err


class _JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """powertools' request validation, reading the body as JSON or refusing it: the media type compared
    case-insensitively (RFC 9110: ``APPLICATION/JSON; charset=UTF-8`` is JSON), form and multipart bodies
    (which powertools would parse) refused as 415, a body that is not UTF-8 ``json_invalid``."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type") or ""
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type not in ("", content_types.APPLICATION_JSON):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[{"type": "unsupported_content_type", "loc": ("body",), "msg": media_type}],
            )
        try:
            return self._parse_json_data(app)
        except UnicodeDecodeError as err:
            error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}
            raise RequestValidationError([{**error, "ctx": {"error": "it is not UTF-8"}}]) from err


app = LazySwaggerResolver(enable_validation=True, json_body_deserializer=_json_body)
# powertools builds this middleware in the constructor and runs it first on every validated route.
app._request_validation_middleware = _JsonBodiesOnly()
app.defer_swagger("/swagger", title=TITLE, description=DESCRIPTION)


# On every answer to a request counted toward a minute (POST /diagnostics, any refusal at the edge).
_QUOTA_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in quota.HEADERS.items()
}


# What a request that runs something on a VM may be answered with besides its result.
_RUN_ERRORS = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    HTTPStatus.UNPROCESSABLE_ENTITY,
    HTTPStatus.TOO_MANY_REQUESTS,
    HTTPStatus.INTERNAL_SERVER_ERROR,
    HTTPStatus.BAD_GATEWAY,
    HTTPStatus.SERVICE_UNAVAILABLE,
    HTTPStatus.GATEWAY_TIMEOUT,
)


def _error_responses(*statuses: HTTPStatus) -> dict:
    schema = {"model": ErrorBody}
    return {
        int(s): {"description": s.phrase, "headers": _QUOTA_HEADERS, "content": {"application/json": schema}}
        for s in statuses
    }


@cache
def _service() -> DiagnosticsService:
    """Built on first use so a cold start pays only for what the first request needs."""
    return bootstrap.service(Settings.from_env())


def _caller():
    return caller_from_context(app.current_event.request_context.authorizer.get_lambda)


def _origin() -> RequestOrigin:
    context = app.current_event.request_context
    return RequestOrigin(
        request_id=context.request_id, source_ip=context.http.source_ip, user_agent=context.http.user_agent
    )


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers or None,
    )


def _model(
    status: int, model: DiagnosticResult | Job | AuditPage | MatrixView, headers: dict[str, str] | None = None
):
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=model,
        headers=headers or None,
    )


@app.post(
    "/diagnostics",
    summary="Run a diagnostic on a system VM",
    responses={
        200: {
            "description": "The run's result",
            "headers": _QUOTA_HEADERS,
            "content": {"application/json": {"model": DiagnosticResult}},
        },
        202: {
            "description": "Accepted as a job (asked with async, or longer than the synchronous budget); "
            "poll the Location",
            "headers": _QUOTA_HEADERS,
            "content": {"application/json": {"model": Job}},
        },
        **_error_responses(*_RUN_ERRORS),
    },
)
def post_diagnostics(request: DiagnosticRequest) -> Response[DiagnosticResult | Job]:
    outcome = _service().submit(_caller(), request, _origin())
    if isinstance(outcome, Job):
        return _model(
            HTTPStatus.ACCEPTED, outcome, {"Location": f"/diagnostics/{outcome.id}", "Retry-After": "2"}
        )
    return _model(HTTPStatus.OK, outcome)


@app.get(
    "/diagnostics/<job_id>",
    summary="A diagnostic job: queued, running, succeeded, failed or denied, with its result once done",
    responses={
        200: {"description": "The job", "content": {"application/json": {"model": Job}}},
        **_error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND),
    },
)
def get_diagnostic_job(job_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response[Job]:
    job = _service().job_for(_caller(), job_id)
    headers = None if job.status.final else {"Retry-After": "2"}
    return _model(HTTPStatus.OK, job, headers)


@app.post(
    "/diagnostics/data",
    summary="A system VM's own state: addresses, routes, rules, neighbours (admins: iptables, log tails)",
    responses={
        200: {
            "description": "The state as the caller may see it: small parts inline, all in a zip bundle "
            "downloadable from a pre-signed URL until it expires",
            "headers": _QUOTA_HEADERS,
            "content": {"application/json": {"model": VmStateView}},
        },
        **_error_responses(*(s for s in _RUN_ERRORS if s is not HTTPStatus.UNPROCESSABLE_ENTITY)),
    },
)
def post_diagnostics_data(request: VmStateRequest) -> Response[VmStateView]:
    return _model(HTTPStatus.OK, _service().read_vm_state(_caller(), request, _origin()))


@app.post(
    "/matrices",
    summary="A reachability matrix: targets x destinations x tests, one job per cell",
    responses={
        202: {
            "description": "Accepted: every cell submitted as a job (a cell the policy or a limit refuses "
            "says so with its code); poll the Location",
            "headers": _QUOTA_HEADERS,
            "content": {"application/json": {"model": MatrixView}},
        },
        **_error_responses(
            HTTPStatus.BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            HTTPStatus.TOO_MANY_REQUESTS,
            HTTPStatus.INTERNAL_SERVER_ERROR,
            HTTPStatus.SERVICE_UNAVAILABLE,
        ),
    },
)
def post_matrices(request: MatrixRequest) -> Response[MatrixView]:
    matrix = _service().submit_matrix(_caller(), request, _origin())
    return _model(HTTPStatus.ACCEPTED, matrix, {"Location": f"/matrices/{matrix.id}", "Retry-After": "2"})


@app.get(
    "/matrices/<matrix_id>",
    summary="A reachability matrix: each cell's status, verdict and key numbers; complete once all are final",
    responses={
        200: {"description": "The matrix", "content": {"application/json": {"model": MatrixView}}},
        **_error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND),
    },
)
def get_matrix(matrix_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response[MatrixView]:
    matrix = _service().matrix_for(_caller(), matrix_id)
    headers = None if matrix.complete else {"Retry-After": "2"}
    return _model(HTTPStatus.OK, matrix, headers)


@app.get(
    "/audit",
    summary="The audit trail (administrators): one record per diagnostic request, newest first",
    responses={
        200: {"description": "A page of records", "content": {"application/json": {"model": AuditPage}}},
        **_error_responses(
            HTTPStatus.BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.SERVICE_UNAVAILABLE,
        ),
    },
)
def get_audit(
    account: Annotated[str | None, Query(max_length=128, description="Only this account id")] = None,
    vm: Annotated[str | None, Query(max_length=64, description="Only this system VM (uuid)")] = None,
    since: Annotated[
        datetime | None, Query(description="From this time (ISO-8601); default 24 h ago")
    ] = None,
    until: Annotated[datetime | None, Query(description="Up to this time (ISO-8601); default now")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Records per page")] = 50,
    next_token: Annotated[
        str | None, Query(alias="nextToken", max_length=2048, description="From the previous page")
    ] = None,
) -> Response[AuditPage]:
    records, token = _service().audit_page(
        _caller(), account_id=account, vm_id=vm, since=since, until=until, limit=limit, next_token=next_token
    )
    return _model(HTTPStatus.OK, AuditPage(items=records, next_token=token))


@app.get(
    "/systemvms",
    summary="System VMs the caller may target",
    responses={
        200: {"description": "Targets", "content": {"application/json": {"model": SystemVmList}}},
        **_error_responses(HTTPStatus.UNAUTHORIZED),
    },
)
def get_systemvms() -> SystemVmList:
    return _service().list_targets(_caller())


@app.get(
    "/limits",
    summary="The caller's quotas and current use (administrators: any account's); counts toward no minute",
    responses={
        200: {"description": "Quotas and use", "content": {"application/json": {"model": LimitsView}}},
        **_error_responses(
            HTTPStatus.BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.SERVICE_UNAVAILABLE,
        ),
    },
)
def get_limits(
    account: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Another account id (administrators)")
    ] = None,
) -> LimitsView:
    return _service().limits_view(_caller(), account)


@app.get("/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def get_openapi() -> Response[str]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title=TITLE, description=DESCRIPTION),
    )


@app.exception_handler(ServiceError)
def handle_service_error(error: ServiceError) -> Response:
    """The use cases audit and count their own refusals; a missing caller identity is refused here."""
    if error.code is ErrorCode.UNAUTHENTICATED:
        return _refused(error)
    return _error_response(error)


def _error_response(error: ServiceError) -> Response:
    """Every error answer: the catalogue's status, ``{"code", "message"[, "field"]}``, Retry-After."""
    return _json(error.status, error.to_dict(), error.headers())


def _refused(error: ServiceError) -> Response:
    """A refusal decided in this handler: the pipeline counts it toward the caller's minute (or the source
    address's) and audits it, and may answer RATE_LIMITED instead. If even the service cannot be built
    (the bug being answered), the refusal is only logged."""
    try:
        service = _service()
    except Exception:
        logger.exception("refusal not audited: the service could not be built")
        return _error_response(error)
    return _error_response(service.refused_at_the_edge(_caller_or_none(), _origin(), error))


def _caller_or_none() -> Caller | None:
    try:
        return _caller()
    except ServiceError:
        return None


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    first = error.errors()[0] if error.errors() else {}
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error")
        message = f"The body is not valid JSON: {reason}." if reason else "The body is not valid JSON."
        return _refused(ServiceError(ErrorCode.INVALID_JSON, message))
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or "body"
    message = first.get("msg", "The request is not valid.")
    if field:
        message = f"{field}: {message}"
    return _refused(ServiceError(ErrorCode.INVALID_REQUEST, message, field=field))


@app.exception_handler(RequestUnsupportedContentType)
def handle_unsupported_content_type(_error: RequestUnsupportedContentType) -> Response:
    return _refused(ServiceError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json."))


@app.exception_handler(Exception)
def handle_unexpected_error(error: Exception) -> Response:
    """The last resort: a JSON 500 with a code (logged with its traceback), never API Gateway's bare one."""
    logger.exception("unhandled error", extra={"error": type(error).__name__})
    return _refused(
        ServiceError(ErrorCode.INTERNAL_ERROR, "An internal error stopped the request; it has been logged.")
    )


@app.not_found
def handle_unknown_route(_error: Exception) -> Response:
    """404 for a path no route has; 405 with ``Allow`` for a route asked with another method."""
    event = app.current_event
    allowed = _methods_for(event.path)
    if not allowed:
        return _refused(
            ServiceError(ErrorCode.ROUTE_NOT_FOUND, f"There is no route {event.http_method} {event.path}.")
        )
    answer = _refused(
        ServiceError(
            ErrorCode.METHOD_NOT_ALLOWED,
            f"{event.path} takes {', '.join(allowed)}, not {event.http_method}.",
        )
    )
    if answer.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        answer.headers["Allow"] = ", ".join(allowed)
    return answer


def _methods_for(path: str) -> list[str]:
    """The methods the resolver's routes take for ``path`` (powertools keeps them on the app)."""
    routes = [*app._static_routes, *app._dynamic_routes]
    return sorted({route.method for route in routes if route.rule.match(path)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
