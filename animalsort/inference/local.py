"""The local engine: DataLoader batches → the model on this machine's device → scored batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from animalsort.inference.scoring import Closer, Scored, Scorer

if TYPE_CHECKING:
    from animalsort.inference.batches import Batch
    from animalsort.model.runner import LoadedModel


def score_batches(
    loaded: LoadedModel, batches: Iterable[Batch], top_k: int, video_rows: str, closer: Closer | None = None
) -> Iterator[Scored]:
    """The local engine: DataLoader batches → the model on this machine's device (closer looks
    decoded here, in the model's process, by ``closer``)."""
    from animalsort.inference import gpu_decode

    cuda = loaded.device.type == "cuda"
    score = Scorer(loaded, top_k, video_rows, closer)
    for batch in batches:
        x = batch.images.to(loaded.device, non_blocking=cuda)
        if batch.raw is not None:
            gpu_decode.decode_on_device(batch, x, loaded.preprocessing)
        yield score(x, batch.rows)
