"""DynamoDB calls of the authorizer function per request (its API-key lookup), counted in process."""

from __future__ import annotations

from benchmarks.lambda_process import count_dynamodb_calls
from sysvmdiag.local.gateway import LambdaContext, authorizer_event, http_api_event


def measure(stack: dict, requests: int = 5) -> dict:
    """Invoke the authorizer ``requests`` times with the admin's key (first cold, then warm)."""
    from functions.authorizer.app import lambda_handler

    admin_key = next(a["apiKey"] for a in stack["accounts"] if a["name"] == "admin")
    calls: dict[str, int] = {}
    count_dynamodb_calls(calls)
    per_request = []
    for _ in range(requests):
        calls.clear()
        event = http_api_event(
            "POST", "/diagnostics", {"authorization": f"Bearer {admin_key}"}, b"{}", "127.0.0.1"
        )
        verdict = lambda_handler(authorizer_event(event), LambdaContext("sysvmdiag-authorizer"))
        if not verdict.get("isAuthorized"):
            raise RuntimeError(f"the authorizer refused the admin's key: {verdict}")
        per_request.append({"calls": sum(calls.values()), "operations": dict(calls)})
    return {"requests": per_request}
