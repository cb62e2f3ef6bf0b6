"""classify --detections (#37): MegaDetector's boxes in, each animal box classified from its
square crop, people and vehicles labelled by the detector, empty photos without a decode or a
model run; the rows, the sidecar, resume, the refusals; Classifier.predict(images, boxes=…)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_image
from PIL import Image

from animalsort.cli import main
from animalsort.errors import UsageError
from animalsort.formats.predictions import read_sidecar
from animalsort.sources.preprocess import Preprocessing, Preprocessor
from animalsort.sources.views import detection_square

CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}


def md(images: list[dict]) -> dict:
    return {
        "info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
        "detection_categories": CATEGORIES,
        "images": images,
    }


def box(category: str, conf: float, bbox: list[float]) -> dict:
    return {"category": category, "conf": conf, "bbox": bbox}


@pytest.fixture
def trap(tmp_path: Path) -> tuple[Path, Path]:
    """A folder and its MegaDetector JSON: two animals and a person; an empty photo whose bytes
    are not an image (so a decode would fail); a failure; a file the JSON lists that is not
    there; a photo the JSON does not list."""
    src = tmp_path / "trap"
    src.mkdir()
    make_image(src / "two.jpg", (64, 48), (200, 120, 40))
    (src / "empty.jpg").write_bytes(b"not a jpeg: never decoded")
    make_image(src / "failed.jpg", (64, 48), (10, 10, 10))
    make_image(src / "unlisted.jpg", (64, 48), (90, 90, 200))
    images = [
        {
            "file": "two.jpg",
            "detections": [
                box("1", 0.7, [0.5, 0.3, 0.3, 0.5]),
                box("2", 0.6, [0.8, 0.1, 0.1, 0.3]),
                box("1", 0.9, [0.0, 0.2, 0.4, 0.7]),
                box("1", 0.1, [0.1, 0.1, 0.1, 0.1]),
            ],
        },
        {"file": "empty.jpg", "detections": [box("1", 0.15, [0.1, 0.1, 0.2, 0.2])]},
        {"file": "failed.jpg", "failure": "Failure image access"},
        {"file": "gone.jpg", "detections": []},
    ]
    json_path = tmp_path / "md.json"
    json_path.write_text(json.dumps(md(images)))
    return src, json_path


def run(runner: CliRunner, *args: object):
    return runner.invoke(main, ["-q", "classify", *map(str, args)])


def rows_of(path: Path) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(open(path, newline="")):
        out.setdefault(row["path"], []).append(row)
    return out


def test_rows_files(runner: CliRunner, tmp_path: Path, trap: tuple[Path, Path], tiny_weights: Path) -> None:
    src, json_path = trap
    out = tmp_path / "out.csv"
    res = run(runner, src, "--detections", json_path, "--weights", tiny_weights, "--workers", 0, "-o", out)
    assert res.exit_code == 0, res.output
    rows = rows_of(out)
    assert list(rows) == ["empty.jpg", "failed.jpg", "two.jpg", "unlisted.jpg", "gone.jpg"]  # the left ones last
    two = rows["two.jpg"][0]
    found = json.loads(two["detections"])
    assert [(d["category"], d["conf"], d["bbox"]) for d in found] == [
        ("animal", 0.9, [0.0, 0.2, 0.4, 0.7]),
        ("animal", 0.7, [0.5, 0.3, 0.3, 0.5]),
        ("person", 0.6, [0.8, 0.1, 0.1, 0.3]),
    ]  # most confident first; the box below 0.2 left out
    assert found[2]["label"] == "person" and found[2]["confidence"] == 0.6
    assert {found[0]["label"], found[1]["label"]} <= {"alpha", "beta", "gamma"}
    surest = max(found[:2], key=lambda d: d["confidence"])  # the photo's answer: its surest animal
    assert two["count"] == "2" and (two["label"], float(two["confidence"])) == (surest["label"], surest["confidence"])
    assert [float(two[f"box_{c}"]) for c in "xywh"] == surest["bbox"]
    empty = rows["empty.jpg"][0]
    assert (empty["label"], empty["confidence"], empty["status"], empty["count"], empty["detections"]) == (
        "no_animal",
        "0.8500",
        "ok",
        "0",
        "[]",
    )
    assert rows["failed.jpg"][0]["error"] == "MegaDetector could not process it: Failure image access"
    assert rows["gone.jpg"][0]["error"] == f"listed in md.json but not found under {src}"
    assert rows["unlisted.jpg"][0]["status"] == "ok" and rows["unlisted.jpg"][0]["detections"] == ""
    counts = read_sidecar(out)["detections"]["counts"]
    assert {k: counts[k] for k in ("listed", "empty", "animals", "people", "failed", "not_listed", "missing")} == {
        "listed": 3,
        "empty": 1,
        "animals": 2,
        "people": 1,
        "failed": 1,
        "not_listed": 1,
        "missing": 1,
    }
    assert read_sidecar(out)["detections"]["sha256"] and read_sidecar(out)["options"]["rows"] == "files"


def test_rows_detections_and_resume(
    runner: CliRunner, tmp_path: Path, trap: tuple[Path, Path], tiny_weights: Path
) -> None:
    src, json_path = trap
    out = tmp_path / "out.csv"
    args = [
        src,
        "--detections",
        json_path,
        "--rows",
        "detections",
        "--weights",
        tiny_weights,
        "--workers",
        0,
        "-o",
        out,
    ]
    assert run(runner, *args).exit_code == 0
    rows = rows_of(out)
    assert [(r["detection"], r["detection_category"], r["label"] == "person") for r in rows["two.jpg"]] == [
        ("1", "animal", False),
        ("2", "animal", False),
        ("3", "person", True),
    ]
    assert [(r["detection"], r["label"]) for r in rows["empty.jpg"]] == [("0", "no_animal")]
    full = out.read_bytes()
    lines = full.decode().splitlines(keepends=True)
    out.write_text("".join(lines[:5]))  # cut inside two.jpg's rows: resume redoes that photo whole
    assert run(runner, *args, "--resume").exit_code == 0
    assert out.read_bytes() == full
    other = tmp_path / "other.json"
    other.write_text(json_path.read_text() + "\n")
    res = run(runner, *[other if a == json_path else a for a in args], "--resume")
    assert res.exit_code == 2 and f"cannot resume {out}: it was classified with --detections {json_path}" in res.output
    res = run(runner, src, "--weights", tiny_weights, "-o", out, "--resume")
    assert res.exit_code == 2 and "this run has none" in res.output


def test_no_model_run_without_an_animal_box(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty photos and person-only photos are answered from the JSON: the model never runs."""
    from animalsort.model.runner import LoadedModel

    def refuse(*_: object) -> None:
        raise AssertionError("the model ran")

    monkeypatch.setattr(LoadedModel, "infer", refuse)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        make_image(src / name, (40, 30), (1, 2, 3))
    json_path = tmp_path / "md.json"
    json_path.write_text(
        json.dumps(
            md(
                [
                    {"file": "a.jpg", "detections": []},
                    {"file": "b.jpg", "detections": [box("3", 0.8, [0.1, 0.1, 0.5, 0.5])]},
                ]
            )
        )
    )
    out = tmp_path / "out.csv"
    res = run(runner, src, "--detections", json_path, "--weights", tiny_weights, "--workers", 0, "-o", out)
    assert res.exit_code == 0, res.output
    assert [(r[0]["label"], r[0]["labels"]) for r in rows_of(out).values()] == [
        ("no_animal", ""),
        ("vehicle", "vehicle:1"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "detections"], "--rows does nothing without --detections FILE.json"),
        (["--detection-threshold", "0.5"], "--detection-threshold does nothing without --detections FILE.json"),
        (["--detections", "{json}", "{src}"], "give that folder as the only SRC"),
        (["--detections", "{bad}"], "is not MegaDetector batch output: no 'detection_categories'"),
        (["--detections", "{json}", "--view", "centre", "--decode", "gpu"], "drop --decode gpu"),
    ],
)
def test_refusals(
    runner: CliRunner, tmp_path: Path, trap: tuple[Path, Path], tiny_weights: Path, args: list[str], message: str
) -> None:
    src, json_path = trap
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    given = [a.format(json=json_path, src=src, bad=bad) for a in args]
    res = run(runner, src, *given, "--weights", tiny_weights, "-o", tmp_path / "x.csv")
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
    assert not (tmp_path / "x.csv").exists()


def test_without_detections_the_sidecar_has_no_detection_options(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_image(src / "a.jpg", (40, 30), (1, 2, 3))
    out = tmp_path / "out.csv"
    assert run(runner, src, "--weights", tiny_weights, "-o", out).exit_code == 0
    meta = read_sidecar(out)
    assert "detections" not in meta and not {"detections", "detection_threshold", "rows"} & set(meta["options"])
    assert "count" not in out.read_text().splitlines()[0].split(",")


def test_detection_square_is_megadetectors() -> None:
    """As ``save_crop(square_crop=True)``: the longer side, centred, moved inside the frame; past a
    narrower frame it reaches out equally on both sides."""
    assert detection_square((0.25, 0.25, 0.25, 0.5), 400, 200) == pytest.approx((0.25, 0.25, 0.25, 0.5))
    assert detection_square((0.0, 0.0, 0.1, 0.2), 100, 100) == pytest.approx((0.0, 0.0, 0.2, 0.2))  # moved in
    assert detection_square((0.9, 0.8, 0.1, 0.2), 100, 100) == pytest.approx((0.8, 0.8, 0.2, 0.2))
    assert detection_square((0.25, 0.0, 0.5, 1.0), 100, 200) == pytest.approx((-0.5, 0.0, 2.0, 1.0))  # tall in portrait


def test_square_crop_pixels_and_black_padding() -> None:
    pre = Preprocessor(Preprocessing(input_size=32, crop_pct=1.0))
    im = Image.new("RGB", (200, 100), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 100, 100))
    red = pre.square(im, detection_square((0.1, 0.2, 0.2, 0.5), 200, 100))
    assert red.shape == (32, 32, 3) and (red[..., 0] > 240).all() and (red[..., 2] < 15).all()
    tall = Image.new("RGB", (50, 100), (0, 255, 0))
    crop = pre.square(tall, detection_square((0.0, 0.0, 1.0, 1.0), 50, 100))
    assert (crop[:, :6] == 0).all() and (crop[:, -6:] == 0).all() and (crop[:, 10:22, 1] > 240).all()


def test_predict_with_boxes_matches_classify(
    runner: CliRunner, tmp_path: Path, trap: tuple[Path, Path], tiny_weights: Path
) -> None:
    import animalsort

    src, json_path = trap
    out = tmp_path / "out.csv"
    assert (
        run(runner, src, "--detections", json_path, "--weights", tiny_weights, "--workers", 0, "-o", out).exit_code == 0
    )
    clf = animalsort.Classifier(weights=tiny_weights)
    listed = json.loads(json_path.read_text())["images"][0]["detections"]
    df = clf.predict([str(src / "two.jpg"), np.zeros((30, 40, 3), dtype=np.uint8)], boxes=[listed, []])
    assert json.loads(df["detections"][0]) == json.loads(rows_of(out)["two.jpg"][0]["detections"])
    assert (df["label"][1], df["count"][1]) == ("no_animal", 0)
    with pytest.raises(UsageError, match="box 1 of image 0"):
        clf.predict([str(src / "two.jpg")], boxes=[[(0.5, 0.5, 0.9, 0.2)]])
    with pytest.raises(UsageError, match="boxes= has 1 lists for 2 images"):
        clf.predict([str(src / "two.jpg"), str(src / "two.jpg")], boxes=[[]])


def test_api_classify_with_detections(tmp_path: Path, trap: tuple[Path, Path], tiny_weights: Path) -> None:
    import animalsort

    src, json_path = trap
    df = animalsort.classify(src, out=tmp_path / "out.csv", weights=tiny_weights, workers=0, detections=str(json_path))
    assert list(df["path"]) == ["empty.jpg", "failed.jpg", "two.jpg", "unlisted.jpg", "gone.jpg"]
    assert df.set_index("path")["count"]["two.jpg"] == 2
    with pytest.raises(UsageError, match="detection threshold 1.5: give a confidence from 0 to 1"):
        animalsort.classify(src, weights=tiny_weights, detections=json_path, detection_threshold=1.5)


@pytest.mark.slow
def test_ray_engine_crops_as_the_local_engine(runner: CliRunner, tmp_path: Path, trap: tuple[Path, Path]) -> None:
    """The Ray engine's decode tasks crop the boxes the driver sends them: the local engine's CSV, byte for byte."""
    pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'animalsort[ray]')")
    src, json_path = trap
    local, ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    args = [src, "--detections", json_path, "--rows", "detections", "-b", "2"]
    assert run(runner, *args, "-o", local).exit_code == 0
    res = run(runner, *args, "-o", ray, "--engine", "ray")
    assert res.exit_code == 0, res.output
    assert ray.read_bytes() == local.read_bytes()


def test_a_clips_boxes_are_cropped_from_their_frames(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    """MegaDetector's video entries: each box at its frame (frame_number / frame_rate)."""
    from conftest import EXAMPLES, make_clip

    src = tmp_path / "src"
    make_clip(src / "clip.mp4", [(EXAMPLES / "cat.jpg", 2), (EXAMPLES / "dog.jpg", 2)])
    boxes = [
        dict(box("1", 0.9, [0.1, 0.1, 0.5, 0.6]), frame_number=5),
        dict(box("1", 0.8, [0.3, 0.2, 0.4, 0.5]), frame_number=25),
    ]
    json_path = tmp_path / "md.json"
    json_path.write_text(json.dumps(md([{"file": "clip.mp4", "frame_rate": 10, "detections": boxes}])))
    out = tmp_path / "out.csv"
    args = [src, "--videos", "--detections", json_path, "--weights", tiny_weights, "--workers", 0, "-o", out]
    res = run(runner, *args)
    assert res.exit_code == 0, res.output
    (row,) = rows_of(out)["clip.mp4"]
    found = json.loads(row["detections"])
    assert [(d["frame_s"], d["bbox"]) for d in found] == [(0.5, [0.1, 0.1, 0.5, 0.6]), (2.5, [0.3, 0.2, 0.4, 0.5])]
    assert row["status"] == "ok" and row["count"] == str(sum(d["label"] != "no_animal" for d in found))


def test_summary_names_the_recommended_threshold_and_left_out_categories(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_image(src / "a.jpg", (40, 30), (1, 2, 3))
    data = md(
        [{"file": "a.jpg", "detections": [box("4", 0.9, [0.1, 0.1, 0.2, 0.2]), box("2", 0.8, [0.5, 0.1, 0.2, 0.5])]}]
    )
    data["detection_categories"]["4"] = "bird"
    data["info"]["detector_metadata"] = {"typical_detection_threshold": 0.3}
    json_path = tmp_path / "md.json"
    json_path.write_text(json.dumps(data))
    res = runner.invoke(
        main,
        [
            "classify",
            str(src),
            "--detections",
            str(json_path),
            "--weights",
            str(tiny_weights),
            "-o",
            str(tmp_path / "o.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    said = "md.json (md_v5a.0.0.pt, threshold 0.2): 1 file listed, 0 without a box (the model did not run), "
    assert said + "0 animal boxes classified, 1 person box, 0 vehicle boxes" in res.output
    assert "note: md.json recommends --detection-threshold 0.3 for its detector; this run used 0.2" in res.output
    assert "note: detections of other categories were left out: bird (1)" in res.output
