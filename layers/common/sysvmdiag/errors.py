"""Service errors: one exception type carrying a stable code, an HTTP status and a sentence."""

from __future__ import annotations

from http import HTTPStatus

# How runner failures surface over HTTP: the VM or bastion is a gateway we could not use.
RUNNER_STATUS = {
    "BASTION_UNREACHABLE": HTTPStatus.BAD_GATEWAY,
    "VM_UNREACHABLE": HTTPStatus.BAD_GATEWAY,
    "HOST_KEY_MISMATCH": HTTPStatus.BAD_GATEWAY,
    "AUTH_FAILED": HTTPStatus.BAD_GATEWAY,
    # The SSH key could not be read from Secrets Manager: ours to fix, not the VM's; try again later.
    "SSH_KEY_UNAVAILABLE": HTTPStatus.SERVICE_UNAVAILABLE,
    "TIMEOUT": HTTPStatus.GATEWAY_TIMEOUT,
}


class ServiceError(Exception):
    """Raised by the library; handlers turn it into ``{"code", "message"}`` with ``status``."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = HTTPStatus.BAD_REQUEST,
        field: str | None = None,
        retry_after: int | None = None,
        detail_code: str | None = None,
        detail: str | None = None,
    ):
        """``detail_code``/``detail``: the precise reason when the caller is told less (the audit keeps
        them; they never reach the response body)."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = int(status)
        self.field = field
        self.retry_after = retry_after
        self.detail_code = detail_code if detail_code is not None and detail_code != code else None
        self.detail = detail if detail is not None and detail != message else None

    def headers(self) -> dict[str, str]:
        """``Retry-After`` for 429 and 503 answers, so clients back off as long as needed."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}

    def to_dict(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body
