"""`animalsort export`: MegaDetector batch JSON (checked by MegaDetector's own validator and the
format document's rules), Camtrap DP 1.0.2 (checked by ../shared/camtrap-dp/validate.py, the
official schemas through frictionless) and COCO Camera Traps, from a real folder: bursts, a clip,
a reviewed row, an error row, two deployments."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from animalsort.cli import main
from animalsort.formats import corrections
from tests.conftest import make_clip, make_image

VALIDATOR = Path(__file__).resolve().parents[2] / "shared" / "camtrap-dp" / "validate.py"
COLUMNS = ["path", "label", "confidence", "label_2", "confidence_2", "label_3", "confidence_3", "status", "error"]
COLUMNS += ["frame_s", "box_x", "box_y", "box_w", "box_h", "sequence", "sequence_label", "sequence_confidence"]


def photo(path: Path, stamp: str | None, offset: str | None = None, gps: tuple[float, float] | None = None, seed=0):
    make_image(path, size=(96, 72), seed=seed)
    im = Image.open(path)
    exif = Image.Exif()
    if stamp:
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = stamp
        if offset:
            ifd[0x9011] = offset
    if gps:
        g = exif.get_ifd(0x8825)
        lat, lon = gps
        g[1], g[2] = ("N" if lat >= 0 else "S"), (abs(lat), 0.0, 0.0)
        g[3], g[4] = ("E" if lon >= 0 else "W"), (abs(lon), 0.0, 0.0)
    im.save(path, exif=exif)
    return path


def ok(path, ranked, box=("", "", "", ""), seq=("", "", ""), frame_s=""):
    row = {"path": path, "status": "ok", "frame_s": frame_s}
    for k, (label, conf) in enumerate(ranked, start=1):
        row["label" if k == 1 else f"label_{k}"] = label
        row["confidence" if k == 1 else f"confidence_{k}"] = f"{conf:.4f}"
    row.update(zip(("box_x", "box_y", "box_w", "box_h"), box))
    row.update(zip(("sequence", "sequence_label", "sequence_confidence"), seq))
    return row


@pytest.fixture
def trap(tmp_path: Path) -> tuple[Path, Path]:
    """site1/camA: a burst of three (EXIF time with offset, GPS); site2/camB: two photos (camera
    local time, no GPS), a clip, a file that could not be read; a CSV with one reviewed row."""
    src = tmp_path / "trap"
    burst = ("site1/camA/s1", "fox", "0.8000")
    photo(src / "site1/camA/a1.jpg", "2024:05:06 07:08:09", "+02:00", (52.1, 4.5), 1)
    photo(src / "site1/camA/a2.jpg", "2024:05:06 07:08:10", "+02:00", (52.1, 4.5), 2)
    photo(src / "site1/camA/a3.jpg", "2024:05:06 07:08:12", "+02:00", (52.1, 4.5), 3)
    photo(src / "site2/camB/b1.jpg", "2024:06:01 12:00:00", None, None, 4)
    photo(src / "site2/camB/b2.jpg", "2024:06:01 12:30:00", None, None, 5)
    make_clip(src / "site2/camB/clip.mp4", [(Image.new("RGB", (64, 48), (90, 120, 30)), 1.0)], fps=10)
    make_clip(src / "site2/camB/clip2.mp4", [(Image.new("RGB", (64, 48), (30, 120, 90)), 1.0)], fps=10)
    (src / "site2/camB/bad.jpg").write_bytes(b"not a jpeg")
    rows = [
        ok(
            "site1/camA/a1.jpg", [("fox", 0.9), ("dog", 0.05), ("no_animal", 0.03)], ("0.1", "0.2", "0.5", "0.6"), burst
        ),
        ok("site1/camA/a2.jpg", [("fox", 0.7), ("no_animal", 0.2), ("dog", 0.05)], seq=burst),
        ok("site1/camA/a3.jpg", [("no_animal", 0.6), ("fox", 0.3), ("dog", 0.05)], seq=burst),
        ok("site2/camB/b1.jpg", [("no_animal", 0.95), ("cat", 0.02), ("dog", 0.01)]),
        ok("site2/camB/b2.jpg", [("cat", 0.3), ("no_animal", 0.28), ("dog", 0.2)]),  # uncertain, then reviewed
        ok("site2/camB/clip.mp4", [("bird", 0.8), ("no_animal", 0.1), ("fox", 0.05)], frame_s="0.50"),
        # a clip classified with --video-rows frames: a row per sampled frame
        ok("site2/camB/clip2.mp4#t=0.00", [("no_animal", 0.55), ("bird", 0.4), ("fox", 0.01)], frame_s="0.00"),
        ok("site2/camB/clip2.mp4#t=0.50", [("bird", 0.8), ("no_animal", 0.1), ("fox", 0.05)], frame_s="0.50"),
        {"path": "site2/camB/bad.jpg", "status": "error", "error": "cannot identify image file"},
    ]
    preds = tmp_path / "preds.csv"
    with open(preds, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    from animalsort.taxonomy import animal_labels

    meta = {"src": str(src), "model": "lite0", "weights_sha256": "ab" * 32, "label_names": list(animal_labels().labels)}
    meta["options"] = {"video_every": 0.5}
    (tmp_path / "preds.csv.json").write_text(json.dumps(meta))
    with corrections.Log(preds) as log:
        log.append("site2/camB/b2.jpg", "cat")  # a person confirms the cat
    return src, preds


def deployments_file(tmp_path: Path, lat2: str = "-1.5") -> Path:
    path = tmp_path / "deployments.csv"
    path.write_text(
        "deploymentID,latitude,longitude,folder,habitat,cameraModel\n"
        "A,52.1,4.5,site1/camA,forest,Reconyx\n"
        f"B,{lat2},36.8,site2/camB,savanna,Browning\n"
    )
    return path


def validate(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VALIDATOR), str(package / "datapackage.json")], capture_output=True, text=True
    )


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- Camtrap DP


@pytest.mark.skipif(not VALIDATOR.is_file(), reason="../shared/camtrap-dp is not beside the repository")
def test_camtrap_dp_package_is_valid_and_says_what_happened(runner, trap, tmp_path):
    pytest.importorskip("frictionless")
    src, preds = trap
    out = tmp_path / "package"
    args = ["export", str(preds), "-f", "camtrap-dp", "-o", str(out), "--project-title", "Test traps"]
    res = runner.invoke(main, [*args, "--deployment-depth", "2"])
    assert res.exit_code == 2
    assert "deployments without coordinates" in res.output and "site2/camB" in res.output
    res = runner.invoke(main, [*args, "--deployments", str(deployments_file(tmp_path))])
    assert res.exit_code == 2  # camB's camera wrote local time, the clip has no time: a zone is needed
    assert "site2/camB/b1.jpg (EXIF time without an offset)" in res.output
    assert not out.exists() and not list(tmp_path.glob(".package*"))  # nothing half-written

    res = runner.invoke(main, [*args, "--deployments", str(deployments_file(tmp_path)), "--timezone", "Africa/Nairobi"])
    assert res.exit_code == 0, res.output
    check = validate(out)
    assert check.returncode == 0 and check.stdout.strip() == "valid", check.stdout + check.stderr

    media = {m["filePath"]: m for m in read(out / "media.csv")}
    assert set(media) == {f"site1/camA/a{i}.jpg" for i in (1, 2, 3)} | {
        "site2/camB/b1.jpg",
        "site2/camB/b2.jpg",
        "site2/camB/clip.mp4",
        "site2/camB/clip2.mp4",
        "site2/camB/bad.jpg",
    }  # a clip's frame rows are folded into the clip
    assert media["site1/camA/a1.jpg"]["timestamp"] == "2024-05-06T07:08:09+02:00"
    assert media["site2/camB/b1.jpg"]["timestamp"] == "2024-06-01T12:00:00+03:00"  # Nairobi
    assert media["site2/camB/clip.mp4"]["fileMediatype"] == "video/mp4"
    obs = read(out / "observations.csv")
    by_media = {o["mediaID"]: o for o in obs if o["observationLevel"] == "media"}
    of = lambda p: by_media[media[p]["mediaID"]]  # noqa: E731
    assert of("site1/camA/a1.jpg")["observationType"] == "animal"
    assert of("site1/camA/a1.jpg")["scientificName"] == "Canidae"  # fox: Vulpes and Urocyon
    assert of("site1/camA/a1.jpg")["bboxWidth"] == "0.5000"
    assert of("site1/camA/a1.jpg")["classificationMethod"] == "machine"
    assert of("site1/camA/a3.jpg")["observationType"] == "blank"
    assert of("site2/camB/b1.jpg")["observationType"] == "blank"
    b2 = of("site2/camB/b2.jpg")
    assert (b2["observationType"], b2["scientificName"], b2["classificationMethod"]) == (
        "animal",
        "Felis catus",
        "human",
    )
    assert b2["classificationProbability"] == ""
    assert of("site2/camB/bad.jpg")["observationType"] == "unclassified"
    assert of("site2/camB/clip.mp4")["scientificName"] == "Aves"
    assert of("site2/camB/clip2.mp4")["scientificName"] == "Aves"  # a bird in one frame of two: a bird clip
    events = [o for o in obs if o["observationLevel"] == "event"]
    assert len(events) == 1 and events[0]["eventID"] == "site1/camA/s1"
    assert (events[0]["eventStart"], events[0]["eventEnd"]) == (
        "2024-05-06T07:08:09+02:00",
        "2024-05-06T07:08:12+02:00",
    )
    assert {
        o["eventID"] for o in obs if o["mediaID"] in {media[f"site1/camA/a{i}.jpg"]["mediaID"] for i in (1, 2, 3)}
    } == {"site1/camA/s1"}
    deps = {d["deploymentID"]: d for d in read(out / "deployments.csv")}
    assert deps["A"]["habitat"] == "forest" and deps["B"]["cameraModel"] == "Browning"
    assert deps["A"]["deploymentStart"] == "2024-05-06T07:08:09+02:00"
    package = json.loads((out / "datapackage.json").read_text())
    assert package["title"] == "Test traps"
    assert package["project"]["observationLevel"] == ["media", "event"]
    assert {t["scientificName"] for t in package["taxonomic"]} == {"Canidae", "Felis catus", "Aves"}
    assert package["spatial"]["type"] == "Polygon"
    assert package["temporal"]["start"] == "2024-05-06"

    broken = tmp_path / "broken"  # a copy broken on purpose: the validator must see it
    shutil.copytree(out, broken)
    text = (broken / "deployments.csv").read_text().replace(",52.100000,", ",152.100000,")
    (broken / "deployments.csv").write_text(text)
    check = validate(broken)
    assert check.returncode == 1 and "latitude" in check.stdout

    # again over the existing package: replaced whole
    res = runner.invoke(main, [*args, "--deployments", str(deployments_file(tmp_path)), "--timezone", "+03:00"])
    assert res.exit_code == 0, res.output
    assert validate(out).returncode == 0


def test_camtrap_dp_bad_deployments_and_labels(runner, trap, tmp_path):
    src, preds = trap
    out = tmp_path / "p"
    base = ["export", str(preds), "-f", "camtrap-dp", "-o", str(out), "--timezone", "UTC"]
    res = runner.invoke(main, [*base, "--deployments", str(deployments_file(tmp_path, lat2="-91"))])
    assert res.exit_code == 2 and "latitude -91.0 is out of range [-90, 90]" in res.output
    only_a = tmp_path / "a.csv"
    only_a.write_text("deploymentID,latitude,longitude,folder\nA,52.1,4.5,site1/camA\n")
    res = runner.invoke(main, [*base, "--deployments", str(only_a)])
    assert res.exit_code == 2 and "files without a deployment: site2/camB/b1.jpg" in res.output
    # a fine-tuned model's own label: refused without --taxa, taken with it
    with corrections.Log(preds) as log:
        log.append("site1/camA/a2.jpg", "red_fox_kit")
    res = runner.invoke(main, [*base, "--deployments", str(deployments_file(tmp_path))])
    assert res.exit_code == 2 and "no taxon for label(s) red_fox_kit (1 rows)" in res.output
    taxa = tmp_path / "taxa.csv"
    taxa.write_text("label,scientificName,taxonRank,family,genus\nred_fox_kit,Vulpes vulpes,species,Canidae,Vulpes\n")
    res = runner.invoke(main, [*base, "--deployments", str(deployments_file(tmp_path)), "--taxa", str(taxa)])
    assert res.exit_code == 0, res.output
    if VALIDATOR.is_file():
        pytest.importorskip("frictionless")
        assert validate(out).returncode == 0


def test_inputs_that_cannot_be_exported(runner, trap, tmp_path):
    src, preds = trap
    res = runner.invoke(main, ["export", "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "moved to `animalsort models export" in res.output
    sidecar = tmp_path / "preds.csv.json"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({"animalsort_version": "0.0.1", "src": meta["src"]}))
    res = runner.invoke(main, ["export", str(preds), "-f", "coco", "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 2 and "(from animalsort 0.0.1) lacks model, label_names" in res.output
    sidecar.unlink()
    res = runner.invoke(main, ["export", str(preds), "-f", "coco", "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 2 and "has no sidecar (preds.csv.json" in res.output
    assert not (tmp_path / "c.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.corrections.csv", "preds.csv", "trap"]


# --------------------------------------------------------------------------- MegaDetector


def test_megadetector_follows_the_format(runner, trap, tmp_path):
    src, preds = trap
    out = tmp_path / "md.json"
    res = runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    # the format document, rule by rule
    assert isinstance(d["info"]["format_version"], str) and float(d["info"]["format_version"]) >= 1.5
    assert d["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    cats = d["classification_categories"]
    assert all(k.isdigit() and isinstance(v, str) for k, v in cats.items())
    assert set(d["classification_category_descriptions"]) <= set(cats)
    assert d["classification_category_descriptions"][next(k for k, v in cats.items() if v == "cat")] == (
        "mammalia;carnivora;felidae;felis;catus;domestic cat"
    )
    images = {im["file"]: im for im in d["images"]}
    assert "site2/camB/clip2.mp4#t=0.50" not in images  # frame rows fold into the clip
    for im in d["images"]:
        if "failure" in im:
            assert isinstance(im["failure"], str) and im["detections"] is None
            continue
        for det in im["detections"]:
            assert det["category"] in d["detection_categories"]
            assert isinstance(det["conf"], float) and 0 <= det["conf"] <= 1
            assert len(det["bbox"]) == 4 and all(0 <= v <= 1 for v in det["bbox"])
            for cid, conf in det["classifications"]:
                assert cid in cats and isinstance(conf, float)
    a1 = images["site1/camA/a1.jpg"]["detections"][0]
    assert a1["bbox"] == [0.1, 0.2, 0.5, 0.6] and a1["conf"] == 0.97  # 1 - P(no_animal)
    assert [cats[c] for c, _ in a1["classifications"]] == ["fox", "dog"]
    assert images["site2/camB/b1.jpg"]["detections"] == []  # confidently empty
    assert images["site1/camA/a3.jpg"]["detections"] == []  # no_animal 0.6 ≥ --min-confidence 0.5
    b2 = images["site2/camB/b2.jpg"]["detections"][0]
    assert (cats[b2["classifications"][0][0]], b2["classifications"][0][1], b2["conf"]) == ("cat", 1.0, 1.0)  # reviewed
    assert images["site2/camB/bad.jpg"] == {
        "file": "site2/camB/bad.jpg",
        "failure": "cannot identify image file",
        "detections": None,
    }
    clip = images["site2/camB/clip.mp4"]
    assert clip["frame_rate"] == 10.0 and clip["detections"][0]["frame_number"] == 5
    assert clip["frames_processed"] == [0, 5]  # classify's sampling (--video-every 0.5) of the 1 s clip
    assert clip["detections"][0]["bbox"] == [0.0, 0.0, 1.0, 1.0]
    clip2 = images["site2/camB/clip2.mp4"]  # frame rows: one detection per frame with an animal, as MD writes videos
    assert clip2["frames_processed"] == [0, 5]
    assert [(det["frame_number"], det["conf"]) for det in clip2["detections"]] == [(5, 0.9)]  # frame 0: empty
    # not sure it is empty (below --min-confidence): a weak detection, for a threshold in Timelapse to decide
    runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out), "--min-confidence", "0.7"])
    a3 = next(im for im in json.loads(out.read_text())["images"] if im["file"] == "site1/camA/a3.jpg")
    assert a3["detections"][0]["conf"] == 0.4 and a3["detections"][0]["classifications"][0][1] == 0.3


def md_validate(path: Path) -> dict:
    """MegaDetector's own validator, in a process of its own: importing it sets PIL's
    LOAD_TRUNCATED_IMAGES for the whole process (megadetector.utils), which would change how
    every later test decodes a truncated photo."""
    code = (
        "import json, sys\n"
        "from megadetector.postprocessing.validate_batch_results import validate_batch_results\n"
        "r = validate_batch_results(sys.argv[1])['validation_results']\n"
        "print(json.dumps({'errors': r['errors'], 'warnings': r['warnings']}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_megadetector_passes_megadetectors_own_validator(runner, trap, tmp_path):
    import importlib.util

    if importlib.util.find_spec("megadetector") is None:
        pytest.skip("make install-dev installs MegaDetector's validator")
    src, preds = trap
    out = tmp_path / "md.json"
    assert runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out)]).exit_code == 0
    assert md_validate(out) == {"errors": [], "warnings": []}
    broken = json.loads(out.read_text())
    broken["images"][1]["detections"][0]["conf"] = "0.9"  # a string: the validator must refuse it
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert md_validate(tmp_path / "broken.json")["errors"]


# --------------------------------------------------------------------------- COCO Camera Traps


def test_coco_camera_traps(runner, trap, tmp_path):
    src, preds = trap
    out = tmp_path / "coco.json"
    res = runner.invoke(main, ["export", str(preds), "-f", "coco", "-o", str(out), "--deployment-depth", "2"])
    assert res.exit_code == 0, res.output
    assert "1 error rows left out" in res.output
    d = json.loads(out.read_text())
    images = {im["id"]: im for im in d["images"]}
    cats = {c["id"]: c["name"] for c in d["categories"]}
    assert len(set(images)) == len(d["images"]) == 7
    assert len(d["annotations"]) == len(d["images"])
    assert {a["image_id"] for a in d["annotations"]} == set(images)  # one annotation per image
    assert len({a["id"] for a in d["annotations"]}) == len(d["annotations"])
    label = {a["image_id"]: cats[a["category_id"]] for a in d["annotations"]}
    assert label["site1/camA/a1.jpg"] == "fox" and label["site2/camB/b1.jpg"] == "empty"
    assert label["site2/camB/b2.jpg"] == "cat"  # reviewed
    a2 = images["site1/camA/a2.jpg"]
    assert (a2["seq_id"], a2["seq_num_frames"], a2["frame_num"]) == ("site1/camA/s1", 3, 1)
    assert (a2["width"], a2["height"], a2["location"]) == (96, 72, "site1/camA")
    assert a2["datetime"] == "2024-05-06 07:08:10"


def test_python_api(trap, tmp_path):
    import animalsort

    src, preds = trap
    res = animalsort.export(preds, tmp_path / "md.json", "megadetector")
    assert res.written == 8 and res.frame_rows == 2


# --------------------------------------------------------------------------- --thresholds


def test_thresholds_per_label_in_every_format_and_recorded(runner, trap, tmp_path):
    """fox 0.8 and no_animal 0.9 (an audit's), bird not certified (--min-confidence): fox 0.7 and
    no_animal 0.6 become unknown, fox 0.9, no_animal 0.95, the burst's fox 0.8 and the reviewed
    cat still count; each output names the file and its sha256, and only with --thresholds."""
    from animalsort.hashes import sha256_file

    src, preds = trap
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"thresholds": {"fox": 0.8, "no_animal": 0.9, "bird": None}}))
    record = {"file": str(audit), "sha256": sha256_file(audit), "min_confidence": 0.5}
    record["thresholds"] = {"fox": 0.8, "no_animal": 0.9}
    deployments = ["--deployments", str(deployments_file(tmp_path)), "--timezone", "UTC"]
    for fmt, extra in (("megadetector", []), ("coco", []), ("camtrap-dp", deployments)):
        for given in ([], ["--thresholds", str(audit)]):
            out = tmp_path / f"{fmt}{len(given)}"
            res = runner.invoke(main, ["export", str(preds), "-f", fmt, "-o", str(out), *extra, *given])
            assert res.exit_code == 0, res.output
            said = "thresholds of 2 labels from audit.json; the others at --min-confidence 0.5" in res.stderr
            assert said == bool(given)

    md = {False: json.loads((tmp_path / "megadetector0").read_text())}
    md[True] = json.loads((tmp_path / "megadetector2").read_text())
    detections = {k: {im["file"]: im["detections"] for im in d["images"]} for k, d in md.items()}
    assert detections[False]["site1/camA/a3.jpg"] == []  # no_animal 0.6: empty at 0.5 …
    assert detections[True]["site1/camA/a3.jpg"][0]["conf"] == 0.4  # … a weak animal at no_animal's 0.9
    assert detections[True]["site2/camB/b1.jpg"] == []  # 0.95: empty either way
    assert md[True]["info"]["classifier_metadata"]["animalsort_thresholds"] == record
    assert "animalsort_thresholds" not in md[False]["info"]["classifier_metadata"]

    coco = {k: json.loads((tmp_path / f"coco{k}").read_text()) for k in (0, 2)}
    label = {}
    for k, d in coco.items():
        cats = {c["id"]: c["name"] for c in d["categories"]}
        label[k] = {a["image_id"]: cats[a["category_id"]] for a in d["annotations"]}
    assert (label[0]["site1/camA/a2.jpg"], label[2]["site1/camA/a2.jpg"]) == ("fox", "unknown")  # fox 0.7
    assert (label[0]["site1/camA/a3.jpg"], label[2]["site1/camA/a3.jpg"]) == ("empty", "unknown")
    assert label[2]["site1/camA/a1.jpg"] == "fox" and label[2]["site2/camB/b2.jpg"] == "cat"  # 0.9; reviewed
    assert coco[2]["info"]["thresholds"] == record and "thresholds" not in coco[0]["info"]

    for k in (0, 2):
        obs = read(tmp_path / f"camtrap-dp{k}" / "observations.csv")
        media = {m["mediaID"]: m["filePath"] for m in read(tmp_path / f"camtrap-dp{k}" / "media.csv")}
        kind = {media[o["mediaID"]]: o["observationType"] for o in obs if o["observationLevel"] == "media"}
        event = next(o for o in obs if o["observationLevel"] == "event")
        assert event["observationType"] == "animal"  # the burst's fox 0.8 reaches fox's 0.8
        package = json.loads((tmp_path / f"camtrap-dp{k}" / "datapackage.json").read_text())
        if k == 0:
            assert (kind["site1/camA/a2.jpg"], kind["site1/camA/a3.jpg"]) == ("animal", "blank")
            assert "thresholds" not in package["animalsort"]
        else:
            assert (kind["site1/camA/a2.jpg"], kind["site1/camA/a3.jpg"]) == ("unknown", "unknown")
            assert (kind["site1/camA/a1.jpg"], kind["site2/camB/b1.jpg"]) == ("animal", "blank")
            assert package["animalsort"]["thresholds"] == record
