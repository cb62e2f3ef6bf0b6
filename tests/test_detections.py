"""MegaDetector batch output read in (#37): the files MegaDetector's own writer makes (relative,
absolute and backslashed paths, a failure, a video, every category), and every way a file can
be wrong — each a clear error for the whole file or an error row naming the image, never a
traceback, and never a path outside SRC."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_image

from animalsort.errors import InputError
from animalsort.formats.detections import DEFAULT_THRESHOLD, Detection, read_detections
from animalsort.formats.json_stream import JsonStream

# MegaDetector's own writer, in a process of its own: importing megadetector sets PIL's
# LOAD_TRUNCATED_IMAGES for the whole process (see test_export.md_validate). The package is
# installed without its dependencies; humanfriendly, which the batch runner imports for its
# progress messages only, is stood in for when it is missing.
WRITER = """
import importlib.util, json, sys, types
if importlib.util.find_spec("humanfriendly") is None:
    sys.modules["humanfriendly"] = types.ModuleType("humanfriendly")
from megadetector.detection.run_detector_batch import write_results_to_file
out, results, base, slashes = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None, sys.argv[4] == "1"
write_results_to_file(results, out, relative_path_base=base, detector_file="md_v5a.0.0.pt",
                      force_forward_slashes=slashes)
"""


def md_write(out: Path, results: list[dict], base: Path | None = None, forward_slashes: bool = True) -> Path:
    """``results`` written by MegaDetector's ``run_detector_batch.write_results_to_file``."""
    pytest.importorskip("megadetector", reason="make install-dev installs MegaDetector (its writer, its validator)")
    args = [
        sys.executable,
        "-c",
        WRITER,
        str(out),
        json.dumps(results),
        str(base or ""),
        "1" if forward_slashes else "0",
    ]
    subprocess.run(args, check=True, capture_output=True, text=True)
    return out


def md_validate(path: Path) -> list[str]:
    from tests.test_export import md_validate as validate

    return validate(path)["errors"]


def box(category: str, conf: float, bbox: list[float], **extra: object) -> dict:
    return {"category": category, "conf": conf, "bbox": bbox, **extra}


@pytest.fixture
def trap(tmp_path: Path) -> Path:
    src = tmp_path / "trap"
    for rel in ("site1/a.jpg", "site1/b.jpg", "site2/c.jpg", "site2/d.jpg", "e.jpg"):
        make_image(src / rel)
    return src


def test_reads_what_megadetectors_own_writer_writes(trap: Path, tmp_path: Path) -> None:
    results = [
        {  # two animals and a person, one animal below the threshold
            "file": str(trap / "site1/a.jpg"),
            "detections": [
                box("1", 0.55, [0.1, 0.1, 0.2, 0.3]),
                box("2", 0.93, [0.5, 0.2, 0.2, 0.6]),
                box("1", 0.81, [0.0, 0.5, 0.4, 0.5]),
                box("1", 0.12, [0.7, 0.7, 0.1, 0.1]),
            ],
        },
        {"file": str(trap / "site1/b.jpg"), "detections": [box("3", 0.19, [0.2, 0.2, 0.5, 0.5])]},  # below: empty
        {"file": str(trap / "site2/c.jpg"), "failure": "Failure image access"},
        {"file": str(trap / "site2/d.jpg"), "detections": [box("3", 0.2, [0.2, 0.2, 0.5, 0.5])]},  # at: kept
    ]
    md = md_write(tmp_path / "md.json", results, base=trap)
    assert md_validate(md) == []
    found = read_detections(md, trap)
    assert found.format_version == "1.6" and found.detector == "md_v5a.0.0.pt"
    assert found.threshold == DEFAULT_THRESHOLD == found.recommended_threshold == 0.2
    assert found.sha256 == hashlib.sha256(md.read_bytes()).hexdigest()
    a = found.take("site1/a.jpg")
    assert a is not None and a.problem == ""
    assert [(d.category, d.conf) for d in a.detections] == [("person", 0.93), ("animal", 0.81), ("animal", 0.55)]
    assert a.detections[1] == Detection("animal", 0.81, (0.0, 0.5, 0.4, 0.5))
    assert a.below == 0.12
    b = found.take("site1/b.jpg")
    assert b is not None and (b.detections, b.below, b.problem) == ((), 0.19, "")
    assert found.take("site2/c.jpg").problem == "MegaDetector could not process it: Failure image access"
    assert found.take("site2/d.jpg").detections[0].category == "vehicle"
    assert found.take("site1/a.jpg") is None  # taken once
    assert found.take("e.jpg") is None  # not in the JSON: classified as without detections
    assert found.left() == []
    record = found.record()
    assert record["sha256"] == found.sha256 and record["detector"] == "md_v5a.0.0.pt"
    assert (record["format_version"], record["threshold"]) == ("1.6", 0.2)
    assert record["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    assert record["info"]["detector_metadata"]["typical_detection_threshold"] == 0.2


def test_absolute_and_backslashed_paths_and_a_video(trap: Path, tmp_path: Path) -> None:
    results = [
        {"file": str(trap / "site1/a.jpg"), "detections": []},  # absolute, under SRC
        {"file": "site2\\c.jpg", "detections": [box("1", 0.9, [0.1, 0.1, 0.2, 0.2])]},  # Windows separators
        {
            "file": "clips/v.mp4",
            "frame_rate": 25.0,
            "frames_processed": [0, 25, 50],
            "detections": [box("1", 0.7, [0.1, 0.1, 0.2, 0.2], frame_number=50)],
        },
        {"file": "/elsewhere/x.jpg", "detections": []},  # absolute, outside SRC
    ]
    md = md_write(tmp_path / "md.json", results, forward_slashes=False)
    assert md_validate(md) == []
    found = read_detections(md, trap)
    assert set(found.entries) == {"site1/a.jpg", "site2/c.jpg", "clips/v.mp4"}
    video = found.take("clips/v.mp4")
    assert video.frame_rate == 25.0 and video.detections[0].frame_s == 2.0
    assert found.where(found.take("site1/a.jpg")) == str(trap / "site1/a.jpg")
    left = found.left()  # what no file took: the backslashed entry, and the one outside SRC
    assert [e.file for e in left] == ["/elsewhere/x.jpg", "site2\\c.jpg"]  # MegaDetector's writer sorts by name
    assert left[0].rel == "" and left[0].problem.startswith(
        f"an absolute path outside {trap}; MegaDetector writes paths relative to"
    )


def test_an_older_format_and_other_categories(trap: Path, tmp_path: Path) -> None:
    """Format 1.0 (MegaDetector's batch API, before info held more than its version) and a
    detector of its own categories: those are no detection, as the format says, and counted."""
    md = tmp_path / "v1.json"
    md.write_text(
        json.dumps(
            {
                "info": {"format_version": "1.0"},
                "detection_categories": {"1": "Animal", "2": "human", "4": "fish"},
                "images": [
                    {"file": "e.jpg", "max_detection_conf": 0.9, "detections": [box("4", 0.9, [0, 0, 1, 1])]},
                    {
                        "file": "site1/a.jpg",
                        "detections": [box("2", 0.6, [0, 0, 0.5, 0.5]), box("1", 0.5, [0.5, 0.5, 0.5, 0.5])],
                    },
                ],
            }
        )
    )
    found = read_detections(md, trap, threshold=0.3)
    assert found.take("e.jpg").detections == () and found.ignored == {"fish": 1}
    assert [d.category for d in found.take("site1/a.jpg").detections] == ["person", "animal"]
    assert found.detector == "unknown" and found.recommended_threshold is None


BAD_ENTRIES = [
    (box("1", 0.9, [0.8, 0.1, 0.5, 0.2]), "detection 2: bbox [0.8, 0.1, 0.5, 0.2] lies outside the frame"),
    (box("1", 0.9, [-0.1, 0.1, 0.5, 0.2]), "detection 2: bbox [-0.1, 0.1, 0.5, 0.2] lies outside the frame"),
    (box("1", 0.9, [0.1, 0.1, -0.2, 0.2]), "detection 2: bbox [0.1, 0.1, -0.2, 0.2] has a negative or zero size"),
    (box("1", 0.9, [0.1, 0.1, 0.2]), "detection 2: bbox [0.1, 0.1, 0.2] is not [x_min, y_min, width, height]"),
    (box("7", 0.9, [0.1, 0.1, 0.2, 0.2]), "detection 2: category '7' is not in the file's detection_categories"),
    (box("1", 1.5, [0.1, 0.1, 0.2, 0.2]), "detection 2: conf 1.5 is not a number from 0 to 1"),
    (box("1", "0.9", [0.1, 0.1, 0.2, 0.2]), "detection 2: conf '0.9' is not a number from 0 to 1"),
    (box(1, 0.9, [0.1, 0.1, 0.2, 0.2]), "detection 2: category 1 is not a string id"),
]


@pytest.mark.parametrize(("bad", "problem"), BAD_ENTRIES)
def test_a_bad_detection_makes_an_error_row_naming_the_file(trap: Path, tmp_path: Path, bad: dict, problem: str):
    md = tmp_path / "md.json"
    images = [
        {"file": "site1/a.jpg", "detections": [box("1", 0.9, [0.1, 0.1, 0.2, 0.2])]},
        {"file": "site1/b.jpg", "detections": [box("1", 0.95, [0.1, 0.1, 0.2, 0.2]), bad]},
    ]
    doc = {"images": images, "detection_categories": {"1": "animal"}, "info": {"format_version": "1.5"}}
    md.write_text(json.dumps(doc))
    found = read_detections(md, trap)
    assert found.take("site1/a.jpg").problem == ""  # the others are read as they are
    b = found.take("site1/b.jpg")
    assert b.problem.startswith(problem) and b.detections == ()


def test_entries_that_name_no_file_of_src_or_one_twice(trap: Path, tmp_path: Path) -> None:
    outside = make_image(tmp_path / "outside" / "victim.jpg")
    (trap / "link").symlink_to(outside.parent, target_is_directory=True)
    images = [
        {"file": "site1/a.jpg", "detections": []},
        {"file": "./site1//a.jpg", "detections": []},  # the same file, spelled otherwise
        {"file": "site1\\a.jpg", "detections": []},  # and again
        {"file": "../outside/victim.jpg", "detections": []},
        {"file": "link/victim.jpg", "detections": []},
        {"file": "site2/gone.jpg", "detections": []},
        {"file": "site2/c.jpg", "detections": None},  # neither detections nor a failure
    ]
    md = tmp_path / "md.json"
    md.write_text(json.dumps({"images": images, "detection_categories": {}, "info": {"format_version": "1.3"}}))
    found = read_detections(md, trap)
    assert found.entries["site1/a.jpg"].problem == (
        "listed twice in md.json (images[0] and images[1]): which entry is right is unknown; remove one"
    )
    left = {e.file: e for e in found.left()}
    assert left["../outside/victim.jpg"].problem.startswith("refused: a '..' segment")
    assert left["link/victim.jpg"].problem.startswith("refused: a symlinked folder that leads to")
    assert found.where(left["site2/gone.jpg"]) == str(trap / "site2/gone.jpg")  # missing: an error row (phase B)
    assert found.take("site2/c.jpg").problem == (
        "no 'detections' list and no 'failure' (an entry MegaDetector did not finish)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "path,label\n",
            "is not MegaDetector output: not valid JSON (the document is not a JSON object at character 0)",
        ),
        (
            '{"images": [{"file": "a.jpg" "detections": []}]}',
            "not valid JSON (Expecting ',' delimiter at character 29)",
        ),
        ("[]", "is not MegaDetector output: not valid JSON (the document is not a JSON object at character 0)"),
        (
            '{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}',
            "is not MegaDetector batch output: images[0] has no 'file' (a COCO file names images by 'file_name')",
        ),
        ('{"images": [], "detection_categories": {}}', "is not MegaDetector batch output: no 'info'"),
        ('{"images": [], "info": {}}', "is not MegaDetector batch output: no 'detection_categories'"),
        (
            '{"images": [], "detection_categories": {}, "info": {"format_version": "one"}}',
            "info.format_version 'one' is not a version number",
        ),
        (
            '{"images": [], "detection_categories": {}, "info": {"format_version": "2.0"}}',
            "MegaDetector format version 2.0 is not one animalsort reads (1.0 to 1.6, and later 1.x)",
        ),
        (
            '{"images": [], "detection_categories": {"1": 5}, "info": {"format_version": "1.5"}}',
            "its detection_categories is not a map of ids to names",
        ),
        (
            '{"images": {"a.jpg": []}, "detection_categories": {}, "info": {"format_version": "1.5"}}',
            "its 'images' is not a list",
        ),
        ('{"images": [{"file": "a.jpg", "detections": []}', "not valid JSON (expected ',' or ']' at character 47)"),
    ],
)
def test_a_file_that_is_not_megadetector_output_is_refused_whole(trap: Path, tmp_path: Path, text, message) -> None:
    md = tmp_path / "md.json"
    md.write_text(text)
    with pytest.raises(InputError) as err:
        read_detections(md, trap)
    assert message in str(err.value) and str(md) in str(err.value)


def test_threshold_and_missing_file(trap: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--detections .*nope.json: no such file"):
        read_detections(tmp_path / "nope.json", trap)
    md = tmp_path / "md.json"
    md.write_text(json.dumps({"images": [], "detection_categories": {}, "info": {"format_version": "1.5"}}))
    with pytest.raises(InputError, match=r"--detection-threshold 1.5: give a confidence from 0 to 1"):
        read_detections(md, trap, threshold=1.5)


def test_the_stream_reads_any_chunking_as_json_does() -> None:
    """Every chunk size, down to one byte: values cut anywhere (numbers, strings, escapes, UTF-8)."""
    doc = {
        "info": {"format_version": "1.5", "summary_report": 'é"\\' * 500},
        "images": [
            {"file": f"ü/{i}.jpg", "detections": [box("1", 0.123456789, [0.1, 1e-05, 0.3, 0.4])]} for i in range(40)
        ],
        "n": -12345.5e3,
        "t": [True, False, None],
    }
    data = json.dumps(doc, indent=1, ensure_ascii=False).encode()
    for chunk in (1, 2, 3, 5, 64, 4096):
        stream = JsonStream(io.BytesIO(data), chunk=chunk)
        got = {k: list(v) if k == "images" else v for k, v in stream.members("images")}
        assert got == doc, chunk
        assert stream.sha256 == hashlib.sha256(data).hexdigest()


def test_the_benchmarks_detections_are_a_detectors_errors(tmp_path: Path) -> None:
    """benchmarks/detections.py: every true box found (jittered by at most 10% of its size) or
    missed, false boxes only on the background, the same JSON for the same seed, and what
    MegaDetector's validator and our reader take."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import detections as bench

    (tmp_path / "frames.csv").write_text(
        "path,group,size_pct,where,aspect,megapixels,box,source\n"
        + "".join(f'animals/{i:04d}_fox.jpg,fox,10,centre,4:3,1.0,"0.2,0.3,0.25,0.3",x.jpg\n' for i in range(60))
        + "".join(f"empty/{i:02d}_0.jpg,,0,empty,4:3,1.0,,Dune.jpg\n" for i in range(40))
    )
    (tmp_path / "mixed.csv").write_text(
        "path,kind,groups,boxes,size_pct,aspect,megapixels,sources\n"
        'mixed/0000_person-animal.jpg,person-animal,fox;person,"0.0,0.0,0.3,0.3;0.6,0.6,0.3,0.3",10,4:3,1.0,a;b\n'
    )
    md = bench.batch_output(tmp_path, seed=3)
    assert md == bench.batch_output(tmp_path, seed=3) != bench.batch_output(tmp_path, seed=4)
    images = {im["file"]: im["detections"] for im in md["images"]}
    found = missed = false = 0
    for path, dets in images.items():
        for d in dets:
            x, y, w, h = d["bbox"]
            assert 0 <= x and 0 <= y and x + w <= 1.0001 and y + h <= 1.0001
            if path.startswith("animals/") and d["conf"] >= 0.5:
                found += 1
                assert abs(x - 0.2) <= 0.026 and abs(y - 0.3) <= 0.031 and abs(w - 0.25) <= 0.051
            elif d["conf"] < 0.5:
                false += 1
                assert 0.15 <= d["conf"] <= 0.4
        missed += path.startswith("animals/") and not any(d["conf"] >= 0.5 for d in dets)
    assert found + missed == 60 and 0 < missed < 10 and 5 < false < 40
    assert [d["category"] for d in images["mixed/0000_person-animal.jpg"] if d["conf"] >= 0.5] in (
        ["1", "2"],
        ["2", "1"],
    )
    assert len(bench.empty_heavy(tmp_path)) == 40 + 17  # 70% empty
    out = tmp_path / "md.json"
    out.write_text(json.dumps(md))
    read = read_detections(out, tmp_path)
    assert len(read.entries) == 101 and not any(e.problem for e in read.entries.values())
    if importlib.util.find_spec("megadetector") is not None:
        assert md_validate(out) == []
