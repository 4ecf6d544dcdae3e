"""The lab's CloudStack API served on a loopback port of its own, for tests that sync from it
(tests/integration/store/test_sync.py, tests/integration/sync)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from simvms.cloudstack_api import LabCloudStackApi, api_url, serve
from simvms.cloudstack_credentials import Credentials, generate_credentials
from simvms.cloudstack_responses import responses_for
from sysvmdiag.cloudstack.client import CloudStackClient
from sysvmdiag.topology.model import Topology


class LabApi:
    """The lab's CloudStack API on a loopback port of its own, serving ``responses`` (changeable)."""

    def __init__(self, topology: Topology) -> None:
        self.responses: dict[str, list[dict]] = responses_for(topology)
        self.keys: Credentials = generate_credentials()
        self.server = serve(LabCloudStackApi(lambda: self.responses, self.keys), 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = api_url(self.server)

    def client(self) -> CloudStackClient:
        return CloudStackClient(self.url, self.keys.api_key, self.keys.secret_key, timeout=10, page_size=7)


@contextmanager
def serving(topology: Topology) -> Iterator[LabApi]:
    """A LabApi answering until the block ends (then shut down, its port closed)."""
    api = LabApi(topology)
    api.thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        api.thread.join()
