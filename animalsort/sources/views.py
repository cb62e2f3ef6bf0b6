"""Where the model looks in a frame: the view modes and their windows, as geometry only (no
pixels, no numpy: the command line reads the mode names from here without loading anything).

Measured on the whole-frame benchmark (``benchmarks/whole_frame.py``, README): the centre
window alone misses off-centre and small animals; windows across the frame find off-centre
ones; tiles at twice the resolution find small ones, at the cost of more windows.
"""

from __future__ import annotations

import math

#: How classify looks at a frame: ``centre``, the ImageNet evaluation window (the shorter side's
#: centre); ``frame``, windows of the same size along the longer side that together cover the
#: whole frame (left / centre / right on a 16:9 frame); ``tiles``, those plus a grid of
#: overlapping windows half the frame's height, seen at twice the resolution (small animals).
VIEW_MODES = ("centre", "frame", "tiles")
#: The most windows a photo gets in each mode (a batch is cut by images, so a photo weighs this).
MAX_VIEWS = {"centre": 1, "frame": 5, "tiles": 5 + 15}
TILE_SIDE = 0.5  # a tile's side, as a fraction of the frame's shorter side
TILE_OVERLAP = 0.25  # neighbouring tiles share this much of their side
Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the frame


def view_boxes(w: int, h: int, mode: str, centre: tuple[float, float, float, float]) -> list[tuple[float, ...]]:
    """The windows (left, top, right, bottom in pixels) of a ``w``×``h`` frame for ``mode``;
    the first is always ``centre`` (the evaluation window), so ``centre`` mode is today's answer."""
    if mode not in VIEW_MODES:
        raise ValueError(f"unknown view mode {mode!r}; modes: {', '.join(VIEW_MODES)}")
    boxes: list[tuple[float, ...]] = [centre]
    if mode == "centre":
        return boxes
    side = centre[2] - centre[0]
    for box in _along(w, h, side, MAX_VIEWS["frame"] - 1):
        if max(abs(a - b) for a, b in zip(box, centre)) > 0.1 * side:
            boxes.append(box)
    if mode == "tiles":
        tile = min(w, h) * TILE_SIDE
        boxes += _grid(w, h, tile, MAX_VIEWS["tiles"] - MAX_VIEWS["frame"])
    # float noise (a crop as wide as the frame) must not put a window a hair outside it
    return [boxes[0]] + [(max(0.0, a), max(0.0, b), min(float(w), c), min(float(h), d)) for a, b, c, d in boxes[1:]]


def _along(w: int, h: int, side: float, most: int) -> list[tuple[float, float, float, float]]:
    """Windows of ``side`` from one end of the longer axis to the other (centred across it),
    as few as cover it, at most ``most``."""
    long, short = max(w, h), min(w, h)
    if long - side < 1:
        return []
    count = min(most, math.ceil((long - side) / side - 1e-9) + 1)
    across = (short - side) / 2
    starts = [(long - side) * i / (count - 1) for i in range(count)] if count > 1 else [(long - side) / 2]
    if w >= h:
        return [(s, across, s + side, across + side) for s in starts]
    return [(across, s, across + side, s + side) for s in starts]


def _grid(w: int, h: int, tile: float, most: int) -> list[tuple[float, float, float, float]]:
    """Square tiles of side ``tile`` over the whole frame, neighbours overlapping by
    ``TILE_OVERLAP`` of a side (a little more where the frame does not divide evenly)."""

    def count(length: int) -> int:
        return max(1, math.ceil((length - tile) / (tile * (1 - TILE_OVERLAP)) - 1e-9) + 1)

    def starts(length: int, n: int) -> list[float]:
        return [(length - tile) * i / (n - 1) for i in range(n)] if n > 1 else [(length - tile) / 2]

    across, down = count(w), count(h)
    while across * down > most:  # a panorama: fewer, wider-spaced tiles along its length, none dropped at an end
        if across >= down:
            across -= 1
        else:
            down -= 1
    return [(x, y, x + tile, y + tile) for y in starts(h, down) for x in starts(w, across)]
