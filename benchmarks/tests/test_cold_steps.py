"""The cold-steps experiment's arithmetic: medians per variant and each step's gain against "as is"."""

from __future__ import annotations

from benchmarks.experiments import cold_steps


def _run(total: float, init: float, invoke: float) -> dict:
    return {"sinceSpawnMs": total, "initMs": init, "invokeMs": invoke}


def test_each_variant_s_gain_is_its_median_minus_the_median_as_is() -> None:
    samples = {
        "as is": [_run(1000, 400, 550), _run(1100, 420, 600), _run(5000, 450, 4000)],
        "X-Ray SDK at Init (before step 1)": [
            _run(1090, 490, 560),
            _run(1200, 500, 650),
            _run(1150, 480, 600),
        ],
    }
    medians = cold_steps.summarise(samples)
    assert medians["as is"] == {"sinceSpawnMs": 1100, "initMs": 420, "invokeMs": 600, "gainMs": 0}
    assert medians["X-Ray SDK at Init (before step 1)"]["gainMs"] == 50


def test_every_step_of_issue_17_has_its_variant_and_one_puts_all_back() -> None:
    assert next(iter(cold_steps.VARIANTS)) == "as is"
    preludes = [prelude for prelude, _env in cold_steps.VARIANTS.values()]
    assert any("aws_xray_sdk" in p for p in preludes) and any("enable_swagger" in p for p in preludes)
    before = cold_steps.VARIANTS["before issue 17 (X-Ray and Swagger at Init)"]
    assert "aws_xray_sdk" in before[0] and "enable_swagger" in before[0]
    assert before[1] == cold_steps.VARIANTS["as is"][1] == {"BASTION_WARM_AT_INIT": "false"}
    assert cold_steps.VARIANTS["bastion connected at Init (step 3 on)"][1] == {"BASTION_WARM_AT_INIT": "true"}
