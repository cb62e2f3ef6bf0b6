"""Zero-shot accuracy of the animal labels on real photos (issue #2).

Classifies ../shared/data/animals-dev and people-dev with animalsort's own pipeline and
prints per-group top-1 accuracy. A label counts for its group as in GROUP_LABELS; groups
with no ImageNet-1k member (giraffe) are excluded.

    python benchmarks/accuracy.py [--data ../shared/data] [--model lite0] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from animalsort.formats.predictions import read_predictions
from animalsort.inference.options import ClassifyOptions
from animalsort.inference.pipeline import classify_folder

#: animals-dev group → the labels that count as correct for it.
GROUP_LABELS: dict[str, set[str]] = {
    "amphibian": {"amphibian"},
    "antelope_deer": {"antelope"},
    "bear": {"bear"},
    "big_cat": {"lion", "tiger", "leopard", "cheetah", "jaguar", "big_cat"},
    "bird": {"bird"},
    "butterfly": {"butterfly"},
    "camel": {"camel"},
    "cat": {"cat"},
    "cattle": {"cow"},
    "chicken": {"chicken"},
    "crustacean": {"crustacean"},
    "dog": {"dog"},
    "elephant": {"elephant"},
    "fish": {"fish"},
    "fox": {"fox"},
    "horse": {"horse", "zebra"},  # the group holds donkeys and a zebra: equids
    "insect": {"insect"},
    "marine_mammal": {"marine_mammal"},
    "marsupial": {"marsupial"},
    "pig": {"pig"},
    "primate": {"primate"},
    "rabbit": {"rabbit"},
    "reptile": {"reptile"},
    "rodent": {"rodent"},
    "sheep_goat": {"sheep", "goat"},
    "squirrel": {"squirrel"},
}
EXCLUDED_GROUPS = {"giraffe": "no ImageNet-1k class"}


def evaluate(data: Path, options: ClassifyOptions) -> dict:
    manifest = {r["path"]: r["group"] for r in csv.DictReader(open(data / "animals-dev" / "manifest.csv"))}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "animals.csv"
        classify_folder(data / "animals-dev", out, options, progress=False)
        rows = list(read_predictions(out))
        people_out = Path(tmp) / "people.csv"
        classify_folder(data / "people-dev", people_out, options, progress=False)
        people = list(read_predictions(people_out))
    per_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    mistakes = []
    for r in rows:
        group = manifest.get(r["path"])
        if group is None or group in EXCLUDED_GROUPS:
            continue
        hit = r["label"] in GROUP_LABELS[group]
        per_group[group][0] += hit
        per_group[group][1] += 1
        if not hit:
            mistakes.append((r["path"], group, r["label"], r["confidence"]))
    correct = sum(c for c, _ in per_group.values())
    total = sum(n for _, n in per_group.values())
    no_animal = sum(r["label"] == "no_animal" for r in people)
    return {
        "model": options.model or "lite0",
        "view": options.view,
        "precision": options.precision,
        "animals_top1": correct / total,
        "animals_correct": correct,
        "animals_total": total,
        "per_group": {g: {"correct": c, "total": n} for g, (c, n) in sorted(per_group.items())},
        "people_no_animal": no_animal,
        "people_total": len(people),
        "people": {r["path"]: r["label"] for r in people},
        "mistakes": mistakes,
    }


def agreement(data: Path, precision: str, reference: str = "fp32", workers: int | None = None) -> dict:
    """Top-1 agreement between two precisions on animals-dev (fine ImageNet classes and labels)."""
    out: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in (reference, precision):
            for labels in ("imagenet", "animals"):
                path = Path(tmp) / f"{prec}-{labels}.csv"
                classify_folder(
                    data / "animals-dev",
                    path,
                    ClassifyOptions(precision=prec, labels=labels, workers=workers),
                    progress=False,
                )
                out[f"{prec}-{labels}"] = {r["path"]: r["label"] for r in read_predictions(path)}
    res = {}
    for labels in ("imagenet", "animals"):
        a, b = out[f"{reference}-{labels}"], out[f"{precision}-{labels}"]
        res[labels] = sum(a[k] == b[k] for k in a) / len(a)
    return {"precision": precision, "reference": reference, "images": len(a), "top1_agreement": res}


def runtime_agreement(data: Path, runtimes: tuple[str, str] = ("onnx", "torch")) -> dict:
    """Two runtimes on animals-dev: every row's label equal? the largest confidence difference?"""
    out: dict[str, list[dict[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes:
            path = Path(tmp) / f"{runtime}.csv"
            classify_folder(data / "animals-dev", path, ClassifyOptions(runtime=runtime), progress=False)
            out[runtime] = list(read_predictions(path))
    a, b = out[runtimes[0]], out[runtimes[1]]
    cols = [c for c in a[0] if c.startswith("confidence")]
    return {
        "runtimes": list(runtimes),
        "rows": len(a),
        "same_label_rows": sum(x["label"] == y["label"] for x, y in zip(a, b, strict=True)),
        "max_confidence_diff": max(abs(float(x[c]) - float(y[c])) for x, y in zip(a, b, strict=True) for c in cols),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--show-mistakes", action="store_true")
    ap.add_argument(
        "--agreement",
        metavar="PRECISION",
        default=None,
        help="instead: top-1 agreement of PRECISION (bf16, fp16) with fp32",
    )
    ap.add_argument("--runtime", default="auto", help="classify --runtime for the accuracy run")
    ap.add_argument("--view", default="frame", help="classify --view for the accuracy run (centre, frame, tiles)")
    ap.add_argument(
        "--compare-runtimes",
        action="store_true",
        help="instead: onnx vs torch on animals-dev (labels equal? largest confidence difference?)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = ap.parse_args()
    if not (args.data / "animals-dev").is_dir():
        print(f"no data at {args.data}; pass --data", file=sys.stderr)
        return 2
    if args.compare_runtimes:
        res = runtime_agreement(args.data)
        print(
            f"{' vs '.join(res['runtimes'])} on animals-dev: {res['same_label_rows']} of {res['rows']} rows with the "
            f"same label, largest confidence difference {res['max_confidence_diff']:.4f}"
        )
        if args.json:
            args.json.write_text(json.dumps(res, indent=2))
        return 0
    if args.agreement:
        res = agreement(args.data, args.agreement, workers=args.workers)
        for labels, value in res["top1_agreement"].items():
            print(
                f"{res['precision']} vs {res['reference']}, {labels} top-1 agreement: {value:.4f} "
                f"({res['images']} images)"
            )
        if args.json:
            args.json.write_text(json.dumps(res, indent=2))
        return 0
    opts = ClassifyOptions(
        model=args.model, precision=args.precision, runtime=args.runtime, workers=args.workers, view=args.view
    )
    res = evaluate(args.data, opts)
    print(f"{'group':<15} {'correct':>7} {'total':>5} {'top1':>6}")
    for g, d in res["per_group"].items():
        print(f"{g:<15} {d['correct']:>7} {d['total']:>5} {d['correct'] / d['total']:>6.2f}")
    print(
        f"{'ALL':<15} {res['animals_correct']:>7} {res['animals_total']:>5} {res['animals_top1']:>6.3f}"
        f"   (excluded: {', '.join(f'{k} ({v})' for k, v in EXCLUDED_GROUPS.items())})"
    )
    print(f"people-dev: {res['people_no_animal']} of {res['people_total']} no_animal")
    for path, label in res["people"].items():
        print(f"  {path}: {label}")
    if args.show_mistakes:
        for m in res["mistakes"]:
            print("  mistake:", *m)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
