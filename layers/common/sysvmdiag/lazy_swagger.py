"""Swagger UI registered when first asked for, not at import: powertools' ``enable_swagger`` imports the
OpenAPI models and the UI's assets at once (~70-230 ms of a cold start), which no diagnostic uses."""

from __future__ import annotations

from typing import Any

from sysvmdiag.http_quota import QuotaHeadersResolver


class LazySwaggerResolver(QuotaHeadersResolver):
    """``defer_swagger(path, ...)`` takes ``enable_swagger``'s arguments; the route appears on the first
    request to that path (any method, so a wrong method still gets the usual 405), before routing."""

    _deferred_swagger: tuple[str, dict[str, Any]] | None = None

    def defer_swagger(self, path: str, **options: Any) -> None:
        self._deferred_swagger = (path, options)

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        deferred = self._deferred_swagger
        if deferred and str(event.get("rawPath") or event.get("path") or "").endswith(deferred[0]):
            self._deferred_swagger = None
            self.enable_swagger(path=deferred[0], **deferred[1])
        return super().resolve(event, context)
