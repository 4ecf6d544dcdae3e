"""Swagger UI stays off the API function's cold start and still answers when asked for (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from sysvmdiag.lazy_swagger import LazySwaggerResolver
from sysvmdiag.local.gateway import LambdaContext, http_api_event

NOT_LOADED = (
    "import sys\n"
    "import functions.api.app\n"
    "print(sorted(m for m in sys.modules if m.endswith(('openapi.swagger_ui', 'openapi.models'))))\n"
)


def _get(app: LazySwaggerResolver, method: str, path: str) -> dict[str, Any]:
    return app.resolve(http_api_event(method, path, {}, b"", "192.0.2.7"), LambdaContext("api"))


def test_importing_the_api_function_loads_no_swagger_or_openapi_models() -> None:
    result = subprocess.run(
        [sys.executable, "-c", NOT_LOADED], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_the_first_request_for_the_page_registers_it_and_a_wrong_method_stays_405() -> None:
    app = LazySwaggerResolver(enable_validation=True)

    @app.get("/systemvms")
    def systemvms() -> dict[str, str]:
        return {"ok": "yes"}

    app.defer_swagger("/swagger", title="t")
    assert _get(app, "GET", "/systemvms")["statusCode"] == 200
    assert not _swagger_registered(app)
    _get(app, "POST", "/swagger")  # the first request to the path registers it, whatever its method
    assert _swagger_registered(app)
    page = _get(app, "GET", "/swagger")
    assert page["statusCode"] == 200 and "swagger" in page["body"].lower()
    assert json.loads(_swagger_json(app))["info"]["title"] == "t"


def _swagger_registered(app: LazySwaggerResolver) -> bool:
    return any("swagger" in str(route.rule.pattern) for route in app._static_routes)


def _swagger_json(app: LazySwaggerResolver) -> str:
    event = http_api_event("GET", "/swagger", {}, b"", "192.0.2.7")
    event["rawQueryString"] = "format=json"
    event["queryStringParameters"] = {"format": "json"}
    return app.resolve(event, LambdaContext("api"))["body"]
