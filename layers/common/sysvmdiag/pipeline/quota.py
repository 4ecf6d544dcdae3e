"""The caller's requests-per-minute quota as one answer reports it (``X-RateLimit-*``), and the per-request
scope that carries it from the limiter, deep in a use case, to the handler that writes the headers.

The requests are counted in fixed one-minute windows (``sysvmdiag.limits.rate_window``): ``Limit`` is the
role's requests per minute, ``Remaining`` what is left of the current window after this request (0 on a
429 RATE_LIMITED), ``Reset`` the whole seconds until the window ends (at least 1). The scope is a
context variable, so a handler needs no new return values from the use cases; outside a scope (the
worker, the sweeper) nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sysvmdiag.limits import WindowCount

# The headers and what each says (the OpenAPI document shows these descriptions).
HEADERS: dict[str, str] = {
    "X-RateLimit-Limit": "Requests the caller's role may send per fixed one-minute window",
    "X-RateLimit-Remaining": "Requests left in the current window after this one (0 on 429 RATE_LIMITED)",
    "X-RateLimit-Reset": "Whole seconds until the current window ends and a fresh one starts (at least 1)",
}
_LIMIT, _REMAINING, _RESET = HEADERS


@dataclass(frozen=True)
class RateQuota:
    """One account's minute: its limit, what it used, and when the window ends."""

    limit: int
    used: int
    reset_seconds: int

    @classmethod
    def of(cls, limit: int, window: WindowCount) -> RateQuota:
        return cls(limit, window.count, window.reset_seconds)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {_LIMIT: str(self.limit), _REMAINING: str(self.remaining), _RESET: str(self.reset_seconds)}


_counted: ContextVar[list[RateQuota] | None] = ContextVar("sysvmdiag_counted_quota", default=None)


def note(quota: RateQuota) -> None:
    """The limiter counted (or refused) this request toward ``quota``'s minute."""
    counted = _counted.get()
    if counted is not None:
        counted.append(quota)


@contextmanager
def request_scope() -> Iterator[Callable[[], RateQuota | None]]:
    """One request's scope: yields a reader of the quota it was last counted toward (None: not counted)."""
    counted: list[RateQuota] = []
    token = _counted.set(counted)
    try:
        yield lambda: counted[-1] if counted else None
    finally:
        _counted.reset(token)
