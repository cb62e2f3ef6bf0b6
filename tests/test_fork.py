"""DataLoader workers are forks of the process that runs the model: a garbage collection in a
worker must never finalize what the parent left behind (ONNX Runtime's and OpenVINO's
destructors wait on thread pools that do not exist in a fork: a worker hung there for ever)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from torch.utils.data import IterableDataset

from animalsort.inference.batches import Loader


class Collects(IterableDataset):
    """Each worker collects garbage at once, as the collector may at any allocation."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        gc.collect()
        yield 1


class Garbage:
    """An unreachable cycle whose destructor says in which process it ran."""

    def __init__(self, log: Path):
        self.log, self.me = log, self

    def __del__(self) -> None:
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def test_workers_never_finalize_the_parents_garbage(tmp_path: Path) -> None:
    log = tmp_path / "finalized"
    gc.disable()  # the garbage waits for a collection, as a session dropped in a cycle does
    try:
        Garbage(log)
        assert list(Loader(Collects(), batch_size=None, num_workers=2)) == [1, 1]
    finally:
        gc.enable()
        gc.collect()
    assert log.read_text().split() == [str(os.getpid())]  # finalized once, here, before the fork
