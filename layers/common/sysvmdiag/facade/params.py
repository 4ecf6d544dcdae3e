"""A CloudStack request's parameters: the query string, and a form-encoded body on POST.

Names keep the case they were sent in (the signature covers them as sent); lookups are
case-insensitive, as CloudStack's are. A name given twice is refused: which value the signature and
the command each took would otherwise be a guess, and a guess is where smuggling starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl

from sysvmdiag.errors import ErrorCode, ServiceError

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 64
MAX_VALUE_CHARS = 4096


@dataclass(frozen=True)
class CloudStackParams:
    """Parameters as sent (for the signature) with case-insensitive access (for the command)."""

    sent: Mapping[str, str]

    def get(self, name: str) -> str | None:
        return self._lowered.get(name.lower())

    @cached_property
    def _lowered(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.sent.items()}

    @property
    def command(self) -> str | None:
        return self.get("command") or None


def request_params(raw_query: str, body: bytes, content_type: str | None) -> CloudStackParams:
    """Query string and (form) body together; ServiceError INVALID_REQUEST for anything else."""
    pairs = _pairs(raw_query, "query string")
    if body:
        media_type = (content_type or "").partition(";")[0].strip().lower()
        if media_type != FORM:
            raise ServiceError(
                ErrorCode.INVALID_REQUEST,
                f"Send the parameters in the query string or as a {FORM} body, "
                f"not {media_type or 'an untyped body'}.",
                field="body",
            )
        pairs += _pairs(_text(body), "body")
    seen: dict[str, str] = {}
    sent: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() in seen:
            raise ServiceError(
                ErrorCode.INVALID_REQUEST, f"The parameter {name!r} is given more than once.", field=name
            )
        if len(value) > MAX_VALUE_CHARS:
            raise ServiceError(
                ErrorCode.INVALID_REQUEST,
                f"The parameter {name!r} is over {MAX_VALUE_CHARS} characters.",
                field=name,
            )
        seen[name.lower()] = name
        sent[name] = value
    return CloudStackParams(sent)


def _text(body: bytes) -> str:
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise ServiceError(
            ErrorCode.INVALID_REQUEST, "A form body is ASCII (other characters are %-encoded).", field="body"
        ) from None


def _pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise ServiceError(
            ErrorCode.INVALID_REQUEST, f"The {where} %-encodes bytes that are not UTF-8.", field=where
        ) from None
    except ValueError:
        raise ServiceError(
            ErrorCode.INVALID_REQUEST, f"The {where} has more than {MAX_FIELDS} parameters.", field=where
        ) from None
