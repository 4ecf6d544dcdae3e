"""The HTTP resolver both front doors use (JSON API, CloudStack API): every answer to a request counted
toward a minute carries ``X-RateLimit-*``, in one place, whichever route, refusal or error handler
answered. The limiter notes the count in the request's quota scope (``sysvmdiag.pipeline.quota``); the
headers are added once the answer is built."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from sysvmdiag.pipeline import quota


class QuotaHeadersResolver(APIGatewayHttpResolver):
    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        with quota.request_scope() as counted:
            answer = super().resolve(event, context)
            rate = counted()
        if rate is not None:
            answer["headers"] = {**(answer.get("headers") or {}), **rate.headers()}
        return answer
