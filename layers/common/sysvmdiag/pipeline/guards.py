"""Turning what goes wrong below into coded answers, so every request is answered and audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.limits import LimitExceeded
from sysvmdiag.observability import count_by, logger


@contextmanager
def dependency_errors() -> Iterator[None]:
    """An AWS service failing past boto3's retries (throttling, endpoint down) is 503 with Retry-After;
    anything unexpected is a 500 (logged with its traceback); coded errors pass through."""
    try:
        yield
    except ServiceError:
        raise
    except (BotoCoreError, ClientError) as exc:
        logger.exception("backing service unavailable")
        count_by("DependencyErrors", "code", type(exc).__name__)
        raise ServiceError(
            ErrorCode.STORE_UNAVAILABLE,
            "A backing AWS service (DynamoDB, SQS) did not answer in time, even after retries; nothing "
            "ran. Try again shortly.",
        ) from exc
    except Exception as exc:
        logger.exception("unexpected error")
        raise ServiceError(
            ErrorCode.INTERNAL_ERROR,
            f"An internal error ({type(exc).__name__}) stopped the request; it has been logged.",
        ) from exc


@contextmanager
def limit_errors() -> Iterator[None]:
    """LimitExceeded -> 429 with Retry-After (the store knows when capacity comes back)."""
    try:
        yield
    except LimitExceeded as exc:
        count_by("Throttles", "code", exc.code)
        raise ServiceError(exc.code, exc.message, retry_after=max(1, int(exc.retry_after))) from exc
