"""How ``--view frame`` and ``tiles`` answer: one look at the whole frame, then a closer look
where it is needed. Numpy only: every engine (local, Ray, in-memory) calls it on the model's
cell logits.

The first look is one forward pass over the frame at its own aspect ratio (``views.
first_look_size``); the model's last feature map is kept as per-cell class logits (``cells``:
h × w × K: the head applied to each cell alone). For a head of global pooling + a linear layer
(EfficientNet, ResNet, every fine-tuned model) their mean *is* the frame's logits: the class
activation map decomposes the answer exactly.

  A frame's own answer is the head on its pooled map, exactly as for a centre crop.
- **Evidence** per cell: the log-odds that it shows an animal, ``logsumexp`` of the animal
  classes' logits minus that of the other classes' (``evidence``). Its peak (``animal_score``)
  separates frames with an animal from empty ones far better than the frame's own answer.
  The classes of labels left out by ``--only``/``--exclude`` count too: an animal the lists
  leave out is still an animal (its probability goes to the other animal labels, ``Labels.probs``),
  so the lists never change the evidence, the candidates or their boxes (only which animal the
  answer names, and how sure it is of it).
- **The box** around the animal: the cells connected to the peak whose evidence reaches
  ``LookRule.box_level`` of the way from the frame's median to the peak, on the map upsampled
  ``UPSAMPLE`` times (bilinear), as fractions of the frame; further peaks that reach
  ``LookRule.seen`` outside it are further animals (``Look.boxes``).
- **Tiles**: ``--view tiles`` spends more closer looks where the map is too coarse to point at a
  small animal: after the candidate's square, squares of ``tile`` × the shorter side from a
  grid over the frame, the ones with the most evidence first (``tiles_by_evidence``).
- **The decision**: no candidate (peak below ``seen``) → ``no_animal``, answered with the frame's
  probabilities. A candidate the frame already names (animals ≥ 0.5 of the frame, and its most
  probable animal label ≥ ``sure`` or the candidate's box ≥ ``big`` of the frame: a large animal
  is seen at full resolution already) → the answer of the cells under its box (pooled: what the
  model says of that part of the frame; on animals-dev more often right, and surer when right,
  than the whole frame's answer, whose background dilutes it). Otherwise a closer look:
  squares around the box at each of ``contexts`` times its size, then around further
  candidates (``views.closer_box``), decoded from the file at the resolution they need, at most
  ``budget`` a frame; an animal when a closer look sees one with probability ≥
  ``agree`` (its label and probabilities are the answer), else when the peak reaches ``keep``
  (the frame's answer), else ``no_animal``.
- **Honest numbers**: the row's probabilities are those of the look it reports (the frame's or
  the closer look's), its confidence the probability of its label there; ``animal_score`` (the
  peak) is written beside them, so a ``no_animal`` row whose frame still gave an animal label
  some probability says why.

Labels without ``no_animal`` (a fine-tuned model's own, or ``--labels imagenet``) answer with the
frame's probabilities; the box is where the chosen label's evidence is.

The constants of ``RULES`` were fitted on one half of the whole-frame benchmark's frames and
reported on the other (``benchmarks/whole_frame.py --fit``; docs/benchmarks/accuracy.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from animalsort.sources.views import Box, closer_box
from animalsort.taxonomy import LabelSet, animal_wins

UPSAMPLE = 4  # the evidence map is upsampled this many times before the box is drawn


@dataclass(frozen=True)
class LookRule:
    """The constants of one view mode's decision (see the module's docstring)."""

    seen: float  # evidence peak (log-odds) from which the first look has a candidate
    sure: float  # the frame's most probable animal label from which it answers alone
    big: float  # … or the candidate's box area (share of the frame) from which it answers alone
    agree: float  # a closer look's animal probability from which it confirms an animal
    keep: float  # failing that, the peak from which the candidate stays an animal
    contexts: tuple[float, ...]  # closer looks' sides around the candidate, as multiples of its box's longer side
    least: float  # … at least this share of the frame's shorter side
    most: float  # … at most this share
    budget: int  # closer looks a frame, at most
    box_level: float = 0.2  # the box: cells this far from the median to the peak
    tile: float = 0.0  # > 0: after the candidates, grid squares of this share of the shorter side

    def record(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


#: Fitted with ``benchmarks/fit_look.py`` (lite0) on the fit half of the whole-frame benchmark:
#: the rule with the most animals of 5% and 10% of the frame found, among those with empty
#: frames called an animal ≤ 5%, people photos all no_animal, natural photos of animals no worse
#: than the centre crop, and closer looks on ≤ 15% of natural photos (what keeps ordinary photos
#: near the centre crop's speed). ``tiles``: up to five closer looks — the candidate's square,
#: then squares of 0.4 × the shorter side with the most evidence (where the evidence map is too
#: coarse to point at a small animal, a square that holds it still has some) — confirmed by a
#: surer closer look (0.8). ``keep`` = 99: a candidate the closer look does not confirm is never
#: kept (every rule that kept one called more empty frames animals).
RULES = {
    "frame": LookRule(
        seen=5.0, sure=0.4, big=0.3, agree=0.7, keep=99.0, contexts=(1.5,), least=0.25, most=0.6, budget=1
    ),
    "tiles": LookRule(
        seen=5.0,
        sure=0.6,
        big=0.3,
        agree=0.8,
        keep=99.0,
        contexts=(1.5,),
        least=0.25,
        most=0.6,
        budget=5,
        tile=0.4,
    ),
}


#: The method's name in a CSV's sidecar (``look``): a resumed run must answer as the run it
#: continues did, so a run made with another method (or other constants) is not resumed.
METHOD = "whole frame once, closer where needed (looking.py)"


def method_record(view: str) -> dict[str, object]:
    """What the sidecar records of how ``view`` answered."""
    return {"method": METHOD, "view": view, "rule": RULES[view].record()}


@dataclass
class Look:
    """One frame's answer: label probabilities, whether it shows an animal, the animal's box
    (and those of further animals), the evidence peak, and the closer looks it still needs."""

    probs: np.ndarray  # L label probabilities: the frame's, or the closer look's that decided
    animal: bool
    box: Box | None = None
    boxes: list[Box] = field(default_factory=list)  # every animal's box, the deciding one first
    animal_score: float | None = None  # the evidence peak (None: labels without no_animal)
    closer: list[Box] = field(default_factory=list)  # squares to look closer at (fractions of the frame)
    looked_closer: int = 0
    decided_by: Box | None = None  # the closer look's square that gave the answer (None: the first look)
    pooled: Box | None = None  # the first look's box whose cells gave the answer (None: the whole frame)


class Labels:
    """What the rule needs of a label set: the K → L aggregation and which classes are animals."""

    def __init__(self, labels: LabelSet, num_outputs: int):
        self.set = labels
        self.no_animal = labels.no_animal
        self.matrix: np.ndarray | None = None
        self.animal_classes = self.other_classes = np.arange(0)
        if labels.members is not None:
            self.matrix = np.zeros((num_outputs, len(labels.labels)), dtype=np.float32)
            for j, idx in enumerate(labels.members):
                self.matrix[list(idx), j] = 1.0
        if self.no_animal is not None and labels.members is not None:
            others = np.array(sorted(labels.members[self.no_animal]))
            self.other_classes = others
            self.animal_classes = np.setdiff1d(np.arange(num_outputs), others)

    def probs(self, logits: np.ndarray) -> np.ndarray:
        """Label probabilities of (…, K) logits: softmax, then each label's members summed (the
        labels left out by --only/--exclude given to the others: ``LabelSet.renormalised``)."""
        z = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=-1, keepdims=True)
        return self.set.renormalised(p @ self.matrix if self.matrix is not None else p)

    def animal_share(self, probs: np.ndarray) -> float:
        return 1.0 - float(probs[self.no_animal]) if self.no_animal is not None else 1.0

    def shows_animal(self, probs: np.ndarray) -> bool:
        """Whether classify's first answer for these label probabilities is an animal (``taxonomy.animal_wins``)."""
        return self.no_animal is None or bool(animal_wins(float(probs[self.no_animal])))

    def best_animal(self, probs: np.ndarray) -> float:
        """The most probable animal label's probability."""
        if self.no_animal is None:
            return float(probs.max())
        return float(np.delete(probs, self.no_animal).max())


def _logsumexp(z: np.ndarray, axis: int) -> np.ndarray:
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def evidence(cells: np.ndarray, labels: Labels, label: int | None = None) -> np.ndarray:
    """h × w log-odds that each cell shows an animal (labels with ``no_animal``), or the
    log-probability of ``label`` (the frame's own answer) in each cell (labels without it)."""
    if labels.no_animal is not None and len(labels.animal_classes):
        return _logsumexp(cells[..., labels.animal_classes], -1) - _logsumexp(cells[..., labels.other_classes], -1)
    if label is None:
        label = int(labels.probs(cells.mean(axis=(0, 1))).argmax())
    return np.log(np.maximum(labels.probs(cells)[..., label], 1e-12))


def upsampled(grid: np.ndarray, times: int = UPSAMPLE) -> np.ndarray:
    """``grid`` (h × w) bilinearly upsampled ``times`` (cell centres kept where they are)."""
    h, w = grid.shape

    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n * times) + 0.5) / times - 0.5
        lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
        hi = np.clip(lo + 1, 0, n - 1)
        return lo, hi, np.clip(pos - lo, 0.0, 1.0)

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    rows = grid[y0] * (1 - fy)[:, None] + grid[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx)[None, :] + rows[:, x1] * fx[None, :]


def _component(mask: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """The 4-connected component of ``mask`` holding ``start``."""
    seen = np.zeros_like(mask)
    seen[start] = True
    queue = deque([start])
    h, w = mask.shape
    while queue:
        y, x = queue.popleft()
        for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                seen[yy, xx] = True
                queue.append((yy, xx))
    return seen


def animal_boxes(grid: np.ndarray, level: float, seen: float, most: int = 8) -> list[Box]:
    """Boxes (x, y, w, h as fractions) of the separate peaks of ``grid``: the strongest first,
    then each further peak whose cell reaches ``seen`` outside the boxes found so far."""
    up = upsampled(grid, UPSAMPLE)
    floor = float(np.median(grid))
    free = np.ones(up.shape, dtype=bool)
    out: list[Box] = []
    while len(out) < most:
        values = np.where(free, up, -np.inf)
        peak = np.unravel_index(int(values.argmax()), up.shape)
        top = float(up[peak])
        if out and grid[peak[0] // UPSAMPLE, peak[1] // UPSAMPLE] < seen:  # the cell's own evidence
            break
        region = _component(free & (up >= floor + level * (top - floor)), peak)
        ys, xs = np.nonzero(region)
        H, W = up.shape
        out.append((xs.min() / W, ys.min() / H, (xs.max() + 1 - xs.min()) / W, (ys.max() + 1 - ys.min()) / H))
        free &= ~_grown(region, UPSAMPLE)
        if not free.any():
            break
    return out


def _grown(region: np.ndarray, by: int) -> np.ndarray:
    """``region`` grown by ``by`` pixels in every direction (its neighbourhood is the same animal)."""
    out = region.copy()
    for _ in range(by):
        out[1:] |= out[:-1]
        out[:-1] |= out[1:]
        out[:, 1:] |= out[:, :-1]
        out[:, :-1] |= out[:, 1:]
    return out


@dataclass
class Seen:
    """What a first look saw, before any threshold but ``seen`` decides: the frame's label
    probabilities, its evidence peak (None: labels without ``no_animal``) and the animals' boxes."""

    probs: np.ndarray
    peak: float | None
    boxes: list[Box]
    evidence: np.ndarray | None = None  # h × w (labels with no_animal): where ``tile`` squares look
    box_probs: np.ndarray | None = None  # the label probabilities of the cells under the first box


def see(logits: np.ndarray, cells: np.ndarray, labels: Labels, rule: LookRule) -> Seen:
    """The first look at one frame (``logits``: its K class logits; ``cells``: h × w × K)."""
    probs = labels.probs(logits)
    grid = evidence(cells, labels, int(probs.argmax()))
    if labels.no_animal is None:
        return Seen(probs, None, animal_boxes(grid, rule.box_level, np.inf, most=1))
    peak = float(grid.max())
    if peak < rule.seen:
        return Seen(probs, peak, [], grid)
    boxes = animal_boxes(grid, rule.box_level, rule.seen)
    return Seen(probs, peak, boxes, grid, labels.probs(under(cells, boxes[0]).mean(axis=0)))


def under(cells: np.ndarray, box: Box) -> np.ndarray:
    """The logits of the cells ``box`` (fractions of the frame) covers, one row per cell: pooled,
    they are the answer for that part of the frame (the head is pooling + linear). ``cells``:
    h × w × K, numpy or torch (explain pools them with gradients)."""
    h, w = cells.shape[:2]
    x, y, bw, bh = box
    r0, c0 = min(int(y * h), h - 1), min(int(x * w), w - 1)
    r1, c1 = max(r0 + 1, int(np.ceil((y + bh) * h - 1e-9))), max(c0 + 1, int(np.ceil((x + bw) * w - 1e-9)))
    return cells[r0:r1, c0:c1].reshape(-1, cells.shape[-1])


def decide(seen: Seen, labels: Labels, rule: LookRule, size: tuple[int, int]) -> Look:
    """The first look's answer (``size``: the frame's width and height in pixels, for the
    closer looks' squares); ``Look.closer`` lists the squares still to look at."""
    if seen.peak is None:
        return Look(seen.probs, True, seen.boxes[0], seen.boxes)
    if seen.peak < rule.seen:
        return Look(seen.probs, False, animal_score=seen.peak)
    look = Look(seen.probs, True, seen.boxes[0], list(seen.boxes), seen.peak)
    if labels.shows_animal(seen.probs) and (
        labels.best_animal(seen.probs) >= rule.sure or seen.boxes[0][2] * seen.boxes[0][3] >= rule.big
    ):
        if seen.box_probs is not None and labels.shows_animal(seen.box_probs):
            look.probs, look.pooled = seen.box_probs, seen.boxes[0]  # the answer for the animal's part
        return look
    look.closer = closer_squares(seen.boxes, size, rule, seen.evidence)
    return look


def closer_squares(
    boxes: list[Box], size: tuple[int, int], rule: LookRule, grid: np.ndarray | None = None
) -> list[Box]:
    """The squares to look closer at, at most ``budget``: around the strongest candidate at each
    of ``contexts`` (a small animal at several scales), then around the further candidates, then
    (``tile`` > 0) the squares of a grid over the frame with the most evidence in them."""
    w, h = size
    wanted = [closer_box(boxes[0], w, h, c, rule.least, rule.most) for c in rule.contexts]
    wanted += [closer_box(b, w, h, rule.contexts[0], rule.least, rule.most) for b in boxes[1:]]
    if rule.tile > 0 and grid is not None:
        wanted += tiles_by_evidence(grid, size, rule.tile)
    return list(dict.fromkeys(wanted))[: rule.budget]  # a square clipped to the same size: looked at once


def tiles_by_evidence(grid: np.ndarray, size: tuple[int, int], side: float) -> list[Box]:
    """Squares of ``side`` × the frame's shorter side over the whole frame, neighbours sharing a
    quarter of their side, strongest evidence first (each scored by its best cell)."""
    w, h = size
    tile = side * min(w, h)

    def starts(length: float) -> list[float]:
        n = max(1, int(np.ceil((length - tile) / (0.75 * tile) - 1e-9)) + 1)
        return [(length - tile) * i / (n - 1) for i in range(n)] if n > 1 else [(length - tile) / 2]

    rows, cols = grid.shape
    scored = []
    for y in starts(h):
        for x in starts(w):
            r0, r1 = int(y / h * rows), max(int(y / h * rows) + 1, int(np.ceil((y + tile) / h * rows)))
            c0, c1 = int(x / w * cols), max(int(x / w * cols) + 1, int(np.ceil((x + tile) / w * cols)))
            scored.append((float(grid[r0:r1, c0:c1].max()), (x / w, y / h, tile / w, tile / h)))
    scored.sort(key=lambda t: -t[0])
    return [square for _, square in scored]


def first_look(logits: np.ndarray, cells: np.ndarray, labels: Labels, rule: LookRule, size: tuple[int, int]) -> Look:
    """``decide`` on what ``see`` saw: the first look's answer for one frame."""
    return decide(see(logits, cells, labels, rule), labels, rule, size)


def closer_look(look: Look, crops: list[tuple[np.ndarray, np.ndarray]], labels: Labels, rule: LookRule) -> Look:
    """The answer once the closer looks are back (``crops``: each one's (K logits, h × w × K
    cells), in the order of ``look.closer``): the most confident one that sees an animal
    decides, with its box drawn on its own map; else the first look's candidate stays when its
    peak reaches ``keep``; else no animal."""
    look.looked_closer = len(crops)
    best: tuple[float, int, np.ndarray] | None = None
    for i, (logits, _) in enumerate(crops):
        probs = labels.probs(logits)
        if labels.animal_share(probs) >= rule.agree and (best is None or labels.best_animal(probs) > best[0]):
            best = (labels.best_animal(probs), i, probs)
    if best is not None:
        _, i, probs = best
        square = look.closer[i]
        inner = animal_boxes(evidence(crops[i][1], labels, int(probs.argmax())), rule.box_level, np.inf, most=1)[0]
        look.probs, look.animal, look.decided_by = probs, True, square
        look.box = (
            square[0] + inner[0] * square[2],
            square[1] + inner[1] * square[3],
            inner[2] * square[2],
            inner[3] * square[3],
        )
        look.boxes = [look.box] + [b for j, b in enumerate(look.boxes) if j != i]
        return look
    if look.animal_score is not None and look.animal_score >= rule.keep and labels.shows_animal(look.probs):
        return look
    look.animal, look.box, look.boxes = False, None, []
    return look
