"""A reachability matrix for people: one row per (VM, test), one column per destination, a short mark
per cell, and a line per cell that did not run saying why. Pure: formats a ``MatrixView``.

Every piece of text is made :func:`~sysvmdiag.summaries.printable` before its width is measured, so a
target id holding control characters can neither break the grid nor forge a line.
"""

from __future__ import annotations

from sysvmdiag.models import CellStatus, DiagnosticType, MatrixCell, MatrixView
from sysvmdiag.summaries import printable
from sysvmdiag.verdicts import Verdict

PENDING_MARK = "…"  # queued or running
_VERDICT_MARKS = {
    Verdict.REACHABLE: "ok",
    Verdict.PARTIAL: "partial",
    Verdict.UNREACHABLE: "unreach",
    Verdict.UNDETERMINED: "?",
}
_GAP = "  "


def cell_mark(cell: MatrixCell) -> str:
    """``ok 0% 0.1ms``, ``unreach 2 hops``, ``ok 02:15:b4:d4:8a:8c``, ``ok pmtu 1400``, ``denied``,
    ``refused``, ``failed``, or ``…`` while it waits or runs."""
    if not cell.status.final:
        return PENDING_MARK
    if cell.status in (CellStatus.DENIED, CellStatus.REFUSED) or cell.verdict is None:
        return cell.status.value
    numbers = _numbers(cell)
    return f"{_VERDICT_MARKS[cell.verdict]} {numbers}".strip()


def _numbers(cell: MatrixCell) -> str:
    if cell.test is DiagnosticType.PING:
        loss = f"{cell.loss_percent:g}%" if cell.loss_percent is not None else ""
        rtt = f"{cell.avg_rtt_ms:.1f}ms" if cell.avg_rtt_ms is not None else ""
        return f"{loss} {rtt}".strip()
    if cell.test is DiagnosticType.PMTU:
        return f"pmtu {cell.pmtu}" if cell.pmtu is not None else ""
    if cell.test in (DiagnosticType.ARPING, DiagnosticType.NDISC):
        return cell.mac or ""
    return f"{cell.hops} hops" if cell.hops is not None else ""


def matrix_grid(view: MatrixView) -> list[str]:
    """The grid's lines: a header, one row per (target, test), then why each cell that did not run."""
    columns = [printable(destination) for destination in view.destinations]
    cells = {(c.target, c.test, c.destination): c for c in view.cells}
    rows: list[list[str]] = []
    for target in view.targets:
        for test in view.tests:
            marks = [
                cell_mark(cells[(target, test, d)]) if (target, test, d) in cells else "-"
                for d in view.destinations
            ]
            rows.append([printable(f"{target} {test.value}"), *[printable(mark) for mark in marks]])
    header = ["vm test", *columns]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        _GAP.join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    done = sum(cell.status.final for cell in view.cells)
    state = "complete" if view.complete else f"{done}/{len(view.cells)} cells final"
    lines.insert(0, printable(f"matrix {view.id}: {state}"))
    lines.extend(_why_lines(view))
    return lines


def _why_lines(view: MatrixView) -> list[str]:
    """A line per denied, refused or failed cell with its code and sentence (the grid only says which)."""
    return [
        printable(
            f"{cell.status.value}: {cell.target} {cell.test.value} {cell.destination}: {cell.code}"
            + (f": {cell.message}" if cell.message else "")
        )
        for cell in view.cells
        if cell.code and cell.status in (CellStatus.DENIED, CellStatus.REFUSED, CellStatus.FAILED)
    ]
