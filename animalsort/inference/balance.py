"""``--workers auto``: how many decode processes keep the model fed on this machine, from what
the first photos cost here.

The run's cores are shared by the decoders and the model's threads. Before the loader starts,
a handful of the folder's first photos are decoded in this process (core time per photo, ``d``)
and run through the model twice (the second timed: core time per photo, ``m`` = wall time ×
the model's threads). Decode needs the share ``d / (d + m)`` of the cores; one decoder more than
that share keeps the model from waiting on a batch (measured: on 2 cores and 640×480 JPEGs,
1 → 2 → 3 decoders gave 0.80 → 0.84 → 0.86 of the shared-core limit). The limit itself,
``cores / (d + m)`` photos a second, is reported with the choice.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from animalsort.machine import cpu_count

if TYPE_CHECKING:
    from collections.abc import Callable

    from animalsort.inference.batches import Batch, ImageStream
    from animalsort.model.runner import LoadedModel

PROBE_PHOTOS = 8
MAX_WORKERS = 8


@dataclass(frozen=True)
class Balance:
    workers: int
    decode_ms: float  # core time per photo (decoded and resized: its centre crop or first look)
    model_ms: float  # core time per photo in the model
    limit: float  # photos/s the cores can do when decode and model share them perfectly

    def record(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def workers_for(decode_ms: float, model_ms: float, cores: int) -> int:
    """The decode processes for photos that cost ``decode_ms`` to decode and ``model_ms`` in the
    model (core time each) on ``cores`` cores."""
    share = decode_ms / (decode_ms + model_ms)
    return max(1, min(MAX_WORKERS, 2 * cores, math.ceil(cores * share) + 1))


def _model_on(loaded: LoadedModel, batch: Batch) -> Callable[[], object]:
    """The model's pass over ``batch`` as the run makes it: centre crops, or first looks at the
    whole frames (closer looks, for some frames only, are not counted)."""
    if batch.rows.looks is None:
        return lambda: loaded.infer(batch.images)
    from animalsort.inference.scoring import run_looks

    return lambda: run_looks(loaded, batch.images, batch.rows.looks)


def balance(stream: ImageStream, loaded: LoadedModel) -> Balance | None:
    """The probe (None when the folder has no photo to probe with: then the default applies)."""
    from animalsort.inference.batches import chunks
    from animalsort.sources.listing import is_video_name

    photos = islice((p for p in stream.paths() if not is_video_name(p)), PROBE_PHOTOS)
    first = next(chunks(photos, PROBE_PHOTOS * 64, None), None)
    if not first:
        return None
    t0 = time.process_time()
    batch = stream.make_batch(first)
    decode = (time.process_time() - t0) / len(first)
    if not batch.images.shape[0]:
        return None
    run = _model_on(loaded, batch)
    run()  # the first call pays for warm-up
    t0 = time.perf_counter()
    run()
    cores = cpu_count()
    model = (time.perf_counter() - t0) * cores / len(first)
    return Balance(workers_for(decode * 1e3, model * 1e3, cores), decode * 1e3, model * 1e3, cores / (decode + model))
