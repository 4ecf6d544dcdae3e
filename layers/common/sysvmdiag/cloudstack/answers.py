"""What a CloudStack API answer means: the one response object inside it, or a CloudStackError saying why not.

CloudStack answers ``{"<name>response": {...}}``; an error carries ``errorcode`` (the HTTP status it was
sent with: 401, 431, 432, 530, ...), ``errortext`` and often ``cserrorcode`` inside that object. Anything
else (an HTML page, a redirect, a proxy's error) means the URL is not the API's, and the error says so.
"""

from __future__ import annotations

import json
from typing import Any

# What a person can do about each status CloudStack sends (its ApiErrorCode values).
HINTS: dict[int, str] = {
    401: "the API key or secret key is wrong, the key's user or account is disabled, "
    "or this machine's clock is off: signed requests expire",
    429: "the account is over the API's request limit; try again later",
    430: "a parameter is malformed",
    431: "a parameter is missing or has a value CloudStack refuses",
    432: "the command does not exist or this key's role may not call it (a sync needs a root admin key)",
    530: "the management server failed while answering; its management-server.log says why",
}


class CloudStackError(Exception):
    """A call CloudStack refused or could not answer; ``http_status`` is None when nothing answered."""

    def __init__(
        self,
        command: str,
        http_status: int | None,
        errorcode: int | None,
        errortext: str,
        cserrorcode: int | None = None,
    ) -> None:
        self.command = command
        self.http_status = http_status
        self.errorcode = errorcode
        self.errortext = errortext
        self.cserrorcode = cserrorcode
        super().__init__(self._message())

    def _message(self) -> str:
        if self.http_status is None:
            return f"{self.command}: no answer from CloudStack: {self.errortext}"
        code = f", errorcode {self.errorcode}" if self.errorcode not in (None, self.http_status) else ""
        hint = HINTS.get(self.errorcode or self.http_status)
        text = f"{self.command}: CloudStack answered HTTP {self.http_status}{code}: {self.errortext}"
        return f"{text} ({hint})" if hint else text


def response_object(
    command: str, expected_key: str, status: int, content_type: str, body: bytes
) -> tuple[dict[str, Any], str | None]:
    """The object under the answer's one key, and a note when that key is not ``expected_key``.

    Raises CloudStackError for CloudStack's error answers and for anything that is not an API answer.
    """
    document = _json_object(body)
    if document is None or len(document) != 1:
        raise CloudStackError(command, status, None, _not_an_answer(content_type, body))
    key, inner = next(iter(document.items()))
    if not isinstance(inner, dict):
        raise CloudStackError(command, status, None, f"{key} is {type(inner).__name__}, not an object")
    if "errorcode" in inner or status != 200:
        raise CloudStackError(
            command,
            status,
            _int_or_none(inner.get("errorcode")),
            str(inner.get("errortext") or "no errortext"),
            _int_or_none(inner.get("cserrorcode")),
        )
    note = None if key == expected_key else f"{command}: the answer came under {key!r}, not {expected_key!r}"
    return inner, note


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _not_an_answer(content_type: str, body: bytes) -> str:
    start = body[:120].decode(errors="replace").strip()
    return (
        f"not a CloudStack API answer (content type {content_type or 'none'}: {start!r}); "
        "the URL should be the API's, e.g. https://cloud.example.com/client/api"
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
