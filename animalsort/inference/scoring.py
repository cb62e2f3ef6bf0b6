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
    files_ok: int = -1  # files classified (a clip once, whatever its rows); -1: every ok row is a file
    clips: int = 0  # of those, video clips
    frames: int = 0  # the clips' sampled frames

    def __post_init__(self) -> None:
        if not self.frame_s:
            self.frame_s = [""] * len(self.paths)
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
    conf_t, idx_t = rank(probs, loaded.labels, top_k)
    conf, idx = conf_t.cpu().tolist(), idx_t.cpu().tolist()
    if all(t is None for t in frames):
        kept_idx = [i if o else [] for i, o in zip(idx, ok)]
        return Scored(list(paths), list(ok), list(errors), kept_idx, [c if o else [] for c, o in zip(conf, ok)])
    out = Scored([], [], [], [], [], files_ok=0)
    i = 0
    while i < len(paths):
        j = i + 1
        if frames[i] is not None:  # a clip's frames: rows i..j-1
            while j < len(paths) and paths[j] == paths[i] and frames[j] is not None:
                j += 1
        out.files_ok += ok[i]
        if frames[i] is None or not ok[i]:
            _add(out, paths[i], ok[i], errors[i], idx[i] if ok[i] else [], conf[i] if ok[i] else [], "")
            i = j
            continue
        times = [float(t or 0.0) for t in frames[i:j]]
        out.clips += 1
        out.frames += len(times)
        if video_rows == "frames":
            for r, t in zip(range(i, j), times):
                _add(out, frame_path(paths[r], t), True, "", idx[r], conf[r], format_time(t))
        else:
            c, k, best = clip_answer(probs[i:j], times, loaded.labels, top_k)
            _add(out, paths[i], True, "", k, c, format_time(best))
        i = j
    return out


def _add(out: Scored, path: str, ok: bool, error: str, idx: list[int], conf: list[float], frame_s: str) -> None:
    out.paths.append(path)
    out.ok.append(ok)
    out.errors.append(error)
    out.idx.append(idx)
    out.conf.append(conf)
    out.frame_s.append(frame_s)


def clip_answer(
    probs: torch.Tensor, times: Sequence[float], labels: LabelSet, top_k: int
) -> tuple[list[float], list[int], float]:
    """(confidences, label indices, time of the best frame) for one clip's frames (F × L label
    probabilities), as the module's docstring says."""
    import torch

    from animalsort.taxonomy import rank

    probs = probs.float()
    m = min(TOP_FRAMES, probs.shape[0])
    score = probs.topk(m, dim=0).values.mean(dim=0)  # L
    firsts = set(rank(probs, labels, 1)[1][:, 0].tolist())
    if labels.no_animal is not None and firsts - {labels.no_animal}:
        firsts.discard(labels.no_animal)
    candidates = torch.tensor(sorted(firsts), device=probs.device)
    best = int(candidates[score[candidates].argmax()])
    order = [best] + [int(j) for j in score.argsort(descending=True).tolist() if int(j) != best]
    chosen = order[:top_k]
    t = times[int(probs[:, best].argmax())]
    return [float(score[j]) for j in chosen], chosen, t
