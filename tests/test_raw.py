"""RAW photos: real DNGs (made here from the example photos: with and without an embedded
JPEG preview, stored turned) get the label their source JPEG gets, upright; proprietary RAW
extensions go to LibRaw; a RAW LibRaw cannot read is an error row that says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.sources.decode import open_rgb, oriented_size
from animalsort.sources.listing import Listing, is_image_name
from animalsort.sources.raw import RAW_EXTENSIONS, is_raw_name, open_raw

pytest.importorskip("tifffile", reason="tifffile (a dev extra) writes the test DNGs")
pytest.importorskip("imagecodecs", reason="imagecodecs (a dev extra) lets tifffile write the JPEG previews")
from rawfiles import make_dng  # noqa: E402

PHOTOS = ("cat.jpg", "dog.jpg", "eagle.jpg")
VARIANTS = {
    "preview": ("jpeg", False),
    "preview_turned": ("jpeg", True),
    "sensor": (None, False),
    "sensor_turned": (None, True),
}


@pytest.fixture(scope="module")
def dngs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    (folder / "jpeg").mkdir()
    for photo in PHOTOS:
        for variant, (preview, turned) in VARIANTS.items():
            make_dng(folder / "dng" / f"{Path(photo).stem}_{variant}.dng", EXAMPLES / photo, preview, turned)
        shutil.copy(EXAMPLES / photo, folder / "jpeg" / photo)
    return folder


def likeness(a: Image.Image, b: Image.Image) -> float:
    """Correlation of two images' grey levels at 64×64 (1.0: the same picture)."""
    x, y = (np.asarray(i.convert("L").resize((64, 64)), dtype=np.float64).ravel() for i in (a, b))
    return float(np.corrcoef(x, y)[0, 1])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_dng_opens_upright_from_its_preview_or_its_sensor_data(dngs: Path, variant: str) -> None:
    source = Image.open(EXAMPLES / "cat.jpg").convert("RGB")
    dng = dngs / "dng" / f"cat_{variant}.dng"
    im = open_rgb(dng, 224)
    assert im.mode == "RGB" and (im.width > im.height) == (source.width > source.height)  # upright
    assert oriented_size(dng)[0] > oriented_size(dng)[1]
    assert likeness(im, source) > 0.9
    assert likeness(im, source.transpose(Image.Transpose.ROTATE_180)) < 0.5  # not upside down either
    preview, _ = VARIANTS[variant]
    expected = source.size if preview else (source.width // 2, source.height // 2)  # half-size demosaic
    assert im.size == pytest.approx(expected, abs=1)


def test_a_preview_too_small_for_the_model_is_not_used(dngs: Path) -> None:
    dng = dngs / "dng" / "cat_preview.dng"
    assert open_raw(dng, None).size == (451, 300)  # the preview
    assert open_raw(dng, 400).size == (225, 150)  # smaller than asked: the sensor data, half size


def test_raw_photos_get_the_labels_of_their_jpegs(runner: CliRunner, dngs: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    args = ["classify", str(dngs / "jpeg"), str(dngs / "dng"), "-o", str(out), "--precision", "fp32"]
    result = runner.invoke(main, [*args, "--view", "centre"])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in read_csv_rows(out)}
    assert "12 found, 12 ok" not in result.stderr and "15 found, 15 ok, 0 failed" in result.stderr
    for photo in PHOTOS:
        expected = rows[f"jpeg/{photo}"]["label"]
        for variant in VARIANTS:
            row = rows[f"dng/{Path(photo).stem}_{variant}.dng"]
            assert row["status"] == "ok" and row["label"] == expected, (variant, row)


def test_bad_raw_files_are_error_rows_that_say_why(runner: CliRunner, dngs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.CR2").write_bytes(b"")
    (folder / "garbage.NEF").write_bytes(b"not a raw file at all " * 100)
    (folder / "jpeg_inside.ARW").write_bytes((EXAMPLES / "cat.jpg").read_bytes())
    whole = (dngs / "dng" / "dog_sensor.dng").read_bytes()
    (folder / "cut.dng").write_bytes(whole[: len(whole) // 3])
    shutil.copy(dngs / "dng" / "dog_sensor.dng", folder / "fine.DNG")
    out = tmp_path / "bad.csv"
    result = runner.invoke(main, ["classify", str(folder), "-o", str(out), "--view", "centre"])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in read_csv_rows(out)}
    assert rows["fine.DNG"]["status"] == "ok"
    assert rows["empty.CR2"]["error"] == "empty file (0 bytes)"
    for name in ("garbage.NEF", "jpeg_inside.ARW", "cut.dng"):
        assert rows[name]["status"] == "error" and rows[name]["error"].startswith("unreadable RAW: "), rows[name]
    assert "4 failed" in result.stderr


def test_raw_extensions_are_photos_for_libraw() -> None:
    for ext in (".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".dng", ".pef"):
        for name in (f"IMG_0001{ext}", f"IMG_0001{ext.upper()}"):
            assert is_raw_name(name) and is_image_name(name), name
    assert {".srw", ".x3f", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".mrw"} <= RAW_EXTENSIONS
    assert not is_raw_name("IMG_0001.jpg") and not is_raw_name("IMG_0001.xmp")


def test_a_folder_of_raw_files_is_classified_not_skipped(tmp_path: Path, dngs: Path) -> None:
    (tmp_path / "IMG_0001.NEF").write_bytes(b"x")
    shutil.copy(dngs / "dng" / "cat_preview.dng", tmp_path / "IMG_0002.dng")
    inv = Listing.of(tmp_path).inventory()
    assert inv.images == 2 and not inv.skipped


def test_bytes_in_memory_dispatch_by_their_name(dngs: Path) -> None:
    """A URI's fetched bytes carry the URI as their name (a remote .dng goes to LibRaw); bytes
    without a name (the GPU decoder's fallback) are sniffed by PIL as before."""
    import io

    remote = io.BytesIO((dngs / "dng" / "cat_preview.dng").read_bytes())
    remote.name = "s3://trap/cam1/IMG_0001.dng"
    assert open_rgb(remote, 224).size == (451, 300)
    assert open_rgb(io.BytesIO((EXAMPLES / "cat.jpg").read_bytes()), 224).size == (451, 300)
