"""CloudStack API Lambda (``ANY /client/api``, no authorizer: the request's signature is its
authentication). A thin adapter: the event's parts go to ``sysvmdiag.facade``, its answer comes back."""

from __future__ import annotations

# Before the heavy imports below: the zone's bastion connects while they run (sysvmdiag.warmup).
from sysvmdiag.warmup import start_bastion_warmup

start_bastion_warmup()

# isort: split
import base64
import json
import warnings
from functools import cache

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.facade.codes import CloudStackCode, CloudStackError, CsErrorCode
from sysvmdiag.facade.front_door import CloudStackAnswer, CloudStackFrontDoor, CloudStackRequest
from sysvmdiag.http_quota import QuotaHeadersResolver
from sysvmdiag.observability import logger, metrics, tracer
from sysvmdiag.pipeline.origin import RequestOrigin

warnings.filterwarnings("ignore", message="No application metrics to publish")

app = QuotaHeadersResolver()  # counted answers carry X-RateLimit-*, as the JSON API's do


@cache
def _front_door() -> CloudStackFrontDoor:
    """Built on first use so a cold start pays only for what the first request needs."""
    return bootstrap.cloudstack_front_door(Settings.from_env())


@app.route("/client/api", method=["GET", "HEAD", "POST"])
def client_api() -> Response:
    event = app.current_event
    context = event.request_context
    body = event.body or ""
    request = CloudStackRequest(
        method=event.http_method,
        raw_query=event.raw_query_string or "",
        body=base64.b64decode(body) if event.is_base64_encoded else body.encode(),
        content_type=event.headers.get("content-type"),
        origin=RequestOrigin(
            request_id=context.request_id,
            source_ip=context.http.source_ip,
            user_agent=context.http.user_agent,
        ),
    )
    return _response(_front_door().answer(request))


@app.not_found
def any_other_method(_error: Exception) -> Response:
    """The route is ``ANY /client/api``: every other method (PUT, TRACE, ...) is the front door's to
    answer (CloudStack's 405 envelope), never a resolver's 404."""
    return client_api()


def _response(answer: CloudStackAnswer) -> Response:
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(answer.body),
        headers=answer.headers or None,
    )


@app.exception_handler(Exception)
def handle_unexpected_error(error: Exception) -> Response:
    """The last resort: CloudStack's 530 envelope (logged with its traceback), never a bare 500."""
    logger.exception("unhandled error", extra={"error": type(error).__name__})
    failure = CloudStackError(
        CloudStackCode.INTERNAL_ERROR,
        CsErrorCode.SERVER_API,
        "An internal error stopped the request; it has been logged.",
    )
    return _response(CloudStackAnswer(int(failure.errorcode), {"errorresponse": failure.body()}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
