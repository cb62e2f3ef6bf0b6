"""A labelled folder (one sub-folder per class) and its stratified train/validation split."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from animalsort.errors import InputError
from animalsort.sources.listing import check_source, discover

# --------------------------------------------------------------------------- labelled folders (finetune)


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the dataset root, "/"-separated
    label: int


@dataclass
class LabelledSplits:
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    presplit: bool


#: Put in every finetune run folder as it is made. ``finetune .`` writes ``runs/<name>/`` inside
#: DATA: a run folder (this marker, or the model.pt and summary.json of a run made before it)
#: is never a class nor scanned, so a second run does not train on the first one's plots.
RUN_MARKER = ".animalsort-run"


def mark_run_folder(run_dir: Path) -> None:
    (Path(run_dir) / RUN_MARKER).touch(exist_ok=True)


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    folder = Path(path)
    return (folder / RUN_MARKER).exists() or ((folder / "model.pt").is_file() and (folder / "summary.json").is_file())


def _holds_runs(folder: Path) -> bool:
    """A folder of run folders (``runs/``)."""
    try:
        return any(e.is_dir() and is_run_folder(e.path) for e in os.scandir(folder))
    except OSError:
        return False


def _class_folder(root: Path) -> tuple[list[str], list[Sample]]:
    names = sorted(
        e.name
        for e in os.scandir(root)
        if e.is_dir() and not e.name.startswith(".") and not is_run_folder(e.path)  # class links followed
    )
    classes: list[str] = []
    samples: list[Sample] = []
    for name in names:
        found = list(discover(root / name, skip_folder=is_run_folder))
        if not found and _holds_runs(root / name):
            continue  # runs/, holding nothing but run folders: not a class
        samples += [Sample(f"{name}/{rel}", len(classes)) for rel in found]
        classes.append(name)
    return classes, samples


def labelled_splits(root: Path, val_split: float = 0.2, seed: int = 0) -> LabelledSplits:
    """An ImageFolder (``ROOT/<class>/**/*.jpg``) split per class, seeded; or a pre-split one
    (``ROOT/train``, ``ROOT/val``, optional ``ROOT/test``, each with the same class folders)."""
    root = check_source(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes, train = _class_folder(root / "train")
        parts = {}
        for part in ("val", "test"):
            if (root / part).is_dir():
                part_classes, samples = _class_folder(root / part)
                index = {c: i for i, c in enumerate(classes)}
                unknown = set(part_classes) - set(classes)
                if unknown:
                    raise InputError(
                        f"{root / part} has classes that train/ lacks: {', '.join(sorted(unknown))}; "
                        "use the same class folders in train/, val/ and test/"
                    )
                parts[part] = [Sample(f"{part}/{s.path}", index[part_classes[s.label]]) for s in samples]
        train = [Sample(f"train/{s.path}", s.label) for s in train]
        return LabelledSplits(classes, train, parts.get("val", []), parts.get("test", []), presplit=True)
    classes, samples = _class_folder(root)
    by_class: dict[int, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda s: s.path)
        rng.shuffle(items)
        n_val = min(len(items) - 1, max(1, round(len(items) * val_split))) if len(items) > 1 and val_split > 0 else 0
        val += items[:n_val]
        train += items[n_val:]
    return LabelledSplits(
        classes, sorted(train, key=lambda s: s.path), sorted(val, key=lambda s: s.path), [], presplit=False
    )
