"""The README's code tables are the ones the code prints (one place defines the codes)."""

from __future__ import annotations

from pathlib import Path

from sysvmdiag.policy.reasons import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_reason_code_as_the_code_defines_it():
    assert markdown_table().strip() in README.read_text()


def test_readme_lists_every_error_code_as_the_catalogue_defines_it():
    from sysvmdiag.errors import markdown_table as error_table

    assert error_table().strip() in README.read_text()


def test_readme_lists_every_cause_code_as_the_verdict_table_defines_it():
    from sysvmdiag.verdicts import markdown_table as cause_table

    assert cause_table().strip() in README.read_text()


def test_readme_states_the_matrix_bound_the_code_enforces():
    from sysvmdiag.models import MAX_MATRIX_CELLS

    text = README.read_text()
    assert f"A matrix has at most {MAX_MATRIX_CELLS} cells" in text.replace("\n", " ")
    assert f"matrix](#reachability-matrices) has at most {MAX_MATRIX_CELLS} cells" in text.replace("\n", " ")
