"""``finetune``: a model for a labelled folder's classes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from animalsort.training.options import FinetuneResult

from animalsort._api.common import PathLike, _made


def finetune(data: PathLike, out: PathLike | None = None, *, progress: bool = False, **options: Any) -> FinetuneResult:
    """Train a model for the classes of a labelled folder (one sub-folder per class), like
    ``animalsort finetune``.

    Args:
        data: the labelled folder.
        out: the run folder (default: ``runs/<data's name>``); its ``model.pt`` works as
            ``weights=`` for :func:`classify`, :func:`sort` and :class:`Classifier`.
        progress: show progress bars on stderr.
        **options: any ``FinetuneOptions`` field (``model`` — the pretrained base —, ``mode``,
            ``epochs``, ``lr``, ``device``, …).

    Returns:
        A ``FinetuneResult``: ``run_dir`` (with ``model.pt`` and the reports), ``classes``,
        ``val_accuracy``, ``test_accuracy``, ``min_confidence``, the dataset ``check``, ….
    """
    from animalsort.training.finetuning import finetune_folder
    from animalsort.training.options import FinetuneOptions

    run_dir = Path(out).expanduser() if out is not None else None
    return finetune_folder(Path(data).expanduser(), run_dir, _made(FinetuneOptions, options), progress=progress)
