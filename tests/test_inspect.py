"""inspect: every planted defect in a synthetic dataset is found, nothing else is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from PIL import Image

from animalsort.cli import main
from animalsort.datasets import inspection


def _photo(path: Path, seed: int, size: tuple[int, int] = (320, 240)) -> Path:
    """A distinct image: smooth random colour blobs (each has its own perceptual hash)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size[1] // 40, size[0] // 40, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
    return path


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """cat 7 + dog 9 + bird 2 images, with one of each defect the issue names."""
    root = tmp_path / "data"
    for i in range(6):
        _photo(root / "cat" / f"c{i}.jpg", seed=i)
    for i in range(6):
        _photo(root / "dog" / f"d{i}.jpg", seed=100 + i)
    shutil.copy(EXAMPLES / "cat.jpg", root / "cat" / "chelsea.jpg")  # a real photo too
    _photo(root / "bird" / "b0.jpg", seed=200)
    _photo(root / "bird" / "b1.jpg", seed=201)
    shutil.copy(root / "cat" / "c0.jpg", root / "cat" / "c0 copy.jpg")  # exact duplicate
    Image.open(EXAMPLES / "cat.jpg").resize((300, 200)).save(root / "cat" / "chelsea_small.jpg", quality=70)  # near
    shutil.copy(root / "dog" / "d0.jpg", root / "cat" / "looks_like_a_dog.jpg")  # across classes
    (root / "dog" / "broken.jpg").write_bytes((root / "dog" / "d1.jpg").read_bytes()[:600])  # corrupt
    Image.new("RGB", (10, 10), (120, 80, 40)).save(root / "dog" / "tiny.png")  # 10×10
    Image.new("RGB", (320, 240), (0, 0, 0)).save(root / "dog" / "black.jpg")  # black
    return root


def _kinds(result: inspection.Inspection) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for f in result.findings:
        out.setdefault(f.kind, []).append(sorted(f.paths) or [f.detail])
    return out


def test_inspect_finds_every_planted_defect(planted: Path) -> None:
    result = inspection.scan(planted, workers=0, progress=False)
    kinds = _kinds(result)
    assert result.classes == {"bird": 2, "cat": 10, "dog": 9}
    assert kinds["corrupt"] == [["dog/broken.jpg"]]
    assert kinds["duplicate"] == [["cat/c0 copy.jpg", "cat/c0.jpg"], ["cat/looks_like_a_dog.jpg", "dog/d0.jpg"]]
    assert kinds["near_duplicate"] == [["cat/chelsea.jpg", "cat/chelsea_small.jpg"]]
    assert kinds["label_conflict"] == [["cat/looks_like_a_dog.jpg", "dog/d0.jpg"]]
    assert kinds["tiny"] == [["dog/tiny.png"]]
    assert kinds["dark"] == [["dog/black.jpg"]]
    assert sorted(kinds["blank"]) == [["dog/black.jpg"], ["dog/tiny.png"]]  # both are one colour
    assert len(kinds["few_images"]) == 1 and "'bird' has 2 images" in kinds["few_images"][0][0]
    # and nothing that was not planted
    assert set(kinds) == {
        "corrupt",
        "duplicate",
        "near_duplicate",
        "label_conflict",
        "tiny",
        "dark",
        "blank",
        "few_images",
    }
    # the same with worker processes
    again = inspection.scan(planted, workers=2, progress=False)
    assert _kinds(again) == kinds


def test_inspect_cli_table_html_and_json(runner: CliRunner, planted: Path, tmp_path: Path) -> None:
    out, js = tmp_path / "check.html", tmp_path / "check.json"
    result = runner.invoke(main, ["inspect", str(planted), "--out", str(out), "--json", str(js), "-j", "0"])
    assert result.exit_code == 0, result.output
    table = dict(line.rsplit(None, 1) for line in result.stdout.splitlines()[5:22] if line.strip())
    assert table["corrupt files"] == "1" and table["label conflicts"] == "1" and table["tiny images"] == "1"
    assert table["exact duplicates"] == "2" and table["near duplicates"] == "1"
    assert "corrupt: truncated image" in result.stdout
    page = out.read_text()
    assert page.count("<img class='plot'") == 2 and "data:image/png;base64," in page
    assert "data-kind='label_conflict'" in page and "cat/looks_like_a_dog.jpg" in page
    record = json.loads(js.read_text())
    assert len(record["images"]) == 21 and {f["kind"] for f in record["findings"]} >= {"corrupt", "tiny"}
    strict = runner.invoke(main, ["inspect", str(planted), "--out", str(out), "--strict", "-j", "0"])
    assert strict.exit_code == 1


def test_split_leak_and_a_plain_folder(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg", seed=1)
    shutil.copy(tmp_path / "a.jpg", tmp_path / "b.jpg")
    result = inspection.scan(tmp_path, [("a.jpg", "x", "train"), ("b.jpg", "x", "val")], progress=False)
    assert [f.kind for f in result.findings] == ["split_leak", "few_images", "duplicate"]
    plain = inspection.scan(tmp_path, progress=False)  # no class folders: one unnamed class, no class findings
    assert plain.classes == {"": 2} and [f.kind for f in plain.findings] == ["duplicate"]


def test_near_pairs_groups_like_brute_force() -> None:
    rng = np.random.default_rng(0)
    n = 3000  # large enough for the banded search
    hashes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    hashes[::50] &= np.uint64(0xFFFF)  # crowded bands, as blank-ish photos make
    hashes[1000:1400] = hashes[999]  # 401 identical hashes: linked by a chain, not 80,000 pairs
    for k, (i, j) in enumerate([(3, 7), (100, 2000), (5, 2999), (400, 401)]):
        flips = rng.choice(64, size=k + 3, replace=False)  # 3..6 bits apart
        hashes[j] = hashes[i] ^ np.uint64(sum(1 << int(b) for b in flips))
    brute = inspection._pairs_within(hashes, np.arange(n), 6, block=100_000)  # several blocks
    fast = inspection.near_pairs(hashes, 6)
    assert len(fast) < 1000 and set(fast) <= brute
    groups = lambda pairs: sorted(map(sorted, inspection._groups(n, pairs)))  # noqa: E731
    assert groups(fast) == groups(brute)
    assert {(3, 7), (100, 2000), (5, 2999), (400, 401)} <= brute
    assert groups(inspection.near_pairs(hashes[:100], 6)) == groups(
        inspection._pairs_within(hashes[:100], np.arange(100), 6)
    )
    assert inspection.popcount(np.array([2**64 - 1, 0, 5], dtype=np.uint64)).tolist() == [64, 0, 2]


def test_empty_and_missing_folders(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = runner.invoke(main, ["inspect", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "Error: no image files" in res.output
    res = runner.invoke(main, ["inspect", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "Error:" in res.output and "Traceback" not in res.output


def test_inspect_and_report_never_import_torch(planted: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from animalsort.cli import main\n"
        f"try: main(['-q', 'inspect', {str(planted)!r}, '--out', {str(tmp_path / 'i.html')!r}, '-j', '0'])\n"
        "except SystemExit: pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "i.html").is_file()
