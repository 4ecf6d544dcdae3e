"""What a run returns and how it fails, kept free of paramiko so callers can import it cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sysvmdiag.errors import ErrorCode, Source

# Why a run produced no tool output: the error catalogue's runner codes (their statuses and sentences
# are there), e.g. BASTION_UNREACHABLE, HOST_KEY_MISMATCH, TIMEOUT, SSH_KEY_UNAVAILABLE.
RunnerErrorCode = StrEnum(
    "RunnerErrorCode",
    [(code.name, code.value) for code in ErrorCode if code.spec.source is Source.RUNNER],
    module=__name__,
)


class RunnerError(Exception):
    """A run failed before the tool could report; ``message`` is a sentence naming the host."""

    def __init__(self, code: RunnerErrorCode | str, message: str):
        super().__init__(message)
        self.code = RunnerErrorCode(code)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RunnerError({self.code.value!r}, {self.message!r})"


@dataclass
class RunOutput:
    """The tool's result as seen over SSH.

    ``exit_code`` is None when the VM sent no exit status (the channel was closed on us, or we
    closed it because the output cap was reached: then ``truncated`` is True).
    """

    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    duration_ms: int
