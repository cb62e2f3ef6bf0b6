"""Where the model looks in a frame: the view modes, the first look's size and the closer
look's square around a candidate, as geometry only (no pixels, no numpy: the command line
reads the mode names from here without loading anything).

``centre`` is the ImageNet evaluation crop. ``frame`` and ``tiles`` look at the whole frame
once, at its own aspect ratio (``first_look_size``), then closer at a candidate that is small
or uncertain (``closer_box``: a square around it, decoded from the file at the resolution it
needs); ``tiles`` may look closer more times a frame. The rule that decides is
``inference/looking.py``; what it was measured on, ``benchmarks/whole_frame.py`` (docs/benchmarks/accuracy.md).
"""

from __future__ import annotations

#: How classify looks at a frame: ``centre``, the ImageNet evaluation window (the shorter side's
#: centre); ``frame``, the whole frame once, then one closer look where needed; ``tiles``, the
#: same with up to three closer looks and lower thresholds (small, far animals).
VIEW_MODES = ("centre", "frame", "tiles")
#: The backbone's output stride: a first look's sides are multiples of it, so each cell of the
#: last feature map is one STRIDE×STRIDE square of the frame (and "same" padding is the same
#: for every such size, which is what lets one exported graph take them all).
STRIDE = 32
MAX_ASPECT = 3.0  # a first look is at most this long for its height (a panorama's rest is squeezed)
Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the frame


def look_side(input_size: int) -> int:
    """The first look's shorter side for a model of ``input_size``: that size, on the STRIDE grid
    (pooling a feature map larger than the model was trained on loses the animal: the global
    answer is only sound at the model's own scale)."""
    return max(STRIDE, round(input_size / STRIDE) * STRIDE)


def first_look_size(w: int, h: int, side: int) -> tuple[int, int]:
    """(width, height) a ``w``×``h`` frame is resized to for the first look: the shorter side
    ``side``, the longer one the frame's aspect on the STRIDE grid (a little stretched or
    squeezed to fit it, at most 1/2 STRIDE), at most ``MAX_ASPECT`` times ``side``."""
    short, long = min(w, h), max(w, h)
    cells = round(side * min(long / max(short, 1), MAX_ASPECT) / STRIDE)
    along = max(side, cells * STRIDE)
    return (along, side) if w >= h else (side, along)


def closer_box(box: Box, w: int, h: int, context: float, least: float, most: float) -> Box:
    """The square a closer look crops around ``box`` (x, y, w, h as fractions of a ``w``×``h``
    frame): its side ``context`` times the box's longer side, kept between ``least`` and ``most``
    of the frame's shorter side, centred on the box and moved (not cut) to stay inside the
    frame. Returned as fractions of the frame."""
    short = min(w, h)
    bx, by, bw, bh = box
    side = context * max(bw * w, bh * h)
    side = min(max(side, least * short), most * short, short)
    cx, cy = (bx + bw / 2) * w, (by + bh / 2) * h
    left = min(max(cx - side / 2, 0.0), w - side)
    top = min(max(cy - side / 2, 0.0), h - side)
    return (left / w, top / h, side / w, side / h)


def detection_square(box: Box, w: int, h: int) -> Box:
    """The square a detector's box (x, y, w, h as fractions of a ``w``×``h`` frame) is classified
    through, as MegaDetector's crop classifiers cut it (``save_crop`` with ``square_crop`` in
    ``megadetector/classification/crop_detections.py``): its side the box's longer side, centred
    on the box, moved to stay inside the frame; where the frame is narrower than the square (a
    tall box in a portrait frame) the square reaches past it equally on both sides, and that
    part is black (MegaDetector pads such a crop to a square with 0s). Fractions of the frame:
    below 0 or above 1 where the square reaches past it."""
    bx, by, bw, bh = box
    side = max(bw * w, bh * h, 1.0)

    def start(centre: float, length: int) -> float:
        return min(max(centre - side / 2, 0.0), length - side) if side <= length else (length - side) / 2

    left, top = start((bx + bw / 2) * w, w), start((by + bh / 2) * h, h)
    return (left / w, top / h, side / w, side / h)
