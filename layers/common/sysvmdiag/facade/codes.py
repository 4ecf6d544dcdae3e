"""CloudStack's error envelope and codes, from this service's error catalogue.

CloudStack answers an error with ``{"<command>response": {"errorcode", "cserrorcode", "errortext"}}``
and the HTTP status equal to ``errorcode`` (``ApiErrorCode``); ``cserrorcode`` names the Java exception
class (``CSExceptionErrorCode``). Every refusal keeps its sentence: clients put ``errortext`` in their
own exception, so a user sees the same reason the JSON API gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sysvmdiag.errors import ErrorCode, Outcome, ServiceError, Source


class CloudStackCode(IntEnum):
    """``ApiErrorCode`` values this front door answers with."""

    UNAUTHORIZED = 401
    METHOD_NOT_ALLOWED = 405
    PARAM_ERROR = 431
    UNSUPPORTED_ACTION_ERROR = 432
    # As the facade's issue asks. CloudStack's own rate-limit plugin says 429 (API_LIMIT_EXCEED); both are
    # "come back later" to clients, which raise on any errorcode. Retry-After says when.
    API_LIMIT_EXCEED = 436
    INTERNAL_ERROR = 530
    ACCOUNT_ERROR = 531


class CsErrorCode(IntEnum):
    """``CSExceptionErrorCode``: the Java exception CloudStack would have thrown."""

    CLOUD_RUNTIME = 4250
    INVALID_PARAMETER_VALUE = 4350
    PERMISSION_DENIED = 4365
    RESOURCE_UNAVAILABLE = 4380
    REQUEST_LIMIT = 4545
    SERVER_API = 9999


@dataclass(frozen=True)
class CloudStackError:
    errorcode: CloudStackCode
    cserrorcode: CsErrorCode
    errortext: str
    retry_after: int | None = None

    def body(self) -> dict[str, Any]:
        return {
            "uuidList": [],
            "errorcode": int(self.errorcode),
            "cserrorcode": int(self.cserrorcode),
            "errortext": self.errortext,
        }

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


_BY_CODE: dict[ErrorCode, tuple[CloudStackCode, CsErrorCode]] = {
    ErrorCode.UNAUTHENTICATED: (CloudStackCode.UNAUTHORIZED, CsErrorCode.SERVER_API),
    ErrorCode.METHOD_NOT_ALLOWED: (CloudStackCode.METHOD_NOT_ALLOWED, CsErrorCode.SERVER_API),
    ErrorCode.UNKNOWN_COMMAND: (CloudStackCode.UNSUPPORTED_ACTION_ERROR, CsErrorCode.SERVER_API),
    ErrorCode.JOB_NOT_FOUND: (CloudStackCode.PARAM_ERROR, CsErrorCode.INVALID_PARAMETER_VALUE),
}


def cloudstack_error(error: ServiceError) -> CloudStackError:
    """The CloudStack code of a service error: by code where CloudStack has a fixed answer, else by where
    the refusal came from (bad input 431, policy 531, limits 436, runner and service 530)."""
    codes = _BY_CODE.get(error.code) or _by_source(error)
    return CloudStackError(*codes, errortext=error.message, retry_after=error.retry_after)


def _by_source(error: ServiceError) -> tuple[CloudStackCode, CsErrorCode]:
    spec = error.code.spec
    if spec.source is Source.LIMITS:
        return CloudStackCode.API_LIMIT_EXCEED, CsErrorCode.REQUEST_LIMIT
    if spec.outcome is Outcome.DENIED:
        return CloudStackCode.ACCOUNT_ERROR, CsErrorCode.PERMISSION_DENIED
    if spec.source in (Source.REQUEST, Source.POLICY):
        return CloudStackCode.PARAM_ERROR, CsErrorCode.INVALID_PARAMETER_VALUE
    if spec.source is Source.RUNNER:
        return CloudStackCode.INTERNAL_ERROR, CsErrorCode.CLOUD_RUNTIME
    return CloudStackCode.INTERNAL_ERROR, CsErrorCode.SERVER_API


def envelope_name(command: str | None) -> str:
    """``<command>response`` lowercased, as CloudStack names it; ``errorresponse`` without a command."""
    return f"{command.lower()}response" if command else "errorresponse"
