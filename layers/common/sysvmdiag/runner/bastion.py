"""SSH to a system VM through the bastion: the runner composing the layers, and the warm-process cache.

Connecting is the expensive part (TCP + key exchange + auth, twice), so a warm process keeps the
bastion Transport (``tunnel``) and, like an OpenSSH ControlMaster, one authenticated VM Transport
per VM endpoint (``pool``), reached through a ``direct-tcpip`` channel to the VM's control address
(port 3922). Both server keys are checked against the keys pinned in the topology when a
connection is made (``pinning``). Each run opens its own session channel on the VM Transport
(``session``), so concurrent runs on one VM multiplex over one connection, and holds its budget
with a deadline and a watchdog (``deadline``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from sysvmdiag.runner.deadline import WATCHDOG_GRACE_SECONDS, Deadline, Watchdog
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode, RunOutput
from sysvmdiag.runner.keys import key_fingerprint, obtain_private_key
from sysvmdiag.runner.names import describe
from sysvmdiag.runner.pinning import Login, PinnedKey, connect_pinned
from sysvmdiag.runner.plumbing import Plumbing
from sysvmdiag.runner.pool import MAX_SESSIONS_PER_VM_CONNECTION, EndpointKey, VmConnection, VmPool
from sysvmdiag.runner.session import (
    DEFAULT_OUTPUT_CAP,
    OutputListener,
    StaleConnection,
    execute,
    open_session,
)
from sysvmdiag.runner.tunnel import (
    DEFAULT_CONNECT_ATTEMPTS,
    DEFAULT_CONNECT_TIMEOUT,
    FIRST_BACKOFF_SECONDS,
    BastionTunnel,
    TunnelSocket,
)
from sysvmdiag.topology.model import SshEndpoint

# The tuning constants live with their layer; re-exported for callers that import them from here.
__all__ = [
    "DEFAULT_CONNECT_ATTEMPTS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_OUTPUT_CAP",
    "FIRST_BACKOFF_SECONDS",
    "MAX_SESSIONS_PER_VM_CONNECTION",
    "WATCHDOG_GRACE_SECONDS",
    "BastionRunner",
    "clear_runners",
    "get_runner",
]


@dataclass(frozen=True)
class _Run:
    """One run's fixed facts, handed from layer to layer."""

    vm: SshEndpoint
    key: EndpointKey
    name: str
    pinned: PinnedKey
    deadline: Deadline
    watchdog: Watchdog
    on_output: OutputListener | None = None
    after_connect: float | None = None  # the budget left once connected, when connecting had an allowance


class BastionRunner:
    """Runs forced-command requests on system VMs through one bastion, reusing its connections.

    Thread-safe: the tunnel guards (re)connecting the shared bastion Transport and the pool guards
    connecting to each VM (never a run); each run has its own session channel, which paramiko
    multiplexes concurrently over the shared VM Transport (at most MAX_SESSIONS_PER_VM_CONNECTION).
    """

    def __init__(
        self,
        bastion: SshEndpoint,
        private_key: paramiko.PKey,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
        plumbing: Plumbing | None = None,
    ):
        if bastion.address is None:
            raise ValueError("the bastion endpoint has no address")
        self.bastion = bastion
        self.private_key = private_key
        self.connect_timeout = connect_timeout
        self._plumbing = plumbing or Plumbing()
        self._tunnel = BastionTunnel(
            bastion,
            private_key,
            connect_timeout=connect_timeout,
            connect_attempts=connect_attempts,
            plumbing=self._plumbing,
        )
        self._pool = VmPool(lambda: self._tunnel.transport, self._plumbing.clock)

    @property
    def connect_attempts(self) -> int:
        return self._tunnel.connect_attempts

    @property
    def transport(self) -> paramiko.Transport | None:
        """The cached bastion Transport (None before the first run); exposed for reuse checks."""
        return self._tunnel.transport

    def connections_to(self, vm: SshEndpoint) -> list[paramiko.Transport]:
        """The cached VM Transports for this endpoint (pin included); exposed for reuse checks."""
        return self._pool.transports(EndpointKey.of(vm))

    def warm(self, seconds: float) -> None:
        """Connect to the bastion now, before any run (a function's Init): the first run then finds the
        connection made, or waits for it under its own budget. Raises RunnerError as a run would."""
        self._tunnel.live(Deadline(seconds, self._plumbing.clock))

    def close(self) -> None:
        """Drop the cached VM and bastion connections (the next run reconnects)."""
        self._pool.close()
        self._tunnel.close()

    def run(
        self,
        vm: SshEndpoint,
        command: str,
        timeout: float,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        *,
        connect_allowance: float = 0.0,
        vm_label: str | None = None,
        on_output: OutputListener | None = None,
    ) -> RunOutput:
        """Send ``command`` (a validated tool command line) to the VM's forced command and collect it.

        ``timeout`` is the wall-clock budget of the whole run; the time connecting took (bastion, VM,
        session) moves it back by up to ``connect_allowance`` seconds, so a slow connect (a process
        short of CPU) does not eat the tool's time, while a tool that hangs is stopped as soon as
        before. The run leases a cached VM connection
        (or makes one) and opens its own session on it; if a cached connection turns out dead before
        anything was executed, the run is retried once on a fresh connection. Raises RunnerError; a
        refusal by the VM-side program is not an error but its stderr and exit status. ``on_output``
        hears stdout so far as it arrives (a job's live output).
        """
        if vm.address is None:
            raise ValueError("the VM endpoint has no address")
        deadline = Deadline(timeout + connect_allowance, self._plumbing.clock)
        name = describe(vm, "system VM", vm_label)
        pinned = PinnedKey.of(vm, name)
        watchdog = Watchdog(deadline.remaining() + WATCHDOG_GRACE_SECONDS, self._plumbing.start_timer)
        after_connect = timeout if connect_allowance > 0 else None
        run = _Run(vm, EndpointKey.of(vm), name, pinned, deadline, watchdog, on_output, after_connect)
        try:
            return self._run(run, command, output_cap)
        except RunnerError as exc:
            if watchdog.fired.is_set() and exc.code is not RunnerErrorCode.TIMEOUT:
                raise RunnerError(
                    RunnerErrorCode.TIMEOUT,
                    f"The run on {name} did not finish within {deadline.seconds:g} s; it was stopped.",
                ) from exc
            raise
        finally:
            watchdog.cancel()

    def _run(self, run: _Run, command: str, output_cap: int) -> RunOutput:
        """Lease a connection, open a session, execute; a stale cached connection is retried once."""
        fresh_only = False
        while True:
            connection, fresh = self._lease(run, fresh_only=fresh_only)
            try:
                step = run.deadline.step(self.connect_timeout)
                try:
                    session = open_session(connection.transport, run.name, step, retryable=not fresh)
                except StaleConnection as exc:
                    self._pool.retire(connection)
                    if not run.deadline.remaining():
                        message = f"The run on {run.name} ran out of time opening a session."
                        raise RunnerError(RunnerErrorCode.TIMEOUT, message) from exc
                    fresh_only = True  # the one retry, on a connection made for it
                    continue
                self._connected(run)
                return self._execute(run, session, connection, command, output_cap)
            finally:
                self._pool.release(connection)

    @staticmethod
    def _connected(run: _Run) -> None:
        """The session is open: the connect allowance ends, the run has ``timeout`` from now at most."""
        if run.after_connect is not None:
            run.deadline.limit_to(run.after_connect)
            run.watchdog.reschedule(run.deadline.remaining() + WATCHDOG_GRACE_SECONDS)

    def _lease(self, run: _Run, *, fresh_only: bool) -> tuple[VmConnection, bool]:
        """A pooled connection with a free session slot (and whether it was made for this run)."""
        if not fresh_only:
            reused = self._pool.take_cached(run.key)
            if reused is not None:
                return reused, False
        # The bastion first, outside the VM's lock: a run waiting on another's bastion connect is told so.
        self._tunnel.live(run.deadline)
        return self._pool.lease(
            run.key, run.name, run.deadline, lambda: self._connect_vm(run), fresh_only=fresh_only
        )

    def _connect_vm(self, run: _Run) -> tuple[paramiko.Transport, paramiko.Transport]:
        """Tunnel through the bastion, then the pinned connect: the VM Transport and the bastion's."""
        channel = self._tunnel.open_channel(run.vm, run.name, run.deadline)
        via = channel.get_transport()
        transport = self._plumbing.new_transport(TunnelSocket(channel))
        login = Login(run.pinned, run.vm.user, self.private_key, run.name, RunnerErrorCode.VM_UNREACHABLE)
        run.watchdog.guard(transport.close)  # nobody else uses it yet: the watchdog may close it
        try:
            connect_pinned(transport, login, run.deadline, self.connect_timeout)
        finally:
            run.watchdog.guard(None)
        return transport, via

    def _execute(
        self, run: _Run, session: paramiko.Channel, connection: VmConnection, command: str, output_cap: int
    ) -> RunOutput:
        def abandon_connection() -> None:
            # exec_command's wait for the reply can only be woken by closing the Transport; a VM
            # that did not answer an exec request within the whole budget is a hung connection.
            self._pool.retire(connection)
            connection.transport.close()

        def retire_if_dead() -> None:
            if not connection.transport.is_active():
                self._pool.retire(connection)

        return execute(
            session,
            command,
            vm_name=run.name,
            deadline=run.deadline,
            watchdog=run.watchdog,
            output_cap=output_cap,
            on_hung=abandon_connection,
            on_refused=retire_if_dead,
            wait=self._plumbing.wait_readable,
            on_output=run.on_output,
        )


# -- the warm-process cache ---------------------------------------------------------------

_runners: dict[EndpointKey, tuple[str, BastionRunner]] = {}
_runners_lock = threading.Lock()


def get_runner(bastion: SshEndpoint, key_loader: Callable[[], paramiko.PKey]) -> BastionRunner:
    """The process's runner for this bastion, so warm invocations reuse its connection.

    Cached per bastion endpoint (address, port, user, pinned key) and private-key fingerprint:
    a rotated key or re-pinned bastion gets a fresh runner and the old connection is closed.
    A key that cannot be loaded (secret missing, Secrets Manager unreachable, not a key) is a
    RunnerError SSH_KEY_UNAVAILABLE, so callers answer and audit it like any other failed run.
    """
    key = obtain_private_key(key_loader)
    fingerprint = key_fingerprint(key)
    endpoint = EndpointKey.of(bastion)
    with _runners_lock:
        cached = _runners.get(endpoint)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        runner = BastionRunner(bastion, key)
        _runners[endpoint] = (fingerprint, runner)
    if cached is not None:
        cached[1].close()
    return runner


def clear_runners() -> None:
    """Close and forget every cached runner (tests, key rotation by hand)."""
    with _runners_lock:
        runners = [runner for _, runner in _runners.values()]
        _runners.clear()
    for runner in runners:
        runner.close()
