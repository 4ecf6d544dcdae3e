"""The library stays readable: no class over 250 lines, no function over 60 (issue 11's yardstick)."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "layers" / "common" / "sysvmdiag"
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60


def _definitions() -> list[tuple[str, str, int, int]]:
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                lines = node.end_lineno - node.lineno + 1 if node.end_lineno else 0
                found.append((str(path.relative_to(LIBRARY)), node.name, lines, limit))
    return found


def test_the_yardstick_sees_the_library() -> None:
    assert len(_definitions()) > 300


def test_no_class_or_function_is_too_long() -> None:
    too_long = [
        f"{path}: {name} is {lines} lines, over {limit}"
        for path, name, lines, limit in _definitions()
        if lines > limit
    ]
    assert too_long == []
