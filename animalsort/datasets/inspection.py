"""``animalsort inspect``: check a labelled dataset before training on it.

Per image (in worker processes): file size, sha256, pixel size, brightness and contrast,
and a 64-bit difference hash (dHash: a 9×8 greyscale thumbnail, one bit per horizontal
gradient sign — stable under resizing, recompression and small brightness changes). Then:

- images per class; classes with too few images; imbalance between classes;
- corrupt files (the reason, as classify reports it), and files over the decode limit;
- tiny, huge and odd-aspect images; too dark, too bright and blank (uniform) images, and
  brightness outliers relative to the dataset (robust z-score);
- exact duplicates (same bytes) and near duplicates (dHash within ``near`` bits and a
  similar mean colour: dHash alone sees only grey, so a red and a blue copy of one
  gradient would match), grouped;
  a group that spans classes is a label conflict, one that spans train and val a leak.

The result is data (``Inspection``); ``write_html`` renders it with plots. No torch: a check
of a big dataset starts at once (a test asserts it).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsort.errors import NoImagesError

TINY_SIDE = 64  # px: smaller than this (either side) is "tiny" — a model input is 224
HUGE_PIXELS = 50_000_000  # above this is "huge" (slow to decode, often a scan or panorama)
ODD_ASPECT = 3.0  # longer / shorter side above this is "odd aspect": the centre crop loses most of it
DARK, BRIGHT = 16.0, 240.0  # mean luminance (0–255) outside these is "too dark" / "too bright"
BLANK_STD = 3.0  # luminance standard deviation below this is "blank" (one colour)
OUTLIER_Z = 4.0  # robust z-score of brightness above this is a "brightness outlier"
MIN_BRIGHTNESS_MAD = 8.0  # the spread assumed at least (0–255 scale) for that z-score
NEAR_BITS = 6  # dHash Hamming distance at or below this is a near duplicate…
NEAR_COLOUR = 20.0  # …if the mean colours also differ by at most this (0–255, any channel)
MIN_IMAGES = 5  # fewer images in a class is flagged
IMBALANCE = 5.0  # largest / smallest class above this is flagged (inspect and finetune alike)


@dataclass
class ImageStats:
    path: str  # relative to the dataset root, "/"-separated
    label: str  # class folder ("" when the folder has no class sub-folders)
    part: str = ""  # train / val / test when known
    bytes: int = 0
    sha256: str = ""
    width: int = 0
    height: int = 0
    brightness: float = 0.0  # mean luminance 0–255
    contrast: float = 0.0  # luminance standard deviation
    dhash: int = 0
    colour: tuple[float, float, float] = (0.0, 0.0, 0.0)  # mean R, G, B (dHash sees only grey)
    error: str = ""  # why it could not be decoded; the other fields are then partly empty

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Finding:
    kind: str  # corrupt, tiny, huge, odd_aspect, dark, bright, blank, brightness_outlier,
    #            duplicate, near_duplicate, label_conflict, split_leak, few_images, imbalance
    paths: list[str]
    detail: str


@dataclass
class Inspection:
    root: Path
    images: list[ImageStats]
    classes: dict[str, int]
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def by_kind(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.kind, []).append(f)
        return out


# --------------------------------------------------------------------------- per image


def dhash(grey: np.ndarray) -> int:
    """64-bit difference hash of a 8×9 (rows × columns) greyscale array."""
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def measure(root: str, path: str, label: str, part: str = "") -> ImageStats:
    """The statistics of one file (runs in a worker process)."""
    from PIL import Image

    from animalsort.hashes import sha256_file
    from animalsort.sources.decode import describe_error, open_rgb, oriented_size

    full = os.path.join(root, path)
    s = ImageStats(path, label, part)
    try:
        s.sha256 = sha256_file(full)
        s.bytes = os.path.getsize(full)
        if s.bytes == 0:
            s.error = "empty file (0 bytes)"
            return s
        s.width, s.height = oriented_size(full)  # as seen, EXIF orientation applied
        im = open_rgb(full, draft_size=64)  # full decode (catches truncation), DCT-scaled
        rgb = np.asarray(im.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
        s.colour = tuple(round(float(c), 2) for c in rgb.reshape(-1, 3).mean(0))  # type: ignore[assignment]
        grey = im.convert("L")
        small = np.asarray(grey.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
        s.brightness, s.contrast = float(small.mean()), float(small.std())
        s.dhash = dhash(np.asarray(grey.resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16))
    except Exception as exc:
        s.error = describe_error(exc)
    return s


def _measure_star(args: tuple[str, str, str, str]) -> ImageStats:
    return measure(*args)


# --------------------------------------------------------------------------- whole dataset


def samples_of(root: Path) -> list[tuple[str, str, str]]:
    """(path, class, part) for a class-folder dataset, a pre-split one (train/val/test), or
    a plain folder of images (class "")."""
    from animalsort.datasets import labelled
    from animalsort.sources import listing

    root = listing.check_source(root)
    has_classes = any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(root))
    if not has_classes:
        return [(rel, "", "") for rel in listing.discover(root, skip_folder=labelled.is_run_folder)]
    splits = labelled.labelled_splits(root, val_split=0.0)
    out = []
    for part in ("train", "val", "test"):
        for s in getattr(splits, part):
            out.append((s.path, splits.classes[s.label], part if splits.presplit else ""))
    return sorted(out)


def scan(
    root: Path,
    samples: Iterable[tuple[str, str, str]] | None = None,
    *,
    workers: int = 0,
    near: int = NEAR_BITS,
    progress: bool = True,
) -> Inspection:
    """Measure every image of the dataset at ``root`` and list what looks wrong."""
    from tqdm import tqdm

    start = time.perf_counter()
    root = Path(root)
    items = list(samples) if samples is not None else samples_of(root)
    if not items:
        raise NoImagesError(f"no image files under {root}; check the folder")
    jobs = [(os.fspath(root), p, c, part) for p, c, part in items]
    bar = tqdm(total=len(jobs), unit="img", desc="inspect", disable=not progress)
    images: list[ImageStats] = []
    if workers > 0 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for s in pool.map(_measure_star, jobs, chunksize=16):
                images.append(s)
                bar.update()
    else:
        for job in jobs:
            images.append(measure(*job))
            bar.update()
    bar.close()
    classes = dict(sorted(Counter(s.label for s in images).items()))
    result = Inspection(root, images, classes)
    findings = class_findings(classes) + _image_findings(images) + _duplicate_findings(images, near)
    order = list(KIND_TITLES)
    result.findings = sorted(findings, key=lambda f: order.index(f.kind))
    result.seconds = time.perf_counter() - start
    return result


def class_findings(classes: dict[str, int]) -> list[Finding]:
    """Classes with too few images, and imbalance between classes (finetune uses this too)."""
    out = []
    if len(classes) > 1 or "" not in classes:
        for c, n in classes.items():
            if n < MIN_IMAGES:
                out.append(
                    Finding(
                        "few_images",
                        [],
                        f"class {c!r} has {n} image{'s' * (n != 1)} "
                        f"(fewer than {MIN_IMAGES}: too few to learn and validate it reliably)",
                    )
                )
        if len(classes) > 1:
            big, small = max(classes, key=classes.__getitem__), min(classes, key=classes.__getitem__)
            if classes[big] > IMBALANCE * classes[small]:
                out.append(
                    Finding(
                        "imbalance",
                        [],
                        f"classes are imbalanced: {big} {classes[big]} vs "
                        f"{small} {classes[small]} (more than {IMBALANCE:g}×)",
                    )
                )
    return out


def _image_findings(images: list[ImageStats]) -> list[Finding]:
    from animalsort.sources.decode import TOO_LARGE

    out = []
    ok = [s for s in images if s.ok]
    for s in images:
        if not s.ok:  # a photo over the decode limit is not corrupt: it says how to allow it
            out.append(Finding("too_large" if s.error.startswith(TOO_LARGE) else "corrupt", [s.path], s.error))
    for s in ok:
        short, long_ = min(s.width, s.height), max(s.width, s.height)
        if short < TINY_SIDE:
            out.append(Finding("tiny", [s.path], f"{s.width}×{s.height} px"))
        if s.width * s.height > HUGE_PIXELS:
            out.append(Finding("huge", [s.path], f"{s.width}×{s.height} px ({s.width * s.height / 1e6:.0f} MP)"))
        if short and long_ / short > ODD_ASPECT:
            out.append(Finding("odd_aspect", [s.path], f"{s.width}×{s.height} px (aspect {long_ / short:.1f}:1)"))
        if s.contrast < BLANK_STD:
            out.append(
                Finding("blank", [s.path], f"one colour (brightness {s.brightness:.0f}, contrast {s.contrast:.1f})")
            )
        if s.brightness < DARK:
            out.append(Finding("dark", [s.path], f"mean brightness {s.brightness:.0f} of 255"))
        elif s.brightness > BRIGHT:
            out.append(Finding("bright", [s.path], f"mean brightness {s.brightness:.0f} of 255"))
    if len(ok) >= 8:
        values = [s.brightness for s in ok]
        med = statistics.median(values)
        # A floor on the spread: a set of near-identical exposures must not flag every photo.
        mad = max(statistics.median(abs(v - med) for v in values), MIN_BRIGHTNESS_MAD)
        for s in ok:
            z = 0.6745 * (s.brightness - med) / mad
            if abs(z) > OUTLIER_Z and DARK <= s.brightness <= BRIGHT:
                out.append(
                    Finding(
                        "brightness_outlier",
                        [s.path],
                        f"brightness {s.brightness:.0f} vs dataset median {med:.0f} (z = {z:+.1f})",
                    )
                )
    return out


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per element of a uint64 array."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8).reshape(*x.shape, 8)].sum(-1)


def _pairs_within(hashes: np.ndarray, idx: np.ndarray, max_bits: int, block: int = 4_000_000) -> set[tuple[int, int]]:
    """All (i < j) of ``idx`` whose hashes differ in at most ``max_bits`` bits: blocked
    all-pairs XOR + popcount."""
    out: set[tuple[int, int]] = set()
    h = hashes[idx]
    rows = max(1, block // max(len(idx), 1))
    for a in range(0, len(idx), rows):
        d = popcount(h[a : a + rows, None] ^ h[None, :])
        ii, jj = np.nonzero(d <= max_bits)
        keep = jj > ii + a
        out.update(zip(idx[ii[keep] + a].tolist(), idx[jj[keep]].tolist()))
    return out


def near_pairs(hashes: np.ndarray, max_bits: int) -> list[tuple[int, int]]:
    """Index pairs (i < j) that link every set of hashes within ``max_bits`` bits of each
    other: all pairs of distinct hash values that close, plus a chain through each run of
    equal values (enough for grouping; n identical hashes give n - 1 pairs, not n²/2).

    Pigeonhole search over the distinct values: split the 64 bits into ``max_bits + 1``
    bands; two hashes that differ in at most ``max_bits`` bits agree exactly on at least one
    band, so only values sharing a band are compared (7 bands of ~9 bits for the default 6:
    100,000 varied photos take about a second)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if len(hashes) < 2 or max_bits < 0:
        return []
    values, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    same = inverse[order][1:] == inverse[order][:-1]
    links = {(int(min(a, b)), int(max(a, b))) for a, b in zip(order[:-1][same], order[1:][same])}
    n = len(values)
    if max_bits >= 16 or n < 2048:
        close = _pairs_within(values, np.arange(n), max_bits)
    else:
        bands = max_bits + 1
        edges = [round(64 * b / bands) for b in range(bands + 1)]
        close = set()
        for lo, hi in zip(edges, edges[1:]):
            keys = (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
            by_key = np.argsort(keys, kind="stable")
            starts = np.flatnonzero(np.r_[True, keys[by_key][1:] != keys[by_key][:-1], True])
            for a, b in zip(starts[:-1], starts[1:]):
                if b - a > 1:
                    close |= _pairs_within(values, by_key[a:b], max_bits)
    links |= {(int(min(first[a], first[b])), int(max(first[a], first[b]))) for a, b in close}
    return sorted(links)


def _groups(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _duplicate_findings(images: list[ImageStats], near: int) -> list[Finding]:
    """Exact duplicates (same bytes), then near duplicates (dHash), then label conflicts and
    split leaks over the groups both make together. Blank images are left out of the
    near-duplicate search: every one-colour image has the same hash."""
    out = []
    by_sha: dict[str, list[int]] = {}
    for i, s in enumerate(images):
        if s.sha256 and s.bytes:
            by_sha.setdefault(s.sha256, []).append(i)
    exact = [g for g in by_sha.values() if len(g) > 1]
    for g in exact:
        out.append(Finding("duplicate", [images[i].path for i in g], f"{len(g)} identical files"))
    pairs = [(g[0], j) for g in exact for j in g[1:]]
    hashable = [i for i, s in enumerate(images) if s.ok and s.contrast >= BLANK_STD]
    if near >= 0 and hashable:
        hashes = np.array([images[i].dhash for i in hashable], dtype=np.uint64)
        for a, b in near_pairs(hashes, near):
            i, j = hashable[a], hashable[b]
            if max(abs(x - y) for x, y in zip(images[i].colour, images[j].colour)) <= NEAR_COLOUR:
                pairs.append((i, j))
    for g in _groups(len(images), pairs):
        members = [images[i] for i in g]
        if len({s.sha256 for s in members}) > 1:  # more than one exact copy of the same file
            ref = members[0].dhash
            d = max(bin(ref ^ s.dhash).count("1") for s in members)
            out.append(
                Finding(
                    "near_duplicate",
                    [s.path for s in members],
                    f"{len(members)} images that look the same (dHash within {d} bits)",
                )
            )
        labels = sorted({s.label for s in members})
        if len(labels) > 1:
            out.append(
                Finding(
                    "label_conflict", [s.path for s in members], f"the same image is in classes {', '.join(labels)}"
                )
            )
        parts = sorted({s.part for s in members if s.part})
        if len(parts) > 1:
            out.append(
                Finding(
                    "split_leak",
                    [s.path for s in members],
                    f"the same image is in {' and '.join(parts)}: validation scores will be too high",
                )
            )
    return out


# --------------------------------------------------------------------------- output

KIND_TITLES = {  # also the order findings are listed in: what breaks training first
    "corrupt": "corrupt files",
    "too_large": "too large to decode",
    "label_conflict": "label conflicts",
    "split_leak": "train/val leaks",
    "few_images": "classes with too few images",
    "imbalance": "class imbalance",
    "duplicate": "exact duplicates",
    "near_duplicate": "near duplicates",
    "tiny": "tiny images",
    "huge": "huge images",
    "odd_aspect": "odd aspect ratios",
    "blank": "blank images",
    "dark": "too dark",
    "bright": "too bright",
    "brightness_outlier": "brightness outliers",
}


#: Kinds of files that cannot be decoded: finetune leaves them out.
UNREADABLE = frozenset({"corrupt", "too_large"})

# Kinds counted as findings (groups of files, or a class); the others as the files flagged.
COUNTED_AS_FINDINGS = frozenset(
    {"few_images", "imbalance", "duplicate", "near_duplicate", "label_conflict", "split_leak"}
)
