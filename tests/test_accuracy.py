"""Zero-shot accuracy on the real photos of ../shared/data (the benchmark's floors)."""

from __future__ import annotations

import sys

from conftest import ROOT, SHARED_DATA, needs_shared_data

from animalsort.inference.options import ClassifyOptions

sys.path.insert(0, str(ROOT / "benchmarks"))
from accuracy import evaluate  # noqa: E402


@needs_shared_data()
def test_animals_dev_top1_and_people_dev() -> None:
    res = evaluate(SHARED_DATA, ClassifyOptions(precision="fp32"))
    assert res["animals_total"] == 118  # 120 photos less the 2 giraffes (no ImageNet class)
    assert res["animals_top1"] >= 0.69, res["per_group"]
    assert res["people_no_animal"] >= 6, res["people"]
