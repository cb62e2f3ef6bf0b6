"""A decoded batch → the model → the rows' answers, for every engine (local, Ray, in-memory).

Photos get their top-k labels (``taxonomy.rank``): of the centre crop, or with ``--view frame``
/ ``tiles`` of the answer ``looking`` gives from a first look at the whole frame and, where it
asks for them, closer looks (``look_batch``). A clip's sampled frames are consecutive
rows of one batch; they become one answer for the clip (``--video-rows videos``) or one
answer per frame (``frames``, paths ``clip.mp4#t=12.00``).

With ``--detections`` (``score_detected``) a listed file's animal boxes are classified from their
crops, every crop of the batch in one model call, and the file gets one row whose ``crops``
holds each crop's top-k; the files the JSON does not list are answered as without it.

How a clip gets its label (``clip_answer``): each frame's first label is decided as for a
photo; the clip's candidates are the labels that are first in at least one frame, without
``no_animal`` when any animal is among them (an animal in 3 frames of 30 is an animal clip;
camera traps record mostly empty frames). Each label scores the mean of its probabilities in
its best ``min(3, frames)`` frames; the clip's label is the best-scoring candidate, its
confidence that score, ``frame_s`` the time of that label's most confident frame; the other
top-k are the next labels by the same score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from animalsort.formats.predictions import format_time, frame_path, split_frame_path
from animalsort.sources.views import Box

if TYPE_CHECKING:
    import numpy as np
    import torch

    from animalsort.inference.looking import Look
    from animalsort.model.runner import LoadedModel
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
    boxes: list[Box | None] = field(default_factory=list)  # where the animal is (--view frame, tiles)
    animal_scores: list[float | None] = field(default_factory=list)  # the evidence peak (looking.py)
    windows: int = 0  # images the model saw for these rows (first looks, closer looks, a clip's frames)
    files_ok: int = -1  # files classified (a clip once, whatever its rows); -1: every ok row is a file
    clips: int = 0  # of those, video clips
    frames: int = 0  # the clips' sampled frames
    # --detections: per row of a listed file, each animal crop's (top-k indices, confidences) in
    # the order of its detections; None for other rows (a file the JSON does not list, an error)
    crops: list[list[tuple[list[int], list[float]]] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.frame_s:
            self.frame_s = [""] * len(self.paths)
        if not self.boxes:
            self.boxes = [None] * len(self.paths)
        if not self.animal_scores:
            self.animal_scores = [None] * len(self.paths)
        if not self.crops:
            self.crops = [None] * len(self.paths)
        if self.files_ok < 0:
            self.files_ok = self.ok.count(True)


#: A closer look's pixels: (path, clip frame time or None, square as fractions of the frame) →
#: the model's uint8 input (``ImageStream.closer``).
Closer = Callable[[str, "float | None", Box], "np.ndarray"]


def score_batch(
    loaded: LoadedModel,
    images: torch.Tensor,
    meta: dict[str, list[Any]],
    top_k: int,
    video_rows: str = "videos",
    closer: Closer | None = None,
) -> Scored:
    """A decoded batch (uint8 NHWC on the model's device; ``meta`` as ``Batch.meta()``) → its
    rows. First looks at whole frames (``meta["looks"]``) are answered by ``looking``, with
    closer looks decoded by ``closer`` (None: none are taken)."""
    from animalsort.taxonomy import rank

    if meta.get("crops") is not None:
        return score_detected(loaded, images, meta, top_k, video_rows, closer)
    paths, ok, errors = meta["paths"], meta["ok"], meta["errors"]
    frames: list[float | None] = meta.get("frames") or [None] * len(paths)
    if not any(ok):
        return Scored(list(paths), list(ok), list(errors), [[] for _ in ok], [[] for _ in ok])
    if meta.get("looks") is not None:
        answers = look_batch(loaded, images, meta, closer)
    else:
        answers = _Answers(loaded.infer(images), None, [None] * len(paths), [None] * len(paths), len(paths))
    probs, animal, boxes, scores = answers.probs, answers.animal, answers.boxes, answers.scores
    conf_t, idx_t = rank(probs, loaded.labels, top_k, animal)
    conf, idx = conf_t.cpu().tolist(), idx_t.cpu().tolist()
    idx = [i if o else [] for i, o in zip(idx, ok)]
    conf = [c if o else [] for c, o in zip(conf, ok)]
    if all(t is None for t in frames):
        return Scored(list(paths), list(ok), list(errors), idx, conf, [], boxes, scores, windows=answers.windows)
    out = Scored([], [], [], [], [], files_ok=0, windows=answers.windows)
    i = 0
    while i < len(paths):
        j = i + 1
        if frames[i] is not None:  # a clip's frames: rows i..j-1
            while j < len(paths) and paths[j] == paths[i] and frames[j] is not None:
                j += 1
        out.files_ok += ok[i]
        if frames[i] is None or not ok[i]:
            _add(out, paths[i], ok[i], errors[i], idx[i], conf[i], "", boxes[i], scores[i])
            i = j
            continue
        times = [float(t or 0.0) for t in frames[i:j]]
        out.clips += 1
        out.frames += len(times)
        if video_rows == "frames":
            for r, t in zip(range(i, j), times):
                _add(out, frame_path(paths[r], t), True, "", idx[r], conf[r], format_time(t), boxes[r], scores[r])
        else:
            decided = animal[i:j] if animal is not None else None
            c, k, best = clip_answer(probs[i:j], times, loaded.labels, top_k, decided)
            peak = max((v for v in scores[i:j] if v is not None), default=None)
            _add(out, paths[i], True, "", k, c, format_time(times[best]), boxes[i + best], peak)
        i = j
    return out


@dataclass
class _Answers:
    """A batch's rows answered: label probabilities (N × L), the first decision when a look made
    it (else None), each row's box and evidence peak, and the images the model saw."""

    probs: torch.Tensor
    animal: torch.Tensor | None
    boxes: list[Box | None]
    scores: list[float | None]
    windows: int


def run_looks(
    loaded: LoadedModel, images: torch.Tensor, looks: list[tuple[int, int, int, int] | None]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each row's (class logits, cells) from one pass of the model over its whole frame; rows of
    one size run together (a batch mixes landscape and portrait frames). None for failed rows."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(looks):
        if size is not None:
            groups.setdefault((size[0], size[1]), []).append(i)
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(looks)
    for (w, h), rows in groups.items():
        logits, cells = loaded.look(images[rows, :h, :w].contiguous())
        for k, i in enumerate(rows):
            out[i] = (logits[k], cells[k])
    return out


def look_batch(loaded: LoadedModel, images: torch.Tensor, meta: dict[str, Any], closer: Closer | None) -> _Answers:
    """First looks at the batch's frames, then the closer looks they ask for (``looking``)."""
    import numpy as np
    import torch

    from animalsort.inference.looking import RULES, Labels, closer_look, first_look

    rule, looks = RULES[meta["view"]], meta["looks"]
    seen = run_looks(loaded, images, looks)
    outputs = next(out[0].shape[-1] for out in seen if out is not None)
    labels = Labels(loaded.labels, outputs)
    answers = [
        first_look(out[0], out[1], labels, rule, (size[2], size[3])) if out is not None and size is not None else None
        for out, size in zip(seen, looks)
    ]
    paths = meta["paths"]
    frames = meta.get("frames") or [None] * len(paths)
    unsure = [a is not None and bool(a.closer) for a in answers]  # the first look alone did not decide
    _clip_budget(answers, paths, frames)
    requests = [(i, square) for i, a in enumerate(answers) if a is not None for square in a.closer]
    crops = _closer_looks(loaded, requests, paths, frames, closer)
    for i, a in enumerate(answers):
        if a is not None and unsure[i]:
            taken = [c for (r, _), c in zip(requests, crops) if r == i and c is not None]
            a.closer = [sq for (r, sq), c in zip(requests, crops) if r == i and c is not None]
            closer_look(a, taken, labels, rule)
    empty = np.zeros(len(loaded.labels.labels), dtype=np.float32)
    return _Answers(
        probs=torch.from_numpy(np.stack([a.probs.astype(np.float32) if a else empty for a in answers])),
        animal=torch.tensor([bool(a and a.animal) for a in answers], dtype=torch.bool),
        boxes=[a.box if a else None for a in answers],
        scores=[a.animal_score if a else None for a in answers],
        windows=sum(a is not None for a in answers) + sum(c is not None for c in crops),
    )


def score_detected(
    loaded: LoadedModel,
    images: torch.Tensor,
    meta: dict[str, Any],
    top_k: int,
    video_rows: str = "videos",
    closer: Closer | None = None,
) -> Scored:
    """A ``--detections`` batch (``meta["crops"]``: ``Batch.crops``) → one row per listed file
    with each animal crop's top-k (every crop of the batch in one model call: a crop is the
    model's own square input), and the rows of the files the JSON does not list as
    :func:`score_batch` gives them without detections, all in the batch's order."""
    from animalsort.taxonomy import rank

    paths, ok, errors, crops = meta["paths"], meta["ok"], meta["errors"], meta["crops"]
    whole = [i for i, c in enumerate(crops) if c is None]
    plain = {k: [v[i] for i in whole] if isinstance(v, list) else v for k, v in meta.items() if k != "crops"}
    sub = score_batch(loaded, images[whole], plain, top_k, video_rows, closer) if whole else Scored([], [], [], [], [])
    boxed = [i for i, c in enumerate(crops) if c is not None and c >= 0 and ok[i]]
    tops: dict[int, tuple[list[int], list[float]]] = {}
    if boxed:
        size = loaded.preprocessing.input_size
        conf, idx = rank(loaded.infer(images[boxed, :size, :size].contiguous()), loaded.labels, top_k)
        tops = dict(zip(boxed, zip(idx.cpu().tolist(), conf.cpu().tolist())))
    out = Scored([], [], [], [], [], files_ok=sub.files_ok, clips=sub.clips, frames=sub.frames)
    out.windows = sub.windows + len(boxed)
    taken, i = 0, 0
    while i < len(paths):
        j = i + 1
        while j < len(paths) and paths[j] == paths[i] and (crops[j] is None) == (crops[i] is None):
            j += 1
        if crops[i] is None:  # not listed: its rows as the view answered them
            while taken < len(sub.paths) and split_frame_path(sub.paths[taken], sub.frame_s[taken]) == paths[i]:
                _add(out, *(getattr(sub, f)[taken] for f in _ROW_FIELDS))
                taken += 1
        else:
            good = all(ok[i:j])
            error = next((e for e in errors[i:j] if e), "")
            _add(
                out,
                paths[i],
                good,
                error,
                [],
                [],
                "",
                crops=[tops[r] for r in range(i, j) if crops[r] >= 0] if good else None,
            )
            out.files_ok += good
        i = j
    return out


_ROW_FIELDS = ("paths", "ok", "errors", "idx", "conf", "frame_s", "boxes", "animal_scores")


def _clip_budget(answers: list[Look | None], paths: list[str], frames: list[float | None]) -> None:
    """A clip looks closer at its ``TOP_FRAMES`` frames with the strongest evidence only (its
    answer is made of its best frames; decoding a clip's frame again means seeking in it); its
    other unsure frames are answered without (so, as any unconfirmed candidate, no animal)."""
    clips: dict[str, list[int]] = {}
    for i, (path, t) in enumerate(zip(paths, frames)):
        if t is not None and answers[i] is not None and answers[i].closer:
            clips.setdefault(path, []).append(i)
    for rows in clips.values():
        rows.sort(key=lambda i: -(answers[i].animal_score or 0.0))
        for i in rows[TOP_FRAMES:]:
            answers[i].closer = []


def _closer_looks(
    loaded: LoadedModel,
    requests: list[tuple[int, Box]],
    paths: list[str],
    frames: list[float | None],
    closer: Closer | None,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The closer looks' (logits, cells), one model call for all of them; None where the square
    could not be decoded again (the file changed or went: the first look answers alone)."""
    import numpy as np
    import torch

    if closer is None or not requests:
        return [None] * len(requests)
    arrays: list[np.ndarray | None] = []
    for i, square in requests:
        try:
            arrays.append(closer(paths[i], frames[i], square))
        except Exception:  # a file that vanished or changed since its first look
            arrays.append(None)
    kept = [k for k, a in enumerate(arrays) if a is not None]
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(requests)
    if kept:
        x = torch.from_numpy(np.stack([arrays[k] for k in kept])).to(loaded.device)
        logits, cells = loaded.look(x)
        for n, k in enumerate(kept):
            out[k] = (logits[n], cells[n])
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
    score: float | None = None,
    crops: list[tuple[list[int], list[float]]] | None = None,
) -> None:
    out.crops.append(crops)
    out.paths.append(path)
    out.ok.append(ok)
    out.errors.append(error)
    out.idx.append(idx)
    out.conf.append(conf)
    out.frame_s.append(frame_s)
    out.boxes.append(box)
    out.animal_scores.append(score)


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
    order = [best] + [j for j in score.argsort(descending=True).tolist() if j != best and j not in labels.excluded]
    chosen = order[:top_k]
    return [float(score[j]) for j in chosen], chosen, int(probs[:, best].argmax())
