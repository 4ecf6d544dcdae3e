"""The matrix as a grid (pure), and `sysvmdiag matrix` posting it, waiting (no sleeping) and printing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag.cli import build_parser
from sysvmdiag.cli import matrix as matrix_cli
from sysvmdiag.matrix_grid import PENDING_MARK, cell_mark, matrix_grid
from sysvmdiag.models import CellStatus, DiagnosticType, MatrixCell, MatrixView
from sysvmdiag.verdicts import Verdict

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
A, B = "198.51.100.80", "10.3.0.21"


def cell(test: str, destination: str, status: str, **fields: Any) -> MatrixCell:
    return MatrixCell(
        target="r-4-VM",
        destination=destination,
        test=DiagnosticType(test),
        status=CellStatus(status),
        **fields,
    )


def view(*cells: MatrixCell, tests: tuple[str, ...] = ("ping", "traceroute")) -> MatrixView:
    return MatrixView(
        id="m-1",
        account_id="acct-alice",
        created_at=AT,
        targets=["r-4-VM"],
        destinations=[A, B],
        tests=[DiagnosticType(t) for t in tests],
        complete=all(c.status.final for c in cells),
        cells=list(cells),
    )


@pytest.mark.parametrize(
    ("the_cell", "mark"),
    [
        (
            cell("ping", A, "succeeded", verdict=Verdict.REACHABLE, loss_percent=0.0, avg_rtt_ms=0.099),
            "ok 0% 0.1ms",
        ),
        (cell("ping", A, "failed", verdict=Verdict.UNREACHABLE, loss_percent=100.0), "unreach 100%"),
        (
            cell("ping", A, "succeeded", verdict=Verdict.PARTIAL, loss_percent=40.0, avg_rtt_ms=12.34),
            "partial 40% 12.3ms",
        ),
        (cell("traceroute", A, "succeeded", verdict=Verdict.REACHABLE, hops=3, reached=True), "ok 3 hops"),
        (cell("mtr", A, "failed", verdict=Verdict.UNDETERMINED, hops=30, reached=False), "? 30 hops"),
        (cell("pmtu", A, "succeeded", verdict=Verdict.REACHABLE, pmtu=1400), "ok pmtu 1400"),
        (
            cell("arping", A, "succeeded", verdict=Verdict.REACHABLE, mac="02:15:b4:d4:8a:8c"),
            "ok 02:15:b4:d4:8a:8c",
        ),
        (cell("ndisc", A, "failed", verdict=Verdict.UNREACHABLE), "unreach"),
        (cell("ping", B, "denied", code="DESTINATION_NOT_ALLOWED"), "denied"),
        (cell("ping", B, "refused", code="TOO_MANY_JOBS"), "refused"),
        (cell("ping", A, "failed", code="JOB_DEADLINE_EXCEEDED"), "failed"),
        (cell("ping", A, "queued"), PENDING_MARK),
        (cell("ping", A, "running"), PENDING_MARK),
    ],
)
def test_each_cell_has_a_short_mark(the_cell: MatrixCell, mark: str) -> None:
    assert cell_mark(the_cell) == mark


def test_the_grid_has_a_row_per_vm_and_test_and_a_column_per_destination() -> None:
    lines = matrix_grid(
        view(
            cell("ping", A, "succeeded", verdict=Verdict.REACHABLE, loss_percent=0.0, avg_rtt_ms=0.099),
            cell("ping", B, "denied", code="DESTINATION_NOT_ALLOWED", message="another tenant's address"),
            cell("traceroute", A, "running"),
            cell(
                "traceroute", B, "denied", code="DESTINATION_NOT_ALLOWED", message="another tenant's address"
            ),
        )
    )
    assert lines == [
        "matrix m-1: 3/4 cells final",
        "vm test            198.51.100.80  10.3.0.21",
        "r-4-VM ping        ok 0% 0.1ms    denied",
        f"r-4-VM traceroute  {PENDING_MARK}              denied",
        "denied: r-4-VM ping 10.3.0.21: DESTINATION_NOT_ALLOWED: another tenant's address",
        "denied: r-4-VM traceroute 10.3.0.21: DESTINATION_NOT_ALLOWED: another tenant's address",
    ]


def test_a_hostile_target_id_cannot_break_the_grid() -> None:
    hostile = cell("ping", A, "queued").model_copy(update={"target": "r-4-VM\n2026 admin ok"})
    grid = view(hostile, tests=("ping",)).model_copy(update={"targets": ["r-4-VM\n2026 admin ok"]})
    lines = matrix_grid(grid)
    assert all("\n" not in line for line in lines)
    assert lines[2].startswith("r-4-VM\\n2026 admin ok ping")


def matrix_json(*cells: MatrixCell) -> dict[str, Any]:
    return json.loads(view(*cells, tests=("ping",)).model_dump_json(by_alias=True))


RUNNING = matrix_json(cell("ping", A, "running"), cell("ping", B, "denied", code="DESTINATION_NOT_ALLOWED"))
DONE = matrix_json(
    cell("ping", A, "succeeded", verdict=Verdict.REACHABLE, loss_percent=0.0, avg_rtt_ms=0.1),
    cell("ping", B, "denied", code="DESTINATION_NOT_ALLOWED"),
)


def test_the_cli_posts_the_matrix_waits_and_prints_the_grid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str, dict | None]] = []
    answers = [RUNNING, RUNNING, DONE]

    def call_api(method: str, url: str, key: str, body: dict | None = None, timeout: float = 60.0) -> dict:
        calls.append((method, url, body))
        return answers.pop(0)

    slept: list[float] = []
    monkeypatch.setattr(matrix_cli, "resolve_endpoint", lambda *_: ("http://api.invalid", "key"))
    monkeypatch.setattr(matrix_cli, "call_api", call_api)
    monkeypatch.setattr(matrix_cli.time, "sleep", slept.append)
    argv = [
        "matrix",
        "--vm",
        "r-4-VM",
        "--dest",
        A,
        "--dest",
        B,
        "--test",
        "ping",
        "--params",
        "ping=-c 3",
        "--wait",
    ]
    args = build_parser("matrix").parse_args(argv)
    assert args.func(args) == 0
    assert calls[0] == (
        "POST",
        "http://api.invalid/matrices",
        {"targets": ["r-4-VM"], "destinations": [A, B], "tests": ["ping"], "params": {"ping": "-c 3"}},
    )
    assert [c[:2] for c in calls[1:]] == [("GET", "http://api.invalid/matrices/m-1")] * 2
    assert len(slept) == 2
    out, err = capsys.readouterr()
    assert "r-4-VM ping  ok 0% 0.1ms    denied" in out and "matrix m-1: complete" in out
    assert "matrix m-1: 1/2 cells final" in err


def test_the_wait_is_bounded() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(TimeoutError, match="not complete after 5 s"):
        matrix_cli.wait_for_matrix(
            lambda: RUNNING, RUNNING, 5.0, sleep=sleep, clock=lambda: now[0], progress=print
        )
    assert now[0] == 6.0  # three polls of 2 s, then past the bound


def test_params_must_name_a_test() -> None:
    with pytest.raises(SystemExit):
        matrix_cli.parse_params(["whois=-x"])
    assert matrix_cli.parse_params(["ping=-c 3", "mtr=-c 2"]) == {"ping": "-c 3", "mtr": "-c 2"}
