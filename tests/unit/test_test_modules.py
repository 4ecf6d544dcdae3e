"""The suite's own layout: pytest imports test modules outside packages by their file name alone, so two
of them with one name stop a whole tier at collection (as CI run 5 of the 2026-12-01 series did)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_outside_packages_share_a_name() -> None:
    names = Counter(
        path.name for path in TESTS.rglob("test_*.py") if not (path.parent / "__init__.py").exists()
    )
    assert [name for name, count in names.items() if count > 1] == []
