"""One Lambda instance of the local stack: a process that imports its handler once (Lambda's Init) and
then serves one event at a time over a pipe, until the pipe closes.

An invocation that outlives its context's remaining time (plus a little) is a timeout, as on Lambda: the
instance is stopped and never serves again. An instance that dies mid-event is a failed invocation.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

# Past the context's deadline, how long the caller waits before calling it a timeout.
TIMEOUT_GRACE_SECONDS = 2.0
STOP_GRACE_SECONDS = 1.0
# Lambda gives Init 10 s; a loaded two-core laptop importing boto3 and powertools needs more at times.
INIT_SECONDS = 60.0


class FunctionError(RuntimeError):
    """The invocation failed (the handler raised, the instance died); Lambda reports it as an error."""

    def __init__(self, message: str, *, instance_survived: bool) -> None:
        super().__init__(message)
        self.instance_survived = instance_survived


class FunctionTimeout(FunctionError):
    """The handler did not answer by its deadline; its instance is stopped."""

    def __init__(self, message: str) -> None:
        super().__init__(message, instance_survived=False)


def _load(target: str) -> Any:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def _serve(target: str, conn: Any) -> None:
    """The instance process's main: Init once (then say so), then one event at a time until the pipe
    closes."""
    try:
        handler = _load(target)
    except BaseException:
        traceback.print_exc()
        conn.send(("init-error", f"Init of {target} failed:\n{traceback.format_exc()}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            event, context = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", handler(event, context)))
        except Exception as exc:  # what Lambda would log and report as the invocation's error
            traceback.print_exc()
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class FunctionInstance:
    """The parent's end of one instance process."""

    def __init__(self, process: Any, conn: Any, target: str) -> None:
        self._process = process
        self._conn = conn
        self.target = target

    @classmethod
    def start(cls, target: str, mp_context: Any, init_seconds: float = INIT_SECONDS) -> FunctionInstance:
        """A new instance, returned once its Init is done (FunctionError if Init fails or hangs)."""
        parent_end, child_end = mp_context.Pipe()
        process = mp_context.Process(
            target=_serve, args=(target, child_end), name=f"lambda {target}", daemon=True
        )
        process.start()
        child_end.close()
        instance = cls(process, parent_end, target)
        try:
            ready = parent_end.poll(init_seconds) and parent_end.recv()
        except (EOFError, OSError):
            ready = ("init-error", f"Init of {target}: the instance exited")
        if not ready or ready[0] != "ready":
            instance.stop(grace=0)
            reason = ready[1] if ready else f"Init of {target} took more than {init_seconds:.0f} s"
            raise FunctionError(reason, instance_survived=False)
        return instance

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def invoke(self, event: dict, context: Any) -> Any:
        """The handler's answer, or FunctionError / FunctionTimeout."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        timeout = remaining() / 1000 + TIMEOUT_GRACE_SECONDS if remaining else None
        try:
            self._conn.send((event, context))
            if not self._conn.poll(timeout):
                raise FunctionTimeout(f"{self.target} did not answer within {timeout:.0f} s")
            kind, value = self._conn.recv()
        except (EOFError, OSError) as err:
            raise FunctionError(f"{self.target}: the instance exited", instance_survived=False) from err
        if kind == "ok":
            return value
        raise FunctionError(value, instance_survived=True)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Close the pipe (an idle instance exits at once), then terminate what is left."""
        self._conn.close()
        self._process.join(grace)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_GRACE_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
