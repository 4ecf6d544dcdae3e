"""Lambda authorizer (HTTP API, simple responses): API key -> account, role and domain."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.identity import authorizer_context, bearer_token
from sysvmdiag.observability import logger
from sysvmdiag.topology.store import TopologyStore


@cache
def _store() -> TopologyStore:
    return bootstrap.topology_store(Settings.from_env())


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict:
    token = bearer_token(event.headers.get("authorization"))
    account = _store().account_by_api_key(token) if token else None
    if account is None:
        logger.info("api key refused", extra={"route": event.route_key})
        return APIGatewayAuthorizerResponseV2(authorize=False).asdict()
    return APIGatewayAuthorizerResponseV2(authorize=True, context=authorizer_context(account)).asdict()
