"""API Lambda (HTTP API, payload v2): parse, call the library, respond. No logic lives here."""

from __future__ import annotations

import json
import warnings
from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag.config import Settings
from sysvmdiag.errors import ServiceError
from sysvmdiag.identity import caller_from_context
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult, ErrorBody, SystemVmList
from sysvmdiag.observability import logger, metrics, tracer
from sysvmdiag.service import DiagnosticsService

TITLE = "sysvmdiag"
DESCRIPTION = "Run ping, traceroute and arping on cloud system VMs, under an access policy."

# Denials and errors emit no metric of their own on some paths; an empty flush is expected, not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")

app = APIGatewayHttpResolver(enable_validation=True)
app.enable_swagger(path="/swagger", title=TITLE, description=DESCRIPTION)


def _error_responses(*statuses: HTTPStatus) -> dict:
    schema = {"model": ErrorBody}
    return {int(s): {"description": s.phrase, "content": {"application/json": schema}} for s in statuses}


@cache
def _service() -> DiagnosticsService:
    """Built on first use so a cold start pays only for what the first request needs."""
    return DiagnosticsService.from_settings(Settings.from_env())


def _caller():
    return caller_from_context(app.current_event.request_context.authorizer.get_lambda)


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.post(
    "/diagnostics",
    summary="Run a diagnostic on a system VM",
    responses={
        200: {
            "description": "The run's result",
            "content": {"application/json": {"model": DiagnosticResult}},
        },
        **_error_responses(
            HTTPStatus.BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.NOT_FOUND,
            HTTPStatus.CONFLICT,
            HTTPStatus.UNPROCESSABLE_ENTITY,
            HTTPStatus.BAD_GATEWAY,
            HTTPStatus.GATEWAY_TIMEOUT,
        ),
    },
)
def post_diagnostics(request: DiagnosticRequest) -> DiagnosticResult:
    return _service().run(_caller(), request)


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


@app.get("/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def get_openapi() -> Response[str]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title=TITLE, description=DESCRIPTION),
    )


@app.exception_handler(ServiceError)
def handle_service_error(error: ServiceError) -> Response:
    return _json(error.status, error.to_dict())


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    first = error.errors()[0] if error.errors() else {}
    if first.get("type") == "json_invalid":
        return _json(
            HTTPStatus.BAD_REQUEST, {"code": "INVALID_JSON", "message": "The body is not valid JSON."}
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or "body"
    message = first.get("msg", "The request is not valid.")
    if field:
        message = f"{field}: {message}"
    return _json(HTTPStatus.BAD_REQUEST, {"code": "INVALID_REQUEST", "message": message, "field": field})


@app.not_found
def handle_unknown_route(_error: Exception) -> Response:
    event = app.current_event
    return _json(
        HTTPStatus.NOT_FOUND,
        {"code": "ROUTE_NOT_FOUND", "message": f"There is no route {event.http_method} {event.path}."},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
