"""The key pair of the lab's CloudStack-shaped API, kept in a 0600 JSON file a sync client reads.

The file is ``{"url": ..., "apiKey": ..., "secretKey": ...}``. Keys look like CloudStack's (86 URL-safe
base64 characters from 64 random bytes) and are made once, so restarting the API keeps them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret_key: str


def generate_credentials() -> Credentials:
    return Credentials(api_key=secrets.token_urlsafe(64), secret_key=secrets.token_urlsafe(64))


def read_credentials(path: Path) -> tuple[Credentials, str | None] | None:
    """The keys and URL in ``path``, or None when it is missing or not a credentials file."""
    try:
        stored = json.loads(path.read_text())
        return Credentials(str(stored["apiKey"]), str(stored["secretKey"])), stored.get("url")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_credentials(path: Path, *, url: str | None = None) -> Credentials:
    """The keys in ``path`` (made when it has none); the file is written again when a ``url`` is given
    (the running API's: its fresh write tells a waiting stack the API is listening)."""
    found = read_credentials(path)
    credentials, stored_url = found if found else (generate_credentials(), None)
    if found is None or url is not None:
        _write_private(
            path,
            {"url": url or stored_url, "apiKey": credentials.api_key, "secretKey": credentials.secret_key},
        )
    return credentials


def _write_private(path: Path, document: dict) -> None:
    """Created 0600 before a byte is written, then renamed over ``path`` (never seen half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    os.replace(tmp, path)
