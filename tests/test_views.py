"""--view: how much of a frame the model looks at. The windows cover the frame; an animal at
the edge of a wide frame, or small in a corner, is found (with its box) where the centre crop
misses it; an empty frame stays empty; a resumed run keeps the view it started with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.inference.scoring import WHOLE_FRAME_ANIMAL, combine_views
from animalsort.sources.preprocess import Preprocessing, Preprocessor
from animalsort.sources.views import MAX_VIEWS, view_boxes
from animalsort.taxonomy import animal_labels


def boxes(w: int, h: int, mode: str) -> list[tuple[float, ...]]:
    return view_boxes(w, h, mode, Preprocessor(Preprocessing()).crop_box(w, h))


def covered(w: int, h: int, found: list[tuple[float, ...]]) -> float:
    """The share of the frame's pixels (on a coarse grid) inside at least one window."""
    pts = [(x + 0.5, y + 0.5) for x in range(0, w, 8) for y in range(0, h, 8)]
    inside = sum(any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in found) for x, y in pts)
    return inside / len(pts)


@pytest.mark.parametrize("size", [(1920, 1080), (1600, 1200), (1080, 1920), (1000, 1000), (6000, 1000)])
def test_windows_cover_the_frame_and_start_with_the_centre(size: tuple[int, int]) -> None:
    w, h = size
    centre = Preprocessor(Preprocessing()).crop_box(w, h)
    assert boxes(w, h, "centre") == [centre]
    frame, tiles = boxes(w, h, "frame"), boxes(w, h, "tiles")
    assert frame[0] == centre and tiles[: len(frame)] == frame
    assert len(frame) <= MAX_VIEWS["frame"] and len(tiles) <= MAX_VIEWS["tiles"]
    for b in tiles:
        assert 0 <= b[0] < b[2] <= w + 1e-6 and 0 <= b[1] < b[3] <= h + 1e-6
        assert b[2] - b[0] == pytest.approx(b[3] - b[1], rel=0.01)  # square windows, as the model's input
    if w != h and max(w, h) / min(w, h) < 5:  # the long axis is covered from end to end
        lo, hi = (0, 2) if w > h else (1, 3)
        assert min(b[lo] for b in frame) == 0 and max(b[hi] for b in frame) == pytest.approx(max(w, h))
    if max(w, h) / min(w, h) < 5:
        assert covered(w, h, tiles) == 1.0  # every pixel is in some tile
    if w == 1920:
        assert len(frame) == 3  # left, centre and right squares of a 16:9 frame
        assert min(b[2] - b[0] for b in tiles) == pytest.approx(h / 2)  # tiles: half the height


def test_combine_views_a_window_must_earn_its_animal() -> None:
    labels = animal_labels()
    noa, cat, insect = labels.no_animal, labels.labels.index("cat"), labels.labels.index("insect")

    def views(*rows: dict[int, float]) -> torch.Tensor:
        out = torch.zeros(len(rows), len(labels.labels))
        for i, r in enumerate(rows):
            for j, p in r.items():
                out[i, j] = p
        return out

    empty = {noa: 0.9, insect: 0.1}
    spot = views(empty, empty, {cat: 0.8, noa: 0.2}, empty, empty)
    vector, animal, chosen = combine_views(spot, labels, "tiles")
    assert animal and chosen == 2 and vector[cat] == pytest.approx(0.8)
    grass = views(*[{insect: 0.55, noa: 0.45}] * 5)  # a little insect everywhere: no window stands out
    assert combine_views(grass, labels, "tiles")[1:] == (False, None)
    whole = views({cat: WHOLE_FRAME_ANIMAL + 0.05, noa: 0.2}, *[{cat: 0.7, noa: 0.3}] * 4)
    assert combine_views(whole, labels, "tiles")[1:] == (True, 0)  # fills the frame: the centre says so
    single = views({cat: 0.6, noa: 0.4})
    assert combine_views(single, labels, "frame")[1:] == (True, 0)  # one window: today's rule
    assert combine_views(views(empty), labels, "frame")[1:] == (False, None)  # no animal, no box


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1920×1080 plain frame with a cat at its left edge, one with a small cat in its top
    right corner (6% of the frame), and the plain frame alone."""
    folder = tmp_path_factory.mktemp("trap")
    background = Image.new("RGB", (1920, 1080), (120, 140, 110))
    with Image.open(EXAMPLES / "cat.jpg") as im:
        cat = im.convert("RGB")
    big = cat.copy()
    big.thumbnail((620, 620))
    frame = background.copy()
    frame.paste(big, (0, 1080 - big.height))
    frame.save(folder / "left_cat.jpg", quality=92)
    small = cat.copy()
    small.thumbnail((420, 420))
    frame = background.copy()
    frame.paste(small, (1920 - small.width - 20, 30))
    frame.save(folder / "small_cat.jpg", quality=92)
    background.save(folder / "empty.jpg", quality=92)
    return folder


def classify(runner: CliRunner, folder: Path, out: Path, view: str, *extra: str) -> dict[str, dict[str, str]]:
    args = ["classify", str(folder), "-o", str(out), "--view", view, "--precision", "fp32", *extra]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return {r["path"]: r for r in read_csv_rows(out)}


def test_the_frame_finds_what_the_centre_crop_misses(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    centre = classify(runner, trap, tmp_path / "centre.csv", "centre")
    assert "box_x" not in centre["empty.jpg"]  # centre mode writes today's columns
    assert centre["left_cat.jpg"]["label"] != "cat" and centre["small_cat.jpg"]["label"] != "cat"
    frame = classify(runner, trap, tmp_path / "frame.csv", "frame")
    assert frame["left_cat.jpg"]["label"] == "cat"
    assert float(frame["left_cat.jpg"]["box_x"]) == 0.0  # the left window
    tiles = classify(runner, trap, tmp_path / "tiles.csv", "tiles")
    for name, (x, y) in {"left_cat.jpg": (0.0, 0.5), "small_cat.jpg": (0.7188, 0.0)}.items():
        row = tiles[name]
        assert row["label"] == "cat", (name, row)
        assert (float(row["box_x"]), float(row["box_y"])) == pytest.approx((x, y), abs=1e-3)
        assert float(row["box_w"]) == pytest.approx(540 / 1920, abs=1e-3)  # a tile, half the height
    for rows in (centre, frame, tiles):
        assert rows["empty.jpg"]["label"] == "no_animal"
    assert tiles["empty.jpg"]["box_x"] == ""  # no window showed an animal
    sidecar = (tmp_path / "tiles.csv.json").read_text()
    assert '"view": "tiles"' in sidecar and '"windows_per_file": 18.0' in sidecar


def test_resume_keeps_the_view_it_started_with(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    classify(runner, trap, out, "frame")
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "tiles"])
    assert result.exit_code == 2
    assert "classified with --view frame, this run has --view tiles" in result.stderr
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "centre"])
    assert result.exit_code == 2 and "--view frame" in result.stderr
    before = out.read_bytes()
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "frame"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == before  # everything was done: the same file


def test_gpu_decoding_needs_the_centre_view(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    result = runner.invoke(main, ["classify", str(trap), "-o", str(tmp_path / "o.csv"), "--decode", "gpu"])
    assert result.exit_code == 2 and "--decode gpu decodes the centre window only" in result.stderr


def test_finetune_trains_on_the_window_where_the_animal_is(tmp_path: Path) -> None:
    """finetune --view frame: each photo's features are of the window where the pretrained model
    sees the animal (the left window for a cat at the left edge, the right one for a dog at the
    right), as classify --view frame answers from; --view centre keeps the centre crop."""
    from animalsort.datasets.labelled import labelled_splits
    from animalsort.model.device import pick_device
    from animalsort.training import features
    from animalsort.training.base import load_base

    background = Image.new("RGB", (1920, 1080), (120, 140, 110))
    for label, photo, left in (("cats", "cat.jpg", True), ("dogs", "dog.jpg", False)):
        with Image.open(EXAMPLES / photo) as im:
            animal = im.convert("RGB")
        animal.thumbnail((620, 620))
        for i in range(2):
            frame = background.copy()
            x = 10 * i if left else 1920 - animal.width - 10 * i
            frame.paste(animal, (x, 1080 - animal.height - 40 * i))
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            frame.save(tmp_path / "data" / label / f"{i}.jpg", quality=92)
    splits = labelled_splits(tmp_path / "data", val_split=0.0)
    base = load_base(None, progress=False)
    common = dict(views=("orig",), device=pick_device("cpu"), precision="fp32", runtime="auto", batch_size=8)
    samples = splits.train + splits.val
    framed = features.extract(
        base, tmp_path / "data", samples, tmp_path / "f.pt", window_mode="frame", workers=0, progress=False, **common
    )
    for s in samples:
        box = framed.windows[s.path]
        assert box is not None and (box[0] == 0.0) == s.path.startswith("cats"), (s.path, box)
    centred = features.extract(base, tmp_path / "data", samples, tmp_path / "f.pt", workers=0, progress=False, **common)
    assert centred.windows == {} and centred.computed == len(samples)  # its own cache entries
    assert not torch.equal(framed.x, centred.x)
