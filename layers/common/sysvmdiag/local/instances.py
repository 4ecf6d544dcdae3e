"""Lambda functions for the local stack, run the way Lambda runs them: one event at a time per instance.

A handler module keeps per-process state (powertools' ``app.current_event``, cached services, the SSH
connection); Lambda never gives one instance two events at once, so that state is safe there. Calling
the handler from the local server's request threads would let concurrent requests see each other's
event (and caller). :class:`FunctionInstances` keeps a pool of processes instead, each importing the
handler once and serving one event at a time, spawned on demand up to a concurrency limit: warm instances
are reused, new ones pay a cold start, like Lambda.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sysvmdiag.local.gateway import LambdaContext

_handler: Any = None


def _load(target: str) -> None:
    """In each new instance: import ``module:function`` once (the Lambda init phase)."""
    global _handler
    module, _, function = target.partition(":")
    _handler = getattr(importlib.import_module(module), function)


def _invoke(event: dict, context: LambdaContext) -> Any:
    return _handler(event, context)


class FunctionInstances:
    """``handler(event, context)`` that runs in one of up to ``concurrency`` instance processes."""

    def __init__(self, target: str, concurrency: int) -> None:
        self.target = target
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server has threads (moto, HTTP), which a forked child would inherit broken.
        return ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(self.target,),
        )

    def __call__(self, event: dict, context: LambdaContext) -> Any:
        pool = self._pool
        try:
            return pool.submit(_invoke, event, context).result()
        except BrokenProcessPool:
            # An instance died (killed, crashed): Lambda would start a new one for the next event.
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            raise

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
