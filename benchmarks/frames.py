"""Camera-trap-like frames for the whole-frame benchmark (``whole_frame.py``): the animals of
``../shared/data/animals-dev`` pasted at random sizes and positions into real empty scenes,
plus empty scenes and the people-dev photos. Deterministic for a seed.

The scenes are photographs from Debian's wallpaper packages (install them first):

    apt-get install mate-backgrounds plasma-workspace-wallpapers    # GPL-2+ / LGPL-3 (see their copyright files)

The animals-dev photos from tuxpaint are cut-outs flattened onto white: they are cut out again
(the white connected to the border becomes transparent) and pasted with their outline; the
few full photographs (darknet, OpenCV, scikit-image) are pasted as rectangles.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

#: Real photographs with no animal in them (checked by eye), landscape-like first.
SCENES = [
    "/usr/share/backgrounds/mate/nature/Dune.jpg",
    "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
    "/usr/share/backgrounds/mate/nature/Storm.jpg",
    "/usr/share/backgrounds/mate/nature/Wood.jpg",
    "/usr/share/backgrounds/mate/nature/RainDrops.jpg",
    "/usr/share/backgrounds/mate/nature/Blinds.jpg",
    "/usr/share/wallpapers/BytheWater/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/ColdRipple/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/DarkestHour/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/EveningGlow/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/FallenLeaf/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/OneStandsOut/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/Path/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/Volna/contents/images/5120x2880.jpg",
    "/usr/share/wallpapers/summer_1am/contents/images/2560x1440.jpg",
]
#: Empty close-ups (flowers, a water drop): more chances for a false animal.
CLOSE_UPS = [
    "/usr/share/backgrounds/mate/nature/FreshFlower.jpg",
    "/usr/share/backgrounds/mate/nature/Garden.jpg",
    "/usr/share/backgrounds/mate/nature/YellowFlower.jpg",
    "/usr/share/backgrounds/mate/nature/Aqua.jpg",
]
ASPECTS = {"4:3": (4, 3), "16:9": (16, 9)}
SIZES = (3, 5, 10, 20, 40)  # % of the frame's area the animal's box covers
EXCLUDED_GROUPS = {"giraffe"}  # no ImageNet-1k class


@dataclass
class Frame:
    path: str  # relative to the frames folder
    group: str  # animals-dev group; "" for an empty frame
    size_pct: int  # the animal's box, % of the frame; 0 for an empty frame
    where: str  # centre (inside the centre window), off-centre, or empty
    aspect: str
    megapixels: float
    box: str  # the animal's box as fractions x,y,w,h ("" for empty)
    source: str  # the animal photo or the empty scene


def half(row: dict[str, str], animals: list[str]) -> str:
    """Which half of the benchmark a frame (a ``frames.csv`` row) is in: ``fit`` (the look's
    thresholds are chosen on it: ``fit_look.py``) or ``test`` (they are reported on it:
    ``whole_frame.py``). Animal frames by their animal photo (every other one of ``animals``, the
    sorted sources: both frames of one animal fall in one half), empty frames by their scene
    (every other scene, so no empty scene is seen by both halves)."""
    if row["group"]:
        return "fit" if animals.index(row["source"]) % 2 == 0 else "test"
    return "fit" if int(Path(row["path"]).name[:2]) % 2 == 0 else "test"


def natural_half(path: str) -> str:
    """The half of a natural photo of animals-dev or people-dev: every other one by name."""
    return "fit" if int(hashlib.sha256(path.encode()).hexdigest(), 16) % 2 == 0 else "test"


def missing_scenes() -> list[str]:
    return [p for p in SCENES + CLOSE_UPS if not Path(p).is_file()]


def add_arguments(ap: argparse.ArgumentParser, seed: bool = True) -> None:
    """The options of every benchmark on these frames: where the real photos are, where the frames go, the seed."""
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--frames", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-whole-frame")
    if seed:
        ap.add_argument("--seed", type=int, default=0)


def ready(args: argparse.Namespace, mixed: bool = False) -> bool:
    """The frames in ``args.frames`` (and the two-subject ones with ``mixed``), built when missing;
    False, saying which package to install, when the empty scenes are not on this machine."""
    if missing := missing_scenes():
        print(f"missing scenes ({len(missing)}): apt-get install mate-backgrounds plasma-workspace-wallpapers")
        return False
    seed = getattr(args, "seed", 0)
    if not (args.frames / "frames.csv").is_file():
        print(f"building frames in {args.frames} …", flush=True)
        build(args.data, args.frames, seed=seed)
    if mixed and not (args.frames / "mixed.csv").is_file():
        build_mixed(args.data, args.frames, seed=seed)
    return True


def cut_out(path: Path) -> tuple[Image.Image, Image.Image]:
    """(RGB, mask): the white connected to the border of a flattened cut-out is background;
    a full photograph (no white border) is all foreground."""
    im = Image.open(path).convert("RGB")
    white = Image.new("L", im.size, 255)  # 255 where every channel is near white
    for band in im.split():
        white = Image.composite(white, Image.new("L", im.size, 0), band.point(lambda v: 255 if v >= 236 else 0))
    w, h = im.size
    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        if white.getpixel((x, y)) == 255:
            ImageDraw.floodfill(white, (x, y), 128)
    background = white.point(lambda v: 255 if v == 128 else 0)
    if background.getbbox() is None:  # a photograph: paste it whole
        return im, Image.new("L", im.size, 255)
    mask = background.point(lambda v: 0 if v else 255).filter(ImageFilter.MinFilter(3))
    mask = mask.filter(ImageFilter.GaussianBlur(1))  # a soft outline, as a real edge has
    box = mask.getbbox() or (0, 0, w, h)
    return im.crop(box), mask.crop(box)


def _frame_size(rng: random.Random, aspect: str) -> tuple[int, int]:
    a, b = ASPECTS[aspect]
    mp = rng.choice((1, 2, 3, 5, 8, 12))
    h = round((mp * 1e6 * b / a) ** 0.5)
    return round(h * a / b), h


def _scene(path: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A random crop of the scene with the frame's aspect, resized to the frame."""
    im = Image.open(path).convert("RGB")
    w, h = size
    sw, sh = im.size
    scale = rng.uniform(0.75, 1.0) * min(sw / w, sh / h)
    cw, ch = w * scale, h * scale
    x, y = rng.uniform(0, sw - cw), rng.uniform(0, sh - ch)
    return im.resize((w, h), Image.Resampling.BICUBIC, box=(x, y, x + cw, y + ch))


def _inside_centre(box: tuple[float, float, float, float], w: int, h: int) -> bool:
    side = min(w, h) * 0.875  # the centre window (the ImageNet evaluation crop)
    cx0, cy0 = (w - side) / 2, (h - side) / 2
    x, y, bw, bh = box
    return x >= cx0 and y >= cy0 and x + bw <= cx0 + side and y + bh <= cy0 + side


def build(data: Path, out: Path, seed: int = 0, per_animal: int = 2, empties: int = 4) -> list[Frame]:
    """Write the frames (JPEG, quality 90) and ``frames.csv`` into ``out``; returns the rows."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(open(data / "animals-dev" / "manifest.csv")))
    animals = [r for r in rows if r["group"] not in EXCLUDED_GROUPS]
    frames: list[Frame] = []
    n = 0
    for r in animals:
        rgb, mask = cut_out(data / "animals-dev" / r["path"])
        for _ in range(per_animal):
            aspect = rng.choice(list(ASPECTS))
            w, h = _frame_size(rng, aspect)
            size_pct = SIZES[n % len(SIZES)]
            n += 1
            area = size_pct / 100 * w * h
            ratio = rgb.width / rgb.height
            bw, bh = (area * ratio) ** 0.5, (area / ratio) ** 0.5
            if bw > w or bh > h:  # a very wide or tall animal: as large as fits
                f = min(w / bw, h / bh)
                bw, bh = bw * f, bh * f
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            frame = _scene(rng.choice(SCENES), (w, h), rng)
            size = (max(1, round(bw)), max(1, round(bh)))
            frame.paste(rgb.resize(size, Image.Resampling.LANCZOS), (round(x), round(y)), mask.resize(size))
            name = f"animals/{n:04d}_{r['group']}.jpg"
            frame.save(out / name if (out / "animals").is_dir() else _mkdir(out / name), quality=90)
            where = "centre" if _inside_centre((x, y, bw, bh), w, h) else "off-centre"
            box = f"{x / w:.3f},{y / h:.3f},{bw / w:.3f},{bh / h:.3f}"
            frames.append(Frame(name, r["group"], size_pct, where, aspect, round(w * h / 1e6, 1), box, r["path"]))
    for i, scene in enumerate(SCENES + CLOSE_UPS):
        for j in range(empties if scene in SCENES else 2):
            aspect = rng.choice(list(ASPECTS))
            w, h = _frame_size(rng, aspect)
            name = f"empty/{i:02d}_{j}.jpg"
            _scene(scene, (w, h), rng).save(_mkdir(out / name), quality=90)
            frames.append(Frame(name, "", 0, "empty", aspect, round(w * h / 1e6, 1), "", Path(scene).name))
    with open(out / "frames.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(frames[0])))
        writer.writeheader()
        writer.writerows(asdict(fr) for fr in frames)
    return frames


def _mkdir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- frames with two subjects (#37)

#: People to paste beside an animal (people-dev photos, pasted whole as rectangles).
PEOPLE = ["skimage_astronaut.png", "matplotlib_grace_hopper.jpg", "opencv_messi5.jpg", "darknet_kite_people.jpg"]
MIXED_SIZES = (5, 10, 20)  # % of the frame's area for each subject


@dataclass
class Mixed:
    """A frame of ``mixed.csv``: two subjects, each with its true box."""

    path: str  # relative to the frames folder
    kind: str  # "two-animals" (of two groups) or "person-animal"
    groups: str  # the subjects' groups, ";"-joined ("person" for a person)
    boxes: str  # their boxes, ";"-joined, each x,y,w,h as fractions
    size_pct: int  # each subject's box, % of the frame
    aspect: str
    megapixels: float
    sources: str  # the pasted photos, ";"-joined


def build_mixed(data: Path, out: Path, seed: int = 0, two_animals: int = 24, person_animal: int = 12) -> list[Mixed]:
    """Write frames with two subjects into ``out/mixed/`` and ``out/mixed.csv``: two animals of
    different groups, or a person and an animal, each at 5–20% of the frame, not overlapping.
    Its own random stream: :func:`build`'s frames (and ``frames.csv``) stay as they are."""
    rng = random.Random(f"mixed-{seed}")
    rows = list(csv.DictReader(open(data / "animals-dev" / "manifest.csv")))
    animals = [r for r in rows if r["group"] not in EXCLUDED_GROUPS]
    frames: list[Mixed] = []
    for n in range(two_animals + person_animal):
        first = rng.choice(animals)
        if n < two_animals:
            second = rng.choice([r for r in animals if r["group"] != first["group"]])
            subjects = [(first["group"], *cut_out(data / "animals-dev" / first["path"]), first["path"])]
            subjects.append((second["group"], *cut_out(data / "animals-dev" / second["path"]), second["path"]))
            kind = "two-animals"
        else:
            name = rng.choice(PEOPLE)
            person = Image.open(data / "people-dev" / name).convert("RGB")
            subjects = [(first["group"], *cut_out(data / "animals-dev" / first["path"]), first["path"])]
            subjects.append(("person", person, Image.new("L", person.size, 255), f"people-dev/{name}"))
            kind = "person-animal"
        frames.append(_mixed_frame(out, n, kind, subjects, rng))
    with open(out / "mixed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(frames[0])))
        writer.writeheader()
        writer.writerows(asdict(fr) for fr in frames)
    return frames


def _mixed_frame(out: Path, n: int, kind: str, subjects: list, rng: random.Random) -> Mixed:
    aspect = rng.choice(list(ASPECTS))
    w, h = _frame_size(rng, aspect)
    size_pct = MIXED_SIZES[n % len(MIXED_SIZES)]
    frame = _scene(rng.choice(SCENES), (w, h), rng)
    placed: list[tuple[float, float, float, float]] = []
    for _, rgb, mask, _ in subjects:
        area = size_pct / 100 * w * h
        ratio = rgb.width / rgb.height
        bw, bh = min(w, (area * ratio) ** 0.5), min(h, (area / ratio) ** 0.5)
        for _ in range(200):  # a place that overlaps no subject placed before
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            if not any(x < px + pw and px < x + bw and y < py + ph and py < y + bh for px, py, pw, ph in placed):
                break
        size = (max(1, round(bw)), max(1, round(bh)))
        frame.paste(rgb.resize(size, Image.Resampling.LANCZOS), (round(x), round(y)), mask.resize(size))
        placed.append((x, y, bw, bh))
    name = f"mixed/{n:04d}_{kind}.jpg"
    frame.save(_mkdir(out / name), quality=90)
    boxes = ";".join(f"{x / w:.3f},{y / h:.3f},{bw / w:.3f},{bh / h:.3f}" for x, y, bw, bh in placed)
    groups, sources = ";".join(s[0] for s in subjects), ";".join(s[3] for s in subjects)
    return Mixed(name, kind, groups, boxes, size_pct, aspect, round(w * h / 1e6, 1), sources)
