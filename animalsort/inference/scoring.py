"""A decoded batch → the model → the rows' answers, for every engine (local, Ray).

Photos get their top-k labels (``taxonomy.rank``). A clip's sampled frames are consecutive
rows of one batch; they become one answer for the clip (``--video-rows videos``) or one
answer per frame (``frames``, paths ``clip.mp4#t=12.00``).

How a clip gets its label (``clip_answer``): each frame's first label is decided as for a
photo; the clip's candidates are the labels that are first in at least one frame, without
``no_animal`` when any animal is among them (an animal in 3 frames of 30 is an animal clip;
camera traps record mostly empty frames). Each label scores the mean of its probabilities in
its best ``min(3, frames)`` frames; the clip's label is the best-scoring candidate, its
confidence that score, ``frame_s`` the time of that label's most confident frame; the other
top-k are the next labels by the same score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from animalsort.formats.predictions import format_time, frame_path
from animalsort.sources.views import Box
from animalsort.taxonomy import shows_animal

if TYPE_CHECKING:
    import torch

    from animalsort.model.loaded import LoadedModel
    from animalsort.taxonomy import LabelSet

TOP_FRAMES = 3  # a label's clip score is its mean probability over this many of its best frames


@dataclass
class Scored:
    """One batch's outcome, whatever engine produced it: one entry per output row — top-k
    label indices and confidences for the rows that decoded (``ok``), the reason for those
    that did not, and a clip's best (or the frame's own) time in seconds."""

    paths: list[str]
    ok: list[bool]
    errors: list[str]
    idx: list[list[int]]  # per row (empty for failed rows)
    conf: list[list[float]]
    frame_s: list[str] = field(default_factory=list)  # "" for photos
    boxes: list[Box | None] = field(default_factory=list)  # the window each row's answer came from
    windows: int = 0  # images the model saw for these rows (a photo's windows, a clip's frames)
    files_ok: int = -1  # files classified (a clip once, whatever its rows); -1: every ok row is a file
    clips: int = 0  # of those, video clips
    frames: int = 0  # the clips' sampled frames

    def __post_init__(self) -> None:
        if not self.frame_s:
            self.frame_s = [""] * len(self.paths)
        if not self.boxes:
            self.boxes = [None] * len(self.paths)
        if self.files_ok < 0:
            self.files_ok = self.ok.count(True)


def score_batch(
    loaded: LoadedModel, images: torch.Tensor, meta: dict[str, list[Any]], top_k: int, video_rows: str = "videos"
) -> Scored:
    """A decoded batch (uint8 NHWC on the model's device; ``meta`` as ``Batch.meta()``) → its rows."""
    from animalsort.taxonomy import rank

    paths, ok, errors = meta["paths"], meta["ok"], meta["errors"]
    frames: list[float | None] = meta.get("frames") or [None] * len(paths)
    if not any(ok):
        return Scored(list(paths), list(ok), list(errors), [[] for _ in ok], [[] for _ in ok])
    probs = loaded.infer(images)
    windows = len(paths)
    boxes: list[Box | None] = [None] * len(paths)
    animal = None
    if any(b is not None for b in meta.get("boxes") or ()):
        seen = _seen(probs, meta, loaded.labels)
        paths, ok, errors, frames, boxes = seen.paths, seen.ok, seen.errors, seen.frames, seen.boxes
        probs, animal = seen.probs, seen.animal
    conf_t, idx_t = rank(probs, loaded.labels, top_k, animal)
    conf, idx = conf_t.cpu().tolist(), idx_t.cpu().tolist()
    if all(t is None for t in frames):
        kept_idx = [i if o else [] for i, o in zip(idx, ok)]
        kept_conf = [c if o else [] for c, o in zip(conf, ok)]
        return Scored(list(paths), list(ok), list(errors), kept_idx, kept_conf, boxes=list(boxes), windows=windows)
    out = Scored([], [], [], [], [], files_ok=0, windows=windows)
    i = 0
    while i < len(paths):
        j = i + 1
        if frames[i] is not None:  # a clip's frames: rows i..j-1
            while j < len(paths) and paths[j] == paths[i] and frames[j] is not None:
                j += 1
        out.files_ok += ok[i]
        if frames[i] is None or not ok[i]:
            _add(out, paths[i], ok[i], errors[i], idx[i] if ok[i] else [], conf[i] if ok[i] else [], "", boxes[i])
            i = j
            continue
        times = [float(t or 0.0) for t in frames[i:j]]
        out.clips += 1
        out.frames += len(times)
        if video_rows == "frames":
            for r, t in zip(range(i, j), times):
                _add(out, frame_path(paths[r], t), True, "", idx[r], conf[r], format_time(t), boxes[r])
        else:
            decided = animal[i:j] if animal is not None else None
            c, k, best = clip_answer(probs[i:j], times, loaded.labels, top_k, decided)
            _add(out, paths[i], True, "", k, c, format_time(times[best]), boxes[i + best])
        i = j
    return out


def _add(
    out: Scored,
    path: str,
    ok: bool,
    error: str,
    idx: list[int],
    conf: list[float],
    frame_s: str,
    box: Box | None = None,
) -> None:
    out.paths.append(path)
    out.ok.append(ok)
    out.errors.append(error)
    out.idx.append(idx)
    out.conf.append(conf)
    out.frame_s.append(frame_s)
    out.boxes.append(box)


# --------------------------------------------------------------------------- whole-frame views

#: A window counts as seeing an animal when its most probable animal label reaches the first
#: number and stands the second above the frame's background (the window at the lower quarter
#: of the scores): an animal in one part of the frame stands out; rocks and grass that look a
#: little like an insect everywhere do not. Chosen on the whole-frame benchmark (README).
SPOT = {"frame": (0.4, 0.2), "tiles": (0.5, 0.5)}
#: Failing that, the frame is an animal only if the centre window's animal probability reaches
#: this (an animal that fills the frame is in every window, so it does not stand out).
WHOLE_FRAME_ANIMAL = 0.75


@dataclass
class _Seen:
    """A batch with each photo's (or frame's) windows reduced to one row."""

    paths: list[str]
    ok: list[bool]
    errors: list[str]
    frames: list[float | None]
    boxes: list[Box | None]
    probs: torch.Tensor
    animal: torch.Tensor  # the first decision per row: an animal, or none


def _seen(probs: torch.Tensor, meta: dict[str, list[Any]], labels: LabelSet) -> _Seen:
    """Consecutive rows of one photo (or one clip frame) that carry boxes are its windows:
    the first is the centre window. Each group becomes one row (``combine_views``)."""
    import torch

    paths, boxes = meta["paths"], meta["boxes"]
    frames = meta.get("frames") or [None] * len(paths)
    mode = meta.get("view") or "tiles"
    firsts: list[int] = []  # the first batch row of each group
    vectors, decided, chosen_boxes = [], [], []
    i = 0
    while i < len(paths):
        j = i + 1
        if boxes[i] is not None:
            while j < len(paths) and boxes[j] is not None and paths[j] == paths[i] and frames[j] == frames[i]:
                j += 1
            vector, animal, chosen = combine_views(probs[i:j], labels, mode)
            box = boxes[i + chosen] if chosen is not None else None
        else:
            vector, animal, box = probs[i], bool(shows_animal(probs[i : i + 1], labels)[0]), None
        firsts.append(i)
        vectors.append(vector)
        decided.append(animal)
        chosen_boxes.append(box)
        i = j
    return _Seen(
        paths=[paths[i] for i in firsts],
        ok=[meta["ok"][i] for i in firsts],
        errors=[meta["errors"][i] for i in firsts],
        frames=[frames[i] for i in firsts],
        boxes=chosen_boxes,
        probs=torch.stack(vectors),
        animal=torch.tensor(decided, dtype=torch.bool),
    )


def combine_views(probs: torch.Tensor, labels: LabelSet, mode: str = "tiles") -> tuple[torch.Tensor, bool, int | None]:
    """One photo's windows (V × L label probabilities; the first the centre window) → (the
    probabilities it is answered with, whether it shows an animal, the window the answer
    came from or None).

    The window where an animal stands out (``SPOT``) wins; else the centre window, which is
    an animal only when sure (``WHOLE_FRAME_ANIMAL``): more windows are more chances to see an
    animal in rocks and grass, so a window must earn it. Labels without ``no_animal`` (a
    fine-tuned model's own): the window with the most confident label."""
    noa = labels.no_animal
    if noa is None:
        best = int(probs.max(dim=1).values.argmax())
        return probs[best], True, best
    seen = shows_animal(probs, labels)
    if probs.shape[0] == 1:
        return probs[0], bool(seen[0]), 0 if seen[0] else None
    spot = probs.clone()
    spot[:, noa] = -1.0
    score = spot.max(dim=1).values
    best = int(score.argmax())
    background = float(score.sort().values[probs.shape[0] // 4])
    least, above = SPOT.get(mode, SPOT["tiles"])
    if score[best] >= least and score[best] - background >= above and seen[best]:
        return probs[best], True, best
    if 1.0 - float(probs[0, noa]) >= WHOLE_FRAME_ANIMAL:
        return probs[0], True, 0
    return probs[0], False, None


def clip_answer(
    probs: torch.Tensor, times: Sequence[float], labels: LabelSet, top_k: int, animal: torch.Tensor | None = None
) -> tuple[list[float], list[int], int]:
    """(confidences, label indices, index of the best frame) for one clip's frames (F × L label
    probabilities; ``animal``: each frame's first decision when its windows made it), as the
    module's docstring says."""
    import torch

    from animalsort.taxonomy import rank

    probs = probs.float()
    m = min(TOP_FRAMES, probs.shape[0])
    score = probs.topk(m, dim=0).values.mean(dim=0)  # L
    firsts = set(rank(probs, labels, 1, animal)[1][:, 0].tolist())
    if labels.no_animal is not None and firsts - {labels.no_animal}:
        firsts.discard(labels.no_animal)
    candidates = torch.tensor(sorted(firsts), device=probs.device)
    best = int(candidates[score[candidates].argmax()])
    order = [best] + [int(j) for j in score.argsort(descending=True).tolist() if int(j) != best]
    chosen = order[:top_k]
    return [float(score[j]) for j in chosen], chosen, int(probs[:, best].argmax())
