"""Training on crops vs on whole frames, on the same split (#37, item 4's measure).

The whole-frame benchmark's frames (``frames.py``: animals-dev cut-outs pasted into empty scenes
at 3–40% of the frame) and its MegaDetector JSON (``detections.batch_output``: the true boxes
with a detector's errors). ``frames.half`` splits them by animal photo, so no animal is seen by
both halves:

- **DATA**: the *fit* half's single-animal frames as ``DATA/<group>/<frame>.jpg`` (hard links,
  or copies across file systems), the class the frame's animals-dev group, and ``DATA_md.json``:
  the benchmark JSON's entries for those frames, ``file`` rewritten relative to DATA. A class
  needs at least 2 frames, and at least 2 with an animal box at or above the threshold (else
  the crops run would train it on one example): both runs train the same classes.
- Two runs of ``finetune`` in head mode from the default base, the same seed and options:
  ``frames`` on the whole frames, ``crops`` with ``--detections DATA_md.json``.
- **TEST**: the *test* half's single-animal frames of the trained classes, classified with
  ``--detections`` (each animal box's square crop is what is classified) by both models, and
  with ``--view frame`` by the frames model (how a model trained on whole frames is used). A
  row is right when its label is the frame's group (a frame whose animal has no box at or
  above the threshold is ``no_animal``: wrong).

Accuracy is deterministic for a seed (no speed is reported: the machine may be shared).

    python benchmarks/finetune_crops.py [--frames DIR] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import detections  # noqa: E402
import frames  # noqa: E402

from animalsort.formats.predictions import read_predictions  # noqa: E402
from animalsort.inference.options import ClassifyOptions  # noqa: E402
from animalsort.inference.pipeline import classify_folder  # noqa: E402
from animalsort.training import FinetuneOptions, finetune_folder, run_on_crops  # noqa: E402

THRESHOLD = detections.THRESHOLD
FEATURES = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def single_animal(folder: Path, half: str) -> list[dict[str, str]]:
    """The half's frames of ``frames.csv`` with one animal (empty frames left out)."""
    rows = list(csv.DictReader(open(folder / "frames.csv")))
    animals = sorted({r["source"] for r in rows if r["group"]})
    return [r for r in rows if r["group"] and frames.half(r, animals) == half]


def boxed(entry: list[dict]) -> bool:
    """Whether a frame's detections hold an animal box at or above the threshold."""
    return any(d["category"] == "1" and d["conf"] >= THRESHOLD for d in entry)


def chosen_classes(fit: list[dict[str, str]], listed: dict[str, list[dict]]) -> list[str]:
    """The classes with at least 2 fit frames, at least 2 of them with an animal box."""
    frames_of = Counter(r["group"] for r in fit)
    with_box = Counter(r["group"] for r in fit if boxed(listed[r["path"]]))
    return sorted(g for g in frames_of if frames_of[g] >= 2 and with_box[g] >= 2)


def place(source: Path, target: Path) -> None:
    """A hard link (no copy, and no symlink for the JSON's paths to resolve outside DATA), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def subset(md: dict, files: dict[str, str]) -> dict:
    """``md`` with only the entries of ``files`` (benchmark path → path in the new folder)."""
    images = [{**im, "file": files[im["file"]]} for im in md["images"] if im["file"] in files]
    return {**md, "images": images}


def build_folders(folder: Path, md: dict, tmp: Path) -> dict:
    """DATA and TEST with their JSON; returns the classes and the frames each holds."""
    listed = {im["file"]: im["detections"] for im in md["images"]}
    fit, test = single_animal(folder, "fit"), single_animal(folder, "test")
    classes = chosen_classes(fit, listed)
    fit = [r for r in fit if r["group"] in classes]
    test = [r for r in test if r["group"] in classes]
    data_files = {r["path"]: f"{r['group']}/{Path(r['path']).name}" for r in fit}
    for r in fit:
        place(folder / r["path"], tmp / "DATA" / data_files[r["path"]])
    for r in test:
        place(folder / r["path"], tmp / "TEST" / r["path"])
    (tmp / "DATA_md.json").write_text(json.dumps(subset(md, data_files), indent=1))
    (tmp / "TEST_md.json").write_text(json.dumps(subset(md, {r["path"]: r["path"] for r in test}), indent=1))
    return {"classes": classes, "fit": fit, "test": test}


def train(tmp: Path, seed: int) -> dict:
    """The two runs, the same options; their validation accuracy and what they trained on."""
    options = FinetuneOptions(mode="head", seed=seed)
    frames_run = finetune_folder(tmp / "DATA", tmp / "run-frames", options, progress=False)
    crops_run = run_on_crops(tmp / "DATA", tmp / "DATA_md.json", THRESHOLD, tmp / "run-crops", options, progress=False)
    cropped = crops_run.cropped
    return {
        "base": options.model or "finetune's default",
        "frames": {
            "val_accuracy": frames_run.val_accuracy,
            "folds": frames_run.folds,
            "steps_chosen": frames_run.best_epoch,
            "classes": frames_run.classes,
        },
        "crops": {
            "val_accuracy": crops_run.val_accuracy,
            "folds": crops_run.folds,
            "steps_chosen": crops_run.best_epoch,
            "classes": crops_run.classes,
            "crops_per_class": dict(sorted(cropped.per_label.items())),
            "photos_without_box": cropped.without_box,
        },
    }


def evaluate(tmp: Path, test: list[dict[str, str]]) -> dict:
    """Accuracy overall and by animal size of each (model, how it is used) on TEST."""
    truth = {r["path"]: r for r in test}
    md, crops, whole = tmp / "TEST_md.json", tmp / "run-crops" / "model.pt", tmp / "run-frames" / "model.pt"
    ways = {
        "crops model, --detections": ClassifyOptions(detections=md, weights=crops),
        "frames model, --detections": ClassifyOptions(detections=md, weights=whole),
        "frames model, --view frame": ClassifyOptions(view="frame", weights=whole),
    }
    results = {}
    for i, (name, options) in enumerate(ways.items()):
        out = tmp / f"eval{i}.csv"
        classify_folder(tmp / "TEST", out, options, progress=False)
        hit: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for row in read_predictions(out):
            t = truth[row["path"]]
            for key in (f"size {int(t['size_pct']):>2}%", "all"):
                seen[key] += 1
                hit[key] += row["label"] == t["group"]
        results[name] = {k: {"share": hit[k] / seen[k], "of": seen[k]} for k in sorted(seen)}
    return results


def machine() -> dict:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    git = ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpu_features": [f for f in FEATURES if f in flags],
    }


def print_table(result: dict) -> None:
    ways = result["accuracy"]
    keys = [k for k in next(iter(ways.values())) if k.startswith("size")] + ["all"]
    print("\n| test half | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, s in ways.items():
        print(f"| {name} | " + " | ".join(f"{s[k]['share']:.2f}" for k in keys) + " |")
    first = next(iter(ways.values()))
    print("n: " + ", ".join(f"{k} {first[k]['of']}" for k in keys))
    frames_run, crops_run = result["runs"]["frames"], result["runs"]["crops"]
    print(
        f"validation accuracy (finetune's own, {frames_run['folds']}-fold / {crops_run['folds']}-fold): "
        f"frames {frames_run['val_accuracy']:.2f}, crops {crops_run['val_accuracy']:.2f}; "
        f"steps chosen: frames {frames_run['steps_chosen']}, crops {crops_run['steps_chosen']}"
    )
    fit, test = result["fit_per_class"], result["test_per_class"]
    print(f"classes ({len(result['classes'])}), frames per class fit/test:")
    print(", ".join(f"{g} {fit[g]}/{test.get(g, 0)}" for g in result["classes"]))
    print(f"crops per class: {crops_run['crops_per_class']}")
    print(f"fit frames without an animal box (not in the crops run): {crops_run['photos_without_box']}")
    print(f"machine: {result['machine']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    frames.add_arguments(ap)
    ap.add_argument("--json", type=Path, help="write the numbers here too")
    args = ap.parse_args()
    if not frames.ready(args, mixed=True):  # detections.subjects reads mixed.csv
        return 2
    md = detections.batch_output(args.frames, args.seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        chosen = build_folders(args.frames, md, tmp)
        print(f"DATA: {len(chosen['fit'])} fit frames, TEST: {len(chosen['test'])} test frames", flush=True)
        runs = train(tmp, args.seed)
        accuracy = evaluate(tmp, chosen["test"])
    result = {
        "split": "frames.half: fit half → DATA, test half → TEST (single-animal frames of the trained classes)",
        "threshold": THRESHOLD,
        "seed": args.seed,
        "classes": chosen["classes"],
        "fit_per_class": dict(Counter(r["group"] for r in chosen["fit"])),
        "test_per_class": dict(Counter(r["group"] for r in chosen["test"])),
        "runs": runs,
        "accuracy": accuracy,
        "machine": machine(),
    }
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
