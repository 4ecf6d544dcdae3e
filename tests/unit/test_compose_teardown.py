"""The compose lab's teardown removes its networks even when dockerd keeps a stale endpoint on one
(a CI run once left ``svdc-net-control`` behind: "has active endpoints" past a 15 s wait)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from simvms import composelab, engine
from simvms.composelab import ComposeLab


class FakeEngine:
    """Docker's network commands over a table of networks and their endpoints; ``rm`` refuses a
    network that lists an endpoint, as dockerd does, and only a forced disconnect drops a stale one."""

    def __init__(self, networks: dict[str, list[str]]) -> None:
        self.networks = networks
        self.calls: list[tuple[str, ...]] = []

    def docker(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess:
        self.calls.append(args)
        out, code = "", 0
        if args[:2] == ("network", "ls"):
            out = "\n".join(self.networks)
        elif args[:2] == ("network", "inspect"):
            out, code = (" ".join(self.networks[args[-1]]), 0) if args[-1] in self.networks else ("", 1)
        elif args[:3] == ("network", "disconnect", "--force"):
            self.networks[args[3]].remove(args[4])
        elif args[:2] == ("network", "rm"):
            for name in args[2:]:
                if self.networks.get(name) == []:
                    del self.networks[name]
                else:
                    code = 1
        return subprocess.CompletedProcess(list(args), code, out, "")


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ComposeLab:
    monkeypatch.setattr(composelab.time, "sleep", lambda _seconds: None)
    return ComposeLab(state_dir=tmp_path)


def test_a_stale_endpoint_is_disconnected_and_every_network_removed(lab: ComposeLab, monkeypatch) -> None:
    ours = sorted(n.name for n in lab.plan.networks.values())
    fake = FakeEngine({**{name: [] for name in ours}, ours[0]: ["svdc-vr-stale"], "someone-elses": ["x"]})
    monkeypatch.setattr(engine, "docker", fake.docker)
    lab._remove_networks(within_seconds=5)
    assert fake.networks == {"someone-elses": ["x"]}  # ours gone, another's untouched
    assert ("network", "disconnect", "--force", ours[0], "svdc-vr-stale") in fake.calls


def test_networks_it_cannot_remove_are_named_with_their_endpoints(lab, monkeypatch, capsys) -> None:
    ours = sorted(n.name for n in lab.plan.networks.values())
    fake = FakeEngine({name: [] for name in ours})
    real_docker = fake.docker

    def refusing(*args: str, **kwargs) -> subprocess.CompletedProcess:
        if args[:3] == ("network", "disconnect", "--force"):  # an endpoint that will not go
            return subprocess.CompletedProcess(list(args), 1, "", "no")
        return real_docker(*args, **kwargs)

    fake.networks[ours[0]] = ["svdc-stuck"]
    monkeypatch.setattr(engine, "docker", refusing)
    lab._remove_networks(within_seconds=0.05)  # tried until then (sleeps are patched out)
    assert list(fake.networks) == [ours[0]]
    assert f"'{ours[0]}': ['svdc-stuck']" in capsys.readouterr().err
