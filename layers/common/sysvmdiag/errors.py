"""Service errors: one exception type carrying a stable code, an HTTP status and a sentence."""

from __future__ import annotations

from http import HTTPStatus

# Policy reason codes that describe bad input rather than a refusal.
BAD_INPUT_CODES = frozenset({"INVALID_OPTION", "OPTION_OUT_OF_BOUNDS", "INVALID_DESTINATION", "INVALID_TEST"})

# How runner failures surface over HTTP: the VM or bastion is a gateway we could not use.
RUNNER_STATUS = {
    "BASTION_UNREACHABLE": HTTPStatus.BAD_GATEWAY,
    "VM_UNREACHABLE": HTTPStatus.BAD_GATEWAY,
    "HOST_KEY_MISMATCH": HTTPStatus.BAD_GATEWAY,
    "AUTH_FAILED": HTTPStatus.BAD_GATEWAY,
    "TIMEOUT": HTTPStatus.GATEWAY_TIMEOUT,
}


class ServiceError(Exception):
    """Raised by the library; handlers turn it into ``{"code", "message"}`` with ``status``."""

    def __init__(
        self, code: str, message: str, status: int = HTTPStatus.BAD_REQUEST, field: str | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = int(status)
        self.field = field

    def to_dict(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def status_for_denial(code: str) -> int:
    """HTTP status for a policy decision that is not an allow."""
    if code in BAD_INPUT_CODES:
        return HTTPStatus.BAD_REQUEST
    if code == "TARGET_NOT_FOUND":
        return HTTPStatus.NOT_FOUND
    if code == "VM_NOT_RUNNING":
        return HTTPStatus.CONFLICT
    return HTTPStatus.FORBIDDEN
