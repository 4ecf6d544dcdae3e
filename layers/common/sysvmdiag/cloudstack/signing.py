"""CloudStack's API request signature, computed the way its management server checks it.

``ApiServer.verifyRequest`` takes every parameter but ``signature``, sorts them by name (as sent), joins
``name=URLEncoder.encode(value, "UTF-8")`` with ``&`` (a ``+`` for a space becomes ``%20``), lowercases
the whole string, and compares ``base64(HMAC-SHA1(secret key, that string))`` with ``signature`` in
constant time (a few client orderings are accepted too: ``SIGNED_FORMS``). With ``signatureversion=3``
an ``expires`` timestamp is required and a request past it is refused. The sync client, the lab's
CloudStack-shaped API and the service's own ``/client/api`` use this module, so they cannot drift.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

SIGNATURE = "signature"
SIGNATURE_VERSION = "signatureversion"
EXPIRES = "expires"
# What CloudStack writes and reads (DateUtil's "yyyy-MM-dd'T'HH:mm:ssZ"), e.g. 2026-12-01T05:08:37+0000.
EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# DateUtil.parseTZDateString also takes ISO 8601 offsets (+00:00, Z) and a legacy "...ss'Z'Z" form.
_LEGACY_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ%z"


def encode_value(value: str) -> str:
    """Java's ``URLEncoder.encode(value, "UTF-8")`` with ``+`` as ``%20``: letters, digits and ``.-*_``
    stay; every other UTF-8 byte is ``%XX``. (Python's quote keeps ``~``, which Java encodes.)"""
    return quote(value, safe="*").replace("~", "%7E")


def string_to_sign(
    params: Mapping[str, str],
    *,
    order: Callable[[str], str] = str,
    encode: Callable[[str], str] = encode_value,
) -> str:
    """The lowercased, name-sorted ``name=value&...`` of every parameter except the signature."""
    names = sorted((name for name in params if name.lower() != SIGNATURE), key=order)
    return "&".join(f"{name}={encode(params[name])}" for name in names).lower()


def sign(params: Mapping[str, str], secret_key: str, **form: Callable[[str], str]) -> str:
    """The ``signature`` value for these parameters (base64 of the HMAC-SHA1 digest)."""
    text = string_to_sign(params, **form)
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _python_quote(value: str) -> str:
    """``urllib.parse.quote(value, safe="*")``: ``~`` kept, as the ``cs`` client quotes."""
    return quote(value, safe="*")


def _go_query_escape(value: str) -> str:
    """Go's ``url.QueryEscape`` (cmk) with ``+`` as ``%20``: only ``-_.~`` kept, ``*`` encoded."""
    return quote(value, safe="")


def _libcloud_quote(value: str) -> str:
    """libcloud's ``urlquote(value, safe="[]*")``: ``~``, ``[`` and ``]`` kept."""
    return quote(value, safe="[]*")


# The forms a signature is accepted in: CloudStack's own (names sorted as sent, Java's encoding), and the
# forms of clients that sort the lowercased names (libcloud) or quote as Python (cs, libcloud) or Go (cmk)
# do. All lowercase the whole string, so each differs from CloudStack's only in an order or in whether
# ``~``, ``*``, ``[`` and ``]`` are %-encoded: the same parameters and values are signed.
SIGNED_FORMS: tuple[dict[str, Callable[[str], str]], ...] = tuple(
    {"order": order, "encode": encode}
    for order in (str, str.lower)
    for encode in (encode_value, _python_quote, _libcloud_quote, _go_query_escape)
)


def expires_at(moment: datetime) -> str:
    """``expires`` in CloudStack's own format (UTC)."""
    return moment.astimezone(UTC).strftime(EXPIRES_FORMAT)


def signed_params(
    params: Mapping[str, str],
    api_key: str,
    secret_key: str,
    *,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """``params`` with ``apikey``, the version 3 expiry when ``expires_in`` is given, and ``signature``.

    An expiry bounds how long a captured URL (proxy logs, shell history) can be replayed.
    """
    signed = {name: value for name, value in params.items() if name.lower() != SIGNATURE}
    signed["apikey"] = api_key
    if expires_in is not None:
        signed[SIGNATURE_VERSION] = "3"
        signed[EXPIRES] = expires_at((now or datetime.now(UTC)) + expires_in)
    signed[SIGNATURE] = sign(signed, secret_key)
    return signed


def parse_expires(text: str) -> datetime:
    """An ``expires`` value as an aware datetime; ValueError when it is not a time with an offset."""
    for parse in (
        lambda: datetime.strptime(text, EXPIRES_FORMAT),
        lambda: datetime.fromisoformat(text),
        lambda: datetime.strptime(text, _LEGACY_EXPIRES_FORMAT),
    ):
        try:
            moment = parse()
        except ValueError:
            continue
        if moment.tzinfo is not None:
            return moment
    raise ValueError(f"expires {text!r} is not a time with a UTC offset (e.g. 2026-12-01T05:08:37+0000)")


def signature_problem(
    params: Mapping[str, str], secret_key: str, *, now: datetime | None = None
) -> str | None:
    """Why the request's signature does not hold (for the server's log), or None when it does."""
    lowered = {name.lower(): value for name, value in params.items()}
    given = lowered.get(SIGNATURE)
    if not given:
        return "no signature"
    if lowered.get(SIGNATURE_VERSION) == "3":
        if EXPIRES not in lowered:
            return "signatureversion 3 without expires"
        try:
            expires = parse_expires(lowered[EXPIRES])
        except ValueError as err:
            return str(err)
        if expires < (now or datetime.now(UTC)):
            return f"expired at {lowered[EXPIRES]}"
    if not any(
        hmac.compare_digest(given.encode(), sign(params, secret_key, **form).encode())
        for form in SIGNED_FORMS
    ):
        return "signature does not match"
    return None


def signature_matches(params: Mapping[str, str], secret_key: str, *, now: datetime | None = None) -> bool:
    """True when ``params`` carry a valid, unexpired signature made with ``secret_key``."""
    return signature_problem(params, secret_key, now=now) is None
