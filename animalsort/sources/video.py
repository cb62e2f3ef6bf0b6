"""Video clips as frames for the model: which times to sample, and decoding them (torch-free).

Decoding is PyAV's (FFmpeg bundled in its wheels, so it works on a bare machine and in every
DataLoader worker; torchcodec needs a system FFmpeg). A clip is sampled every ``every``
seconds from its start (0, 1, 2 … s); a clip longer than ``max_frames × every`` is sampled at
``max_frames`` evenly spaced times instead, so a long phone video costs at most that many
frames. Frames come back upright (the display matrix phones write is applied) as RGB images.
Times are the frames' own presentation times from the clip's start, which is what a player
shows, and what ``frame_s`` and ``path#t=…`` report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


DEFAULT_EVERY = 1.0  # seconds between sampled frames
DEFAULT_MAX_FRAMES = 60  # per clip; longer clips are sampled evenly instead
SEEK_GAP = 4.0  # seconds: a sample further ahead than this is reached by seeking, not decoding up to it


@dataclass(frozen=True)
class Sampling:
    """How clips are sampled (``--video-every``, ``--video-max-frames``)."""

    every: float = DEFAULT_EVERY
    max_frames: int = DEFAULT_MAX_FRAMES

    def times(self, duration: float | None) -> list[float] | None:
        """The times to sample in a clip of ``duration`` seconds (None: unknown length, then
        every ``every`` seconds until the clip or ``max_frames`` ends)."""
        if duration is None or duration <= 0:
            return None
        n = max(1, math.ceil(duration / self.every - 1e-9))
        if n <= self.max_frames:
            return [round(i * self.every, 6) for i in range(n)]
        step = duration / self.max_frames
        return [round(i * step, 6) for i in range(self.max_frames)]


class VideoError(Exception):
    """A clip with nothing to classify (no video stream, no decodable frame)."""


def read_frames(
    path: str | os.PathLike[str] | IO[bytes], sampling: Sampling, draft_size: int | None = None
) -> Iterator[tuple[float, Image.Image]]:
    """(time in seconds from the clip's start, upright RGB frame) at ``sampling``'s times.

    ``draft_size``: frames larger than twice this (shorter side) are scaled down by a power of
    two while converting, as JPEG drafts are (a 4K frame costs what a 1080p one does).
    Raises VideoError for a clip without a decodable frame (PyAV's own errors for unreadable files).
    """
    return _frames(path, sampling, None, draft_size)


def frame_at(path: str | os.PathLike[str] | IO[bytes], t: float, draft_size: int | None = None) -> Image.Image:
    """The frame shown at ``t`` seconds (a report's thumbnail of a clip's best frame); the
    last frame when ``t`` is past the end."""
    return next(_frames(path, Sampling(max_frames=1), [t], draft_size, keep_last=True))[1]


def _frames(
    path: str | os.PathLike[str],
    sampling: Sampling,
    times: list[float] | None,
    draft_size: int | None,
    keep_last: bool = False,
) -> Iterator[tuple[float, Image.Image]]:
    import av

    found = 0
    with av.open(path if hasattr(path, "read") else os.fspath(path)) as container:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            raise VideoError("no video stream (audio only?)")
        skipping = _Skipping(stream)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        known = times if times is not None else sampling.times(_duration(container, stream))
        pending = list(known) if known is not None else [0.0]  # unknown length: one target at a time
        last: float | None = None
        while pending:
            if pending[0] - (last if last is not None else 0.0) > SEEK_GAP:
                _seek(container, stream, start + pending[0])
            ahead = False
            previous = None
            for frame in _decoded(container, stream, tolerate=found > 0):
                if frame.time is None:
                    continue
                t = frame.time - start
                last = t
                if t < pending[0] - 1e-3:
                    previous = frame
                    skipping.update(pending[0] - t)
                    continue
                yield round(t, 6), _upright(frame, draft_size)
                found += 1
                previous = None
                if known is None:
                    nxt = (math.floor(t / sampling.every + 1e-6) + 1) * sampling.every
                    pending = [nxt] if found < sampling.max_frames else []
                while pending and pending[0] <= t + 1e-3:
                    pending.pop(0)
                if pending:
                    skipping.update(pending[0] - t)
                if pending and pending[0] - t > SEEK_GAP:
                    ahead = True
                    break
                if not pending:
                    break
            if not ahead:
                if keep_last and not found and previous is not None:
                    yield round(previous.time - start, 6), _upright(previous, draft_size)
                    found += 1
                break  # the end of the clip (it may hold fewer frames than its header says)
    if not found:
        raise VideoError("no decodable video frame")


class _Skipping:
    """Frames that no other frame refers to (most B-frames) are not decoded while the next
    sample is far ahead: about half the decoding of a typical H.264 clip. From ``NEAR_FRAMES``
    frames (at least 0.5 s) before a sample every frame is decoded again — more than the
    decoder's reordering delay (at most 16 frames in H.264) — so the frame taken is exactly
    the one at the sample's time, as without skipping."""

    NEAR_FRAMES = 20

    def __init__(self, stream: Any):
        self.ctx = stream.codec_context
        self.mode = "DEFAULT"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        self.near = max(0.5, self.NEAR_FRAMES / rate) if rate > 0 else float("inf")

    def update(self, ahead: float) -> None:
        mode = "NONREF" if ahead > self.near else "DEFAULT"
        if mode != self.mode:
            try:
                self.ctx.skip_frame = mode
            except Exception:  # a decoder that does not take it: decode everything
                return
            self.mode = mode


def _decoded(container: Any, stream: Any, tolerate: bool) -> Iterator[Any]:
    """The stream's frames; damage after the first sampled frame ends the clip early (a clip
    cut short by a dying battery keeps the frames it has) instead of failing it."""
    import av

    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.FFmpegError:
            if not tolerate:
                raise
            return
        tolerate = True
        yield frame


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base
    return None


def _seek(container: Any, stream: Any, t: float) -> None:
    """To the keyframe at or before ``t`` (decoding then runs forward to ``t``)."""
    try:
        container.seek(int(t / stream.time_base), stream=stream, backward=True, any_frame=False)
    except Exception:  # an unseekable file: decode from where we are
        pass


def _upright(frame: Any, draft_size: int | None) -> Image.Image:
    w, h = frame.width, frame.height
    factor = 1
    if draft_size:
        while min(w, h) // (factor * 2) >= draft_size:
            factor *= 2
    if factor > 1:
        image = frame.to_image(width=w // factor, height=h // factor, interpolation="AREA")
    else:
        image = frame.to_image()
    rotation = getattr(frame, "rotation", 0) or 0
    if rotation % 360:
        image = image.rotate(rotation, expand=True)  # PIL turns counterclockwise, as the matrix says
    return image


def describe_video_error(exc: BaseException) -> str:
    """A clip's ``error`` column: FFmpeg's reason without the path it repeats."""
    from animalsort.sources.decode import describe_error

    if isinstance(exc, VideoError):
        return f"unreadable video: {exc}"
    import av

    if isinstance(exc, av.error.FFmpegError) and not isinstance(exc, (FileNotFoundError, PermissionError)):
        return f"unreadable video: {exc.strerror or type(exc).__name__}"
    return describe_error(exc)
