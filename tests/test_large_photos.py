"""A medium-format camera's 102 MP photo (11648 × 8736: Fujifilm GFX100, Hasselblad X2D) is a
photo, not a decompression bomb (#35): classify reads it, inspect measures it; the limit is
said in the error, and ``--max-megapixels`` (or ``$ANIMALSORT_MAX_MEGAPIXELS``) raises it in
every process that decodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.datasets import inspection
from animalsort.sources.decode import MAX_MEGAPIXELS_ENV


@pytest.fixture(scope="module")
def medium_format(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gfx")
    Image.new("RGB", (11648, 8736), (120, 90, 60)).save(folder / "DSCF0001.JPG", quality=70)
    return folder


def test_a_102_mp_photo_is_classified_and_inspected(
    runner: CliRunner, medium_format: Path, tmp_path: Path, tiny_weights: Path
) -> None:
    out = tmp_path / "p.csv"
    res = runner.invoke(
        main, ["classify", str(medium_format), "-o", str(out), "--weights", str(tiny_weights), "-j", "1"]
    )
    assert res.exit_code == 0, res.output
    assert [(r["path"], r["status"], r["error"]) for r in read_csv_rows(out)] == [("DSCF0001.JPG", "ok", "")]
    found = inspection.scan(medium_format, workers=0, progress=False)
    assert [(s.width, s.height, s.error) for s in found.images] == [(11648, 8736, "")]
    assert "huge" in {f.kind for f in found.findings} and "corrupt" not in {f.kind for f in found.findings}


def test_the_limit_is_said_and_can_be_raised(
    runner: CliRunner, medium_format: Path, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, "100")
    out = tmp_path / "p.csv"
    args = ["classify", str(medium_format), "-o", str(out), "--weights", str(tiny_weights), "-j", "1"]
    assert runner.invoke(main, args).exit_code == 0
    (row,) = read_csv_rows(out)
    assert row["status"] == "error"
    assert row["error"].startswith("too large to decode (101.8 MP): over the limit of 100 MP that guards against")
    assert f"raise it with {MAX_MEGAPIXELS_ENV}=N or `animalsort --max-megapixels N …`" in row["error"]
    found = inspection.scan(medium_format, workers=0, progress=False)
    assert [f.kind for f in found.findings] == ["too_large"]
    # the option wins over the environment, in the decode worker too
    res = runner.invoke(main, ["--max-megapixels", "110", *args])
    assert res.exit_code == 0, res.output
    assert read_csv_rows(out)[0]["status"] == "ok"
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, "lots")
    bad = runner.invoke(main, args)
    assert bad.exit_code == 2 and f"{MAX_MEGAPIXELS_ENV}='lots': give a number of megapixels" in bad.stderr
