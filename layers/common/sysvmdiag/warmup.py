"""The bastion connection begun during a function's Init (issue 17: cold start).

A cold request used to import everything, then fetch the key, read the bastion and connect, one after
the other. Started first thing in the handler module, this thread does the fetching and connecting
while the main thread still imports; the first run then finds the connection made (or waits for it on
the runner's connect lock, under its own budget). Any failure is only logged: the run connects, and
reports, as it always did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sysvmdiag.topology.model import SshEndpoint

WARM_CONNECT_SECONDS = 10.0

_log = logging.getLogger(__name__)


def start_bastion_warmup(environ: Mapping[str, str] | None = None) -> threading.Thread:
    """Start the warm-up thread (a daemon: it never holds up an answer or the process's end)."""
    thread = threading.Thread(target=warm_bastion, args=(environ,), name="bastion-warmup", daemon=True)
    thread.start()
    return thread


def warm_bastion(environ: Mapping[str, str] | None = None) -> bool:
    """Connect the runner of the zone's bastion if ``BASTION_WARM_AT_INIT`` says so; whether it did."""
    try:
        from sysvmdiag.config import Settings

        settings = Settings.from_env(environ)
        if not settings.bastion_warm_at_init:
            return False
        from sysvmdiag import bootstrap

        connect(bootstrap.topology_store(settings), bootstrap.runner_factory(settings))
        return True
    except Exception as exc:  # whatever it was, the first run connects and reports as usual
        _log.info("the bastion was not connected at Init: %s", exc)
        return False


def connect(topology: Any, runner_for: Callable[[SshEndpoint], Any]) -> None:
    """The runner the service will use for the zone's bastion (the same cached one), connected."""
    runner_for(topology.bastion().ssh).warm(WARM_CONNECT_SECONDS)
