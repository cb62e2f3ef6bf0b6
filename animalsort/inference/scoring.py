"""A decoded batch → the model → the rows' predictions, for every engine (local, Ray, in-memory): ``Scorer``.

Photos get their top-k labels (``taxonomy.rank``): of the centre crop, or with ``--view frame``
/ ``tiles`` of the answer ``looking`` gives from a first look at the whole frame and, where it
asks for them, closer looks (``look_batch``). A clip's sampled frames are consecutive
rows of one batch; they become one answer for the clip (``--video-rows videos``) or one
answer per frame (``frames``, paths ``clip.mp4#t=12.00``).

With ``--detections`` (``BatchRows.crops``) a listed file's animal boxes are classified from their
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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from animalsort.formats.predictions import Prediction, frame_path
from animalsort.sources.views import Box

if TYPE_CHECKING:
    import numpy as np
    import torch

    from animalsort.inference.looking import Look
    from animalsort.model.runner import LoadedModel
    from animalsort.taxonomy import LabelSet

TOP_FRAMES = 3  # a label's clip score is its mean probability over this many of its best frames


@dataclass
class BatchRows:
    """What scoring needs of a batch besides its pixels, one entry per image row (picklable:
    Ray ships it from the decode tasks to the model). ``paths``: relative to the source folder
    (a clip's frames repeat its path); ``ok`` / ``errors``: whether a row decoded, else why not;
    ``frames``: a clip frame's time in seconds (None for photos). With ``--view frame`` or
    ``tiles`` (``looks``, ``view``): each row is one first look at a whole photo (or clip frame),
    padded to the batch's largest: its own size in the images and the frame's decoded size,
    (look width, look height, frame width, frame height); None for a failed row. With
    ``--detections`` (``crops``): the number of the listed file's detection the row is the crop
    of, -1 for a listed file's one row without pixels (no animal box, or why it has none), None
    for a file the JSON does not list (decoded as without detections)."""

    paths: list[str]
    ok: list[bool]
    errors: list[str]
    frames: list[float | None] = field(default_factory=list)
    looks: list[tuple[int, int, int, int] | None] | None = None
    view: str = "centre"
    crops: list[int | None] | None = None

    def __post_init__(self) -> None:
        if not self.frames:
            self.frames = [None] * len(self.paths)

    def only(self, rows: list[int]) -> BatchRows:
        """These rows alone (and without ``crops``: what scoring makes of a batch's unlisted files)."""
        looks = [self.looks[i] for i in rows] if self.looks is not None else None
        pick = [self.paths[i] for i in rows], [self.ok[i] for i in rows], [self.errors[i] for i in rows]
        return BatchRows(*pick, [self.frames[i] for i in rows], looks, self.view)


@dataclass
class Scored:
    """One batch's outcome, whatever engine produced it (picklable: Ray ships it back): an
    :class:`Prediction` per output row, and what the summary counts."""

    predictions: list[Prediction]
    windows: int = 0  # images the model saw for these rows (first looks, closer looks, a clip's frames)
    files_ok: int = -1  # files classified (a clip once, whatever its rows); -1: every ok row is a file
    clips: int = 0  # of those, video clips
    frames: int = 0  # the clips' sampled frames

    def __post_init__(self) -> None:
        if self.files_ok < 0:
            self.files_ok = sum(a.ok for a in self.predictions)

    @property
    def failed(self) -> int:
        return sum(not a.ok for a in self.predictions)


#: A closer look's pixels: (path, clip frame time or None, square as fractions of the frame) →
#: the model's uint8 input (``ImageStream.closer``).
Closer = Callable[[str, "float | None", Box], "np.ndarray"]


@dataclass(frozen=True)
class Scorer:
    """What every batch of a run is scored with: the model, the labels a row carries
    (``top_k``), a clip's rows (``videos``: one for the clip, ``frames``: one per frame), and the
    decoder of closer looks (None: none are taken). Each engine makes one and calls it per batch."""

    loaded: LoadedModel
    top_k: int
    video_rows: str = "videos"
    closer: Closer | None = None

    def __call__(self, images: torch.Tensor, rows: BatchRows) -> Scored:
        """A decoded batch (uint8 NHWC on the model's device) → its predictions."""
        if rows.crops is not None:
            return _score_detected(self, images, rows)
        return _score(self, images, rows)


def _score(scorer: Scorer, images: torch.Tensor, rows: BatchRows) -> Scored:
    """A batch without detections: first looks at whole frames (``rows.looks``) are answered by
    ``looking``, with closer looks decoded by ``scorer.closer``; centre crops by the model alone."""
    from animalsort.taxonomy import rank

    loaded, top_k = scorer.loaded, scorer.top_k
    paths, ok, errors, frames = rows.paths, rows.ok, rows.errors, rows.frames
    if not any(ok):
        return Scored([Prediction(p, False, e) for p, e in zip(paths, errors)])
    if rows.looks is not None:
        answers = look_batch(loaded, images, rows, scorer.closer)
    else:
        answers = _Answers(loaded.infer(images), None, [None] * len(paths), [None] * len(paths), len(paths))
    probs, animal, boxes, scores = answers.probs, answers.animal, answers.boxes, answers.scores
    conf_t, idx_t = rank(probs, loaded.labels, top_k, animal)
    conf, idx = conf_t.cpu().tolist(), idx_t.cpu().tolist()

    def answer(i: int, path: str, frame_s: float | None = None) -> Prediction:
        """Row ``i``'s own answer (a photo, or a clip's frame as a row of its own)."""
        if not ok[i]:
            return Prediction(path, False, errors[i])
        return Prediction(path, True, "", tuple(idx[i]), tuple(conf[i]), frame_s, boxes[i], scores[i])

    if all(t is None for t in frames):
        return Scored([answer(i, p) for i, p in enumerate(paths)], windows=answers.windows)
    out = Scored([], files_ok=0, windows=answers.windows)
    for i, j in _files(paths, frames):
        out.files_ok += ok[i]
        if frames[i] is None or not ok[i]:
            out.predictions.append(answer(i, paths[i]))
            continue
        times = [float(t or 0.0) for t in frames[i:j]]
        out.clips += 1
        out.frames += len(times)
        if scorer.video_rows == "frames":
            out.predictions += [answer(r, frame_path(paths[r], t), t) for r, t in zip(range(i, j), times)]
        else:
            decided = animal[i:j] if animal is not None else None
            c, k, best = clip_answer(probs[i:j], times, loaded.labels, top_k, decided)
            peak = max((v for v in scores[i:j] if v is not None), default=None)
            out.predictions.append(
                Prediction(paths[i], True, "", tuple(k), tuple(c), times[best], boxes[i + best], peak)
            )
    return out


def _files(paths: list[str], frames: list[float | None]) -> Iterator[tuple[int, int]]:
    """The batch's files as row ranges [i, j): a photo one row, a clip its consecutive frames."""
    i = 0
    while i < len(paths):
        j = i + 1
        if frames[i] is not None:
            while j < len(paths) and paths[j] == paths[i] and frames[j] is not None:
                j += 1
        yield i, j
        i = j


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


def look_batch(loaded: LoadedModel, images: torch.Tensor, rows: BatchRows, closer: Closer | None) -> _Answers:
    """First looks at the batch's frames, then the closer looks they ask for (``looking``)."""
    import numpy as np
    import torch

    from animalsort.inference.looking import RULES, Labels, closer_look, first_look

    rule, looks = RULES[rows.view], rows.looks or []
    seen = run_looks(loaded, images, looks)
    outputs = next(out[0].shape[-1] for out in seen if out is not None)
    labels = Labels(loaded.labels, outputs)
    answers = [
        first_look(out[0], out[1], labels, rule, (size[2], size[3])) if out is not None and size is not None else None
        for out, size in zip(seen, looks)
    ]
    paths, frames = rows.paths, rows.frames
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


def _score_detected(scorer: Scorer, images: torch.Tensor, rows: BatchRows) -> Scored:
    """A ``--detections`` batch (``rows.crops``) → one answer per listed file with each animal
    crop's top-k (every crop of the batch in one model call: a crop is the model's own square
    input), and the predictions of the files the JSON does not list as they are without
    detections, all in the batch's order."""
    from animalsort.taxonomy import rank

    paths, ok, errors, crops = rows.paths, rows.ok, rows.errors, rows.crops or []
    whole = [i for i, c in enumerate(crops) if c is None]
    loaded = scorer.loaded
    sub = _score(scorer, images[whole], rows.only(whole)) if whole else Scored([])
    boxed = [i for i, c in enumerate(crops) if c is not None and c >= 0 and ok[i]]
    tops: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {}
    if boxed:
        size = loaded.preprocessing.input_size
        conf, idx = rank(loaded.infer(images[boxed, :size, :size].contiguous()), loaded.labels, scorer.top_k)
        tops = {r: (tuple(k), tuple(c)) for r, k, c in zip(boxed, idx.cpu().tolist(), conf.cpu().tolist())}
    out = Scored([], files_ok=sub.files_ok, clips=sub.clips, frames=sub.frames, windows=sub.windows + len(boxed))
    unlisted = iter(sub.predictions)
    taken: Prediction | None = next(unlisted, None)
    i = 0
    while i < len(paths):
        j = i + 1
        while j < len(paths) and paths[j] == paths[i] and (crops[j] is None) == (crops[i] is None):
            j += 1
        if crops[i] is None:  # not listed: its rows as the view answered them
            while taken is not None and taken.file == paths[i]:
                out.predictions.append(taken)
                taken = next(unlisted, None)
        elif all(ok[i:j]):
            out.predictions.append(Prediction(paths[i], crops=tuple(tops[r] for r in range(i, j) if r in tops)))
            out.files_ok += 1
        else:
            out.predictions.append(Prediction(paths[i], False, next((e for e in errors[i:j] if e), "")))
        i = j
    return out


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
