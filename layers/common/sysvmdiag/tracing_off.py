"""A powertools tracing provider for when tracing is off: it records nothing and imports nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class NoSegment(BaseSegment):
    """What ``in_subsegment`` yields: annotations and metadata go nowhere."""

    def close(self, end_time: int | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to add to."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to remove from."""

    def put_annotation(self, key: str, value: Any) -> None:
        """Dropped: no trace is sent."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped: no trace is sent."""

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        """Dropped: the logs carry the exception."""


class NoTracing(BaseProvider):
    """Stands in for X-Ray's recorder when powertools has tracing off (see ``observability``)."""

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        """Dropped: no trace is sent."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped: no trace is sent."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing to patch: no segment would be sent."""

    def patch_all(self) -> None:
        """Nothing to patch: no segment would be sent."""
