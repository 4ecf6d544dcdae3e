"""The real plumbing's one non-trivial piece: waiting on a channel wakes on data, else times out."""

from __future__ import annotations

import socket

from sysvmdiag.runner.plumbing import Plumbing, wait_readable


def test_wait_readable_returns_when_data_is_there_or_the_time_is_up() -> None:
    ours, theirs = socket.socketpair()  # select() needs only a fileno, as paramiko's Channel offers
    with ours, theirs:
        wait_readable(ours, 0)  # type: ignore[arg-type]  # nothing there: returns after the timeout
        theirs.sendall(b"x")
        wait_readable(ours, 10)  # type: ignore[arg-type]  # returns at once: data is waiting
        assert ours.recv(1) == b"x"


def test_the_default_plumbing_is_the_real_world() -> None:
    plumbing = Plumbing()
    assert plumbing.wait_readable is wait_readable
    assert plumbing.clock() <= plumbing.clock()
