"""The VM connection pool: one logged-in VM Transport per VM endpoint, like an OpenSSH ControlMaster.

A pooled connection is bound to an ``EndpointKey`` (address, port, user and the pinned key), so a new
pin is a new key and never reuses a connection verified against the old one. Connections live only
as long as a ControlPersist would let them, so a VM rekeyed behind the same address is verified
again within minutes. Runs lease a connection (one session each) and release it when done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paramiko

from sysvmdiag.runner.deadline import Clock, Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.topology.model import SshEndpoint

# Like ControlPersist: an idle VM connection is closed after a minute and none lives past five,
# so a VM rekeyed (or replaced) behind the same address is verified again within minutes.
VM_CONNECTION_IDLE_SECONDS = 60.0
VM_CONNECTION_MAX_AGE_SECONDS = 300.0
# sshd allows MaxSessions (default 10) sessions per connection; the per-VM limit is 8 concurrent
# runs, so 8 sessions fit one connection and a ninth run opens a second connection.
MAX_SESSIONS_PER_VM_CONNECTION = 8


@dataclass(frozen=True)
class EndpointKey:
    """What a cached connection is bound to: the endpoint and the key pinned for it."""

    address: str
    port: int
    user: str
    host_key: str

    @classmethod
    def of(cls, endpoint: SshEndpoint) -> EndpointKey:
        return cls(str(endpoint.address), endpoint.port, endpoint.user, endpoint.host_key or "")

    def same_login(self, other: EndpointKey) -> bool:
        """Same address, port and user, whatever the pin."""
        return (self.address, self.port, self.user) == (other.address, other.port, other.user)


@dataclass(eq=False)
class VmConnection:
    """One authenticated VM Transport shared by runs; ``sessions`` counts the runs leasing it now."""

    key: EndpointKey
    transport: paramiko.Transport
    via: Any  # the bastion Transport carrying its tunnel
    created: float
    last_used: float
    sessions: int = 0
    retired: bool = False

    def reusable(self, now: float, bastion: Any) -> bool:
        """Still good for a new session: alive, young enough, not idle too long, over the current bastion."""
        return (
            not self.retired
            and self.via is bastion
            and self.transport.is_active()
            and now - self.created < VM_CONNECTION_MAX_AGE_SECONDS
            and (self.sessions > 0 or now - self.last_used < VM_CONNECTION_IDLE_SECONDS)
        )


@dataclass(eq=False)
class _VmSlot:
    """The connections to one VM endpoint and the lock held only while connecting to it."""

    connect_lock: threading.Lock = field(default_factory=threading.Lock)
    connections: list[VmConnection] = field(default_factory=list)
    # The last failed connect (when it ended, the error): runs that waited for it share its answer
    # instead of each trying again one after the other past their budgets.
    failure: tuple[float, RunnerError] | None = None


# A new VM connection: the authenticated Transport and the bastion Transport under its tunnel.
Connect = Callable[[], tuple[paramiko.Transport, Any]]


class VmPool:
    """The pooled VM connections of one runner.

    Thread-safe: a guard lock covers the bookkeeping only (never network I/O); a per-VM lock is held
    while connecting to that VM, never during a run.
    """

    def __init__(self, bastion: Callable[[], Any], clock: Clock = time.monotonic):
        self._bastion = bastion  # the current bastion Transport: connections over another are stale
        self._clock = clock
        self._guard = threading.Lock()
        self._slots: dict[EndpointKey, _VmSlot] = {}

    def take_cached(self, key: EndpointKey) -> VmConnection | None:
        """Lease a reusable cached connection with a free session slot; sweep out expired ones."""
        now = self._clock()
        bastion = self._bastion()
        with self._guard:
            chosen, to_close = self._sweep(key, now, bastion)
            if chosen is not None:
                chosen.sessions += 1
                chosen.last_used = now
        for transport in to_close:
            transport.close()
        return chosen

    def _sweep(
        self, key: EndpointKey, now: float, bastion: Any
    ) -> tuple[VmConnection | None, list[paramiko.Transport]]:
        """Retire what may not be reused (and list the idle ones to close); pick one for ``key``."""
        chosen: VmConnection | None = None
        to_close: list[paramiko.Transport] = []
        for slot_key, slot in self._slots.items():
            other_pin = slot_key != key and slot_key.same_login(key)
            kept: list[VmConnection] = []
            for connection in slot.connections:
                if other_pin or not connection.reusable(now, bastion):
                    connection.retired = True
                    if connection.sessions == 0:
                        to_close.append(connection.transport)
                    continue
                kept.append(connection)
                free = connection.sessions < MAX_SESSIONS_PER_VM_CONNECTION
                if chosen is None and slot_key == key and free:
                    chosen = connection
            slot.connections = kept
        return chosen, to_close

    def lease(
        self, key: EndpointKey, vm_name: str, deadline: Deadline, connect: Connect, *, fresh_only: bool
    ) -> tuple[VmConnection, bool]:
        """A connection with a free session slot, and whether it was made for this run.

        Only connecting holds the VM's lock; waiting for it counts against this run's budget, and
        a connect that failed while we waited is this run's answer too (it would fail the same way).
        """
        with self._guard:
            slot = self._slots.setdefault(key, _VmSlot())
        waiting_since = self._clock()
        if not slot.connect_lock.acquire(timeout=deadline.remaining()):
            raise RunnerError(
                RunnerErrorCode.TIMEOUT,
                f"The connection to {vm_name} was still being established by another run when this run's "
                f"{deadline.seconds:g} s budget ran out.",
            )
        try:
            failure = slot.failure
            if failure is not None and failure[0] > waiting_since:
                raise RunnerError(failure[1].code, failure[1].message)
            reused = None if fresh_only else self.take_cached(key)
            if reused is not None:
                return reused, False
            return self._add(key, slot, connect), True
        finally:
            slot.connect_lock.release()

    def _add(self, key: EndpointKey, slot: _VmSlot, connect: Connect) -> VmConnection:
        """Connect (under the VM's lock), remember a failure for the runs waiting, pool the success."""
        try:
            transport, via = connect()
        except RunnerError as exc:
            slot.failure = (self._clock(), exc)
            raise
        slot.failure = None
        now = self._clock()
        connection = VmConnection(key, transport, via, created=now, last_used=now, sessions=1)
        with self._guard:
            # close() may have emptied the pool meanwhile: the connection then serves this run only.
            current = self._slots.get(key)
            if current is not None:
                current.connections.append(connection)
            else:
                connection.retired = True
        return connection

    def release(self, connection: VmConnection) -> None:
        """End a lease; a retired connection is closed once its last run is done."""
        with self._guard:
            connection.sessions -= 1
            connection.last_used = self._clock()
            close = connection.retired and connection.sessions == 0
        if close:
            connection.transport.close()

    def retire(self, connection: VmConnection) -> None:
        """Hand ``connection`` out no more (it failed); it closes when the runs on it are done."""
        with self._guard:
            connection.retired = True
            slot = self._slots.get(connection.key)
            if slot is not None and connection in slot.connections:
                slot.connections.remove(connection)

    def transports(self, key: EndpointKey) -> list[paramiko.Transport]:
        """The pooled VM Transports for ``key`` (pin included)."""
        with self._guard:
            slot = self._slots.get(key)
            return [c.transport for c in slot.connections] if slot else []

    def close(self) -> None:
        """Close every pooled connection now; runs still on one see it fail."""
        with self._guard:
            connections = [c for slot in self._slots.values() for c in slot.connections]
            self._slots.clear()
        for connection in connections:
            connection.retired = True
            connection.transport.close()
