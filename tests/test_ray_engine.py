"""classify --engine ray on a local 2-CPU Ray cluster: the local engine's CSV, byte for byte."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_clip

from animalsort.cli import main

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'animalsort[ray]')")


@pytest.mark.slow
def test_ray_engine_csv_equals_local_engine_and_resumes(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES, src / "photos")
    (src / "broken").mkdir()
    (src / "broken" / "zero.jpg").write_bytes(b"")
    (src / "broken" / "random.jpg").write_bytes(b"\x00\x01" * 700)
    cat = (EXAMPLES / "cat.jpg").read_bytes()
    (src / "broken" / "truncated.jpg").write_bytes(cat[: len(cat) // 2])
    # clips are decoded in Ray's tasks too (#17): one good, one corrupt
    make_clip(src / "clips" / "catdog.mp4", [(EXAMPLES / "cat.jpg", 2), (EXAMPLES / "dog.jpg", 2)])
    (src / "clips" / "corrupt.mp4").write_bytes(b"\x00" * 300)
    local, ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert runner.invoke(main, ["-q", "classify", str(src), "-o", str(local), "-b", "4"]).exit_code == 0
    result = runner.invoke(main, ["-q", "classify", str(src), "-o", str(ray), "-b", "4", "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert ray.read_bytes() == local.read_bytes()
    assert ray.read_bytes().count(b"\n") == 17  # header + 11 photos + 3 broken + 2 clips
    assert b"clips/catdog.mp4,cat," in ray.read_bytes() or b"clips/catdog.mp4,dog," in ray.read_bytes()
    # --resume on the Ray engine completes a cut CSV to the same bytes
    data = local.read_bytes()
    lines = data.split(b"\r\n")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"\r\n".join(lines[:7]) + b"\r\n" + lines[7][:9])
    result = runner.invoke(main, ["-q", "classify", str(src), "-o", str(cut), "-b", "4", "--engine", "ray", "--resume"])
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == data


def test_engine_ray_without_ray_says_what_to_install(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = runner.invoke(main, ["classify", str(EXAMPLES), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'animalsort[ray]'" in result.stderr
