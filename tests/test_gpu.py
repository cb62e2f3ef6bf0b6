"""CUDA paths: run where a GPU is present (the project's GPU checks), skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows

from animalsort.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cuda_classify_with_gpu_and_cpu_decoding_agree(tmp_path: Path) -> None:
    runner = CliRunner()
    labels = {}
    for decode in ("gpu", "cpu"):
        out = tmp_path / f"{decode}.csv"
        result = runner.invoke(
            main,
            [
                "classify",
                str(EXAMPLES),
                "-o",
                str(out),
                "--device",
                "cuda",
                "--decode",
                decode,
                "-b",
                "4",
                "--view",
                "centre",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "on cuda" in result.stderr
        labels[decode] = {r["path"]: r["label"] for r in read_csv_rows(out)}
    same = sum(labels["gpu"][k] == labels["cpu"][k] for k in labels["cpu"])
    assert same >= len(labels["cpu"]) - 1, labels


def test_cuda_precision_auto_is_half_precision() -> None:
    from animalsort.model.decision import decide
    from animalsort.model.device import this_machine

    assert decide("auto", "auto", "auto", this_machine()).precision in ("bf16", "fp16")


def test_cuda_whole_frame_look_agrees_with_the_cpu(tmp_path: Path) -> None:
    """--view frame on the GPU (torch, half precision): the same labels as the CPU's fp32 look,
    one photo of the examples aside at most, and boxes in the same places."""
    runner = CliRunner()
    rows = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"{device}.csv"
        args = ["classify", str(EXAMPLES), "-o", str(out), "--device", device, "--view", "frame", "-b", "4"]
        result = runner.invoke(main, args + (["--precision", "fp32"] if device == "cpu" else []))
        assert result.exit_code == 0, result.output
        rows[device] = {r["path"]: r for r in read_csv_rows(out)}
    same = [k for k in rows["cpu"] if rows["cuda"][k]["label"] == rows["cpu"][k]["label"]]
    assert len(same) >= len(rows["cpu"]) - 1
    for k in same:
        if rows["cpu"][k]["box_x"]:
            assert abs(float(rows["cuda"][k]["box_x"]) - float(rows["cpu"][k]["box_x"])) < 0.1, k
