"""finetune on the crops of MegaDetector boxes (#37 item 4): ``finetune DATA --detections
FILE.json`` and ``finetune --from`` a CSV classified with ``--detections``. The tiny random
model (``--weights``): the crops and the run folder are the subject, not accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from detection_csvs import write_detections_csv
from PIL import Image

from animalsort.cli import main
from animalsort.datasets.crops import MARKER
from animalsort.datasets.labelled import RUN_MARKER, labelled_splits
from animalsort.formats import corrections
from animalsort.hashes import sha256_file

MD_INFO = {"format_version": "1.4", "detector": "md_v5a.0.0.pt"}
CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}


def photo(path: Path, size: tuple[int, int], colour: tuple[int, int, int], seed: int = 0) -> Path:
    """A noisy background with a flat ``colour`` square in its top-left quarter (the animal)."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
    px[size[1] // 8 : size[1] // 8 + size[1] // 4, size[0] // 8 : size[0] // 8 + size[1] // 4] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(path, quality=98)
    return path


def md_json(path: Path, images: dict[str, list[dict]]) -> Path:
    data = {
        "info": MD_INFO,
        "detection_categories": CATEGORIES,
        "images": [{"file": f, "detections": d} for f, d in images.items()],
    }
    path.write_text(json.dumps(data))
    return path


def box(bbox: list[float], conf: float = 0.9, category: str = "1") -> dict:
    return {"category": category, "conf": conf, "bbox": bbox}


def dataset(root: Path, n: int = 4) -> tuple[Path, dict[str, list[dict]]]:
    """Two classes of ``n`` photos (the red and blue squares at an eighth of the frame, a box
    around each), a no_animal class, and the JSON's entries for them."""
    images: dict[str, list[dict]] = {}
    for cls, colour in (("red", (230, 20, 20)), ("blue", (20, 20, 230))):
        for i in range(n):
            rel = f"{cls}/{i}.jpg"
            photo(root / rel, (160, 120), colour, seed=i)
            images[rel] = [box([0.125, 0.125, 30 / 160, 30 / 120])]
    return root, images


def test_one_crop_per_box_its_pixels_and_the_run(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    data, images = dataset(tmp_path / "d")
    # a second animal, a person and a box below the threshold in red/0; red/1: no box at all
    images["red/0.jpg"] += [
        box([0.6, 0.5, 0.3, 0.5], 0.5),
        box([0.0, 0.0, 0.2, 0.9], 0.99, "2"),
        box([0.5, 0, 0.1, 0.1], 0.1),
    ]
    images["red/1.jpg"] = []
    photo(data / "no_animal" / "empty.jpg", (160, 120), (40, 40, 40))
    photo(data / "no_animal" / "false.jpg", (160, 120), (40, 40, 40))
    images["no_animal/empty.jpg"] = []
    images["no_animal/false.jpg"] = [box([0.4, 0.4, 0.2, 0.2], 0.3)]
    photo(data / "blue" / "unlisted.jpg", (160, 120), (20, 20, 230))
    md = md_json(tmp_path / "md.json", images)
    run = data / "runs" / "crops"  # inside DATA: a later `finetune DATA` must not train on it
    args = ["finetune", str(data), "--detections", str(md), "--weights", str(tiny_weights), "--out", str(run)]
    res = runner.invoke(main, [*args, "--epochs", "5", "--no-inspect", "--runtime", "torch"])
    assert res.exit_code == 0, res.output
    crops = run / "crops"
    made = sorted(p.relative_to(crops).as_posix() for p in crops.rglob("*") if p.is_file() and p.name != MARKER)
    assert made == sorted(
        [f"blue/{i}.jpg.box1.jpg" for i in range(4)]
        + ["red/0.jpg.box2.jpg", "red/0.jpg.box3.jpg"]  # numbered most confident first: the person (1) is none
        + [f"red/{i}.jpg.box1.jpg" for i in (2, 3)]
        + ["no_animal/empty.jpg", "no_animal/false.jpg.box1.jpg"]  # the empty photo whole, the false box cut
    )
    assert (crops / "no_animal" / "empty.jpg").resolve() == (data / "no_animal" / "empty.jpg").resolve()
    # the crop is the box's square at full resolution: 30 px square, the red square's pixels
    with Image.open(crops / "red/2.jpg.box1.jpg") as im, Image.open(data / "red/2.jpg") as whole:
        assert im.size == (30, 30) and im.format == "JPEG"
        region = np.asarray(whole.convert("RGB").crop((20, 15, 50, 45)), dtype=int)
        assert np.abs(np.asarray(im, dtype=int) - region).mean() < 4  # those pixels, once more through JPEG
        assert np.abs(np.asarray(im, dtype=int).mean((0, 1)) - (230, 20, 20)).max() < 50  # the red square
    with Image.open(crops / "red/0.jpg.box3.jpg") as im:  # 0.3×160 = 48 wide, 0.5×120 = 60 tall: a 60 px square
        assert im.size == (60, 60)
    assert "9 crops of animal boxes from 8 photos (blue 4, no_animal 2, red 4)" in res.stderr
    assert "1 photos without an animal box kept whole in no_animal" in res.stderr
    assert "1 photos without an animal box left out" in res.stderr
    assert "1 photos left out: no detections for them" in res.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["trained_on"] == "crops" and summary["classes"] == ["blue", "no_animal", "red"]
    assert summary["view"] == "whole"  # each crop seen whole, as classify --detections sees it
    record = summary["crops"]
    assert record["detections"] == str(md.absolute()) and record["sha256"] == sha256_file(md)
    assert record["threshold"] == 0.2 and record["boxes"] == 9 and record["photos"] == 8
    assert record["crops_per_class"] == {"blue": 4, "red": 4, "no_animal": 2}
    assert record["photos_without_box"] == 1 and record["empty_photos_kept_as_no_animal"] == 1
    assert (run / RUN_MARKER).exists()
    # the run folder inside DATA is never a class nor scanned again
    assert labelled_splits(data, 0.0).classes == ["blue", "no_animal", "red"]
    assert not any("runs" in s.path for s in labelled_splits(data, 0.0).train)
    # a second run replaces its own crops; a higher threshold keeps fewer boxes
    again = runner.invoke(main, [*args, "--detection-threshold", "0.6", "--epochs", "5", "--no-inspect"])
    assert again.exit_code == 0, again.output
    assert not (crops / "red" / "0.jpg.box3.jpg").exists() and (crops / "red" / "0.jpg.box2.jpg").is_file()
    assert json.loads((run / "summary.json").read_text())["crops"]["threshold"] == 0.6


def test_square_past_the_frame_is_black(tmp_path: Path) -> None:
    """A tall box in a landscape frame's corner: the square moves inside; a box taller than the
    frame is wide (portrait) reaches past both sides, black there, as MegaDetector pads."""
    from animalsort.datasets.crops import crop_folder

    data = tmp_path / "d"
    photo(data / "a" / "p.jpg", (40, 100), (230, 20, 20))  # portrait: 40 wide, 100 tall
    photo(data / "b" / "q.jpg", (40, 100), (20, 20, 230))
    md = md_json(tmp_path / "md.json", {"a/p.jpg": [box([0.25, 0.0, 0.5, 0.8])], "b/q.jpg": [box([0, 0, 1, 1])]})
    crop_folder(data, md, 0.2, tmp_path / "crops")
    with Image.open(tmp_path / "crops" / "a" / "p.jpg.box1.jpg") as im:
        px = np.asarray(im, dtype=int)
    assert im.size == (80, 80)  # 0.8 × 100: wider than the frame, 20 px past each side
    assert px[:, :15].max() < 20 and px[:, -15:].max() < 20  # black padding
    assert px[:, 25:55].mean() > 10


def test_refusals(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    data, images = dataset(tmp_path / "d", n=2)
    base = ["finetune", str(data), "--weights", str(tiny_weights), "--no-inspect"]
    other = md_json(tmp_path / "other.json", {"elsewhere/x.jpg": [box([0.1, 0.1, 0.2, 0.2])]})
    res = runner.invoke(main, [*base, "--detections", str(other), "--out", str(tmp_path / "r1")])
    assert res.exit_code == 2
    assert f"{other} names none of the 4 photos in {data} (its first entry: 'elsewhere/x.jpg')" in res.stderr
    outside = md_json(tmp_path / "out.json", {"../secret.jpg": [box([0.1, 0.1, 0.2, 0.2])]})
    photo(tmp_path / "secret.jpg", (50, 50), (1, 2, 3))
    res = runner.invoke(main, [*base, "--detections", str(outside), "--out", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "names none of the 4 photos" in res.stderr
    assert not list((tmp_path / "r2").rglob("*.box1.jpg"))
    # an entry outside DATA among good ones is refused by name, the rest trains
    images["../secret.jpg"] = [box([0.1, 0.1, 0.2, 0.2])]
    mixed = md_json(tmp_path / "mixed.json", images)
    res = runner.invoke(main, [*base, "--detections", str(mixed), "--out", str(tmp_path / "r3"), "--epochs", "3"])
    assert res.exit_code == 0, res.output
    assert "1 photos or JSON entries skipped:" in res.stderr and "../secret.jpg" in res.stderr
    assert not (tmp_path / "r3" / "crops" / "secret.jpg.box1.jpg").exists()
    bad = runner.invoke(main, [*base, "--detections", str(mixed), "--detection-threshold", "1.5"])
    assert bad.exit_code == 2 and "--detection-threshold" in bad.stderr
    alone = runner.invoke(main, [*base, "--detection-threshold", "0.5"])
    assert alone.exit_code == 2 and "--detection-threshold goes with --detections" in alone.stderr
    empty = md_json(tmp_path / "empty.json", dict.fromkeys(images, []))
    res = runner.invoke(main, [*base, "--detections", str(empty), "--out", str(tmp_path / "r4")])
    assert res.exit_code == 2 and "no animal box at or above 0.2" in res.stderr
    assert not (tmp_path / "r4" / "crops").exists()
    # a folder in the way that finetune did not make is never replaced
    (tmp_path / "r5" / "crops").mkdir(parents=True)
    (tmp_path / "r5" / "crops" / "mine.txt").write_text("keep")
    res = runner.invoke(main, [*base, "--detections", str(mixed), "--out", str(tmp_path / "r5")])
    assert res.exit_code == 1 and "was not made by finetune --detections" in res.stderr
    assert (tmp_path / "r5" / "crops" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("rows", ["files", "detections"])
def test_from_a_detections_csv(runner: CliRunner, tmp_path: Path, tiny_weights: Path, rows: str) -> None:
    """Each reviewed box (or, with --include-confident, confident one) is a crop of its label;
    person boxes are not examples; a photo corrected whole gives all its animal boxes its label."""
    src = tmp_path / "src"
    for i, name in enumerate(("fox_and_dog.jpg", "two_foxes.jpg", "walker.jpg", "empty.jpg", "false_box.jpg")):
        photo(src / name, (100, 100), (200, 100, 50), seed=i)
    preds = write_detections_csv(tmp_path / "p.csv", src, rows=rows)
    with corrections.Log(preds, detections=True) as log:
        log.append("walker.jpg", "dog", 2)  # the unsure dog beside the person, confirmed
        log.append("walker.jpg", "cat", 1)  # a box that is a person's: never an animal example
        log.append("false_box.jpg", "no_animal", 1)  # a false box
    args = ["finetune", "--from", str(preds), "--weights", str(tiny_weights), "--no-inspect", "--epochs", "3"]
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "r1")])
    assert res.exit_code == 0, res.output  # two classes, dog and no_animal: enough to train
    crops = tmp_path / "r1" / "crops"
    made = sorted(p.relative_to(crops).as_posix() for p in crops.rglob("*.jpg"))
    assert made == ["dog/walker.jpg.box2.jpg", "no_animal/false_box.jpg.box1.jpg"]
    with Image.open(crops / "dog" / "walker.jpg.box2.jpg") as im:
        assert im.size == (20, 20)  # bbox (0.5, 0.6, 0.2, 0.2) of a 100 px photo
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert summary["trained_on"] == "crops" and summary["crops"]["predictions"] == str(preds.absolute())
    assert summary["crops"]["sha256"] == sha256_file(preds) and summary["crops"]["threshold"] == 0.2
    # a whole-photo correction labels every animal box; confident boxes join with --include-confident
    with corrections.Log(preds, detections=True) as log:
        log.append("two_foxes.jpg", "fox")
    res = runner.invoke(main, [*args, "--include-confident", "0.8", "--out", str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    crops = tmp_path / "r2" / "crops"
    made = sorted(p.relative_to(crops).as_posix() for p in crops.rglob("*.jpg"))
    assert made == [
        "dog/walker.jpg.box2.jpg",
        "fox/fox_and_dog.jpg.box2.jpg",  # the fox at 0.90; the dog at 0.70 is under 0.8
        "fox/two_foxes.jpg.box1.jpg",
        "fox/two_foxes.jpg.box2.jpg",  # 0.60, but its photo was labelled fox whole
        "no_animal/false_box.jpg.box1.jpg",
    ]
    assert "5 crops of animal boxes from 4 photos (dog 1, fox 3, no_animal 1)" in res.stderr, res.stderr
    # --detections goes with DATA, not --from
    both = runner.invoke(main, [*args, "--detections", str(tmp_path / "md.json")])
    assert both.exit_code == 2 and "--detections goes with DATA" in both.stderr


def test_a_crop_is_trained_on_what_classify_detections_sees(tmp_path: Path) -> None:
    """Head mode's window for a crop is the whole square (``features.WHOLE``), resampled as
    ``classify --detections`` resamples a box's square — not the centre crop, which trims its edges."""
    from animalsort.sources.preprocess import Preprocessing, Preprocessor

    photo(tmp_path / "c.jpg", (90, 90), (200, 40, 40))
    with Image.open(tmp_path / "c.jpg") as im:
        im.paste((20, 20, 220), (0, 0, 90, 3))  # a blue band the centre crop cuts off (5.5 px of each edge)
        im.save(tmp_path / "c.jpg", quality=95)
    pre = Preprocessor(Preprocessing(input_size=64, crop_pct=0.875))
    trained = pre(tmp_path / "c.jpg", "orig", (0.0, 0.0, 1.0, 1.0))
    with Image.open(tmp_path / "c.jpg") as im:
        seen = pre.square(im.convert("RGB"), (0.0, 0.0, 1.0, 1.0))
    assert np.abs(trained.astype(int) - seen.astype(int)).max() <= 1
    assert trained[0, :, 2].mean() > 150  # the band is there
    assert pre(tmp_path / "c.jpg")[0, :, 2].mean() < 100  # the centre crop cut it off
