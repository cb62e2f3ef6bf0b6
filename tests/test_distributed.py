"""finetune --mode full under torchrun: 2 processes, gloo, synchronised, rank 0 writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import read_csv_rows
from test_finetune import COLOURS, tiny_dataset

from animalsort.cli import main


@pytest.mark.slow
def test_two_process_gloo_ddp_finetune_gives_a_model_classify_accepts(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data", per_class=4)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "animalsort",
        "-q",
        "finetune",
        str(data),
        "--mode",
        "full",
        "--epochs",
        "1",
        "-b",
        "4",
        "-j",
        "0",
        "--out",
        str(run_dir),
        "--device",
        "cpu",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "replicas diverged" not in r.stderr
    metrics = read_csv_rows(run_dir / "metrics.csv")
    assert [m["epoch"] for m in metrics] == ["1"]
    assert sorted(p.name for p in run_dir.iterdir() if p.suffix == ".tmp") == []
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(main, ["classify", str(data), "--weights", str(run_dir), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_csv_rows(out)
    assert len(rows) == 12 and {r["label"] for r in rows} <= set(COLOURS)
