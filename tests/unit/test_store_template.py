"""template.yaml: valid for cfn-lint, and its tables exactly what create_tables() makes locally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from sysvmdiag.topology.store import TABLE_ENV_VARS, TABLE_SPECS, TEMPLATE_LOGICAL_IDS

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    if not CFN_LINT.exists():
        pytest.fail(f"{CFN_LINT} is missing: install requirements-dev.txt (cfn-lint) into the venv")
    return subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=120)


def test_cfn_lint_finds_nothing() -> None:
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_does_catch_a_broken_table(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("BillingMode: PAY_PER_REQUEST", "BillingMode: FREE", 1))
    result = cfn_lint(broken)
    assert result.returncode != 0 and "FREE" in result.stdout


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def normalised(value: Any) -> Any:
    """Plain dicts/lists/strings (cfn-lint's YAML nodes compare fine, but diffs read better)."""
    if isinstance(value, dict):
        return {str(k): normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value if isinstance(value, bool) else str(value)


def by_name(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {item[key]: item for item in items}


@pytest.mark.parametrize("table", sorted(TABLE_SPECS))
def test_template_tables_match_create_tables(template: dict[str, Any], table: str) -> None:
    spec = TABLE_SPECS[table]
    resource = normalised(template["Resources"][TEMPLATE_LOGICAL_IDS[table]])
    assert resource["Type"] == "AWS::DynamoDB::Table"
    properties = resource["Properties"]
    assert properties["KeySchema"] == spec.key_schema()
    assert by_name(properties["AttributeDefinitions"], "AttributeName") == by_name(
        spec.attribute_definitions(), "AttributeName"
    )
    assert by_name(properties.get("GlobalSecondaryIndexes", []), "IndexName") == {
        index.name: index.definition() for index in spec.indexes
    }
    ttl = properties.get("TimeToLiveSpecification")
    if spec.ttl_attribute is None:
        assert ttl is None
    else:
        assert ttl == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_functions_get_every_table_name_from_the_template(template: dict[str, Any]) -> None:
    variables = normalised(template["Globals"]["Function"]["Environment"]["Variables"])
    for table, env_var in TABLE_ENV_VARS.items():
        assert variables[env_var] == {"Ref": TEMPLATE_LOGICAL_IDS[table]}
    assert normalised(template["Transform"]) == "AWS::Serverless-2016-10-31"
