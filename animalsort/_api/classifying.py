"""``classify``, ``iter_classify`` and ``Classifier``: photos to answers (a CSV, a stream, a DataFrame)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from animalsort.model.runner import LoadedModel

from animalsort._api.common import ImageInput, PathLike, _detection_threshold, _options, _sources


def classify(
    src: PathLike | Iterable[PathLike],
    *,
    out: PathLike | None = None,
    model: str | None = None,
    top_k: int = 3,
    only: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Classify every photo and clip under ``src``, like ``animalsort classify``.

    Args:
        src: a folder, a file, an object-storage URI (``s3://…``), or a list of them.
        out: also keep the CSV (and its ``.json`` sidecar) here; by default it is temporary.
        model: a registry name (``lite0``, ``lite1``, …); None is the default model.
        top_k: how many labels each row carries.
        only: "the animals that live here", as ``--only``: the labels to answer with
            (``"fox,wolf,pig"`` or a list; no_animal always stays); the others' probability goes to
            them, renormalised, and they are never answered.
        exclude: the labels never to answer with, as ``--exclude`` (with ``only``: ``only`` minus
            these).
        progress: show a progress bar on stderr.
        **options: any other classify option, by its ``ClassifyOptions`` name — ``weights``,
            ``labels``, ``device``, ``precision``, ``runtime``, ``batch_size``, ``workers``,
            ``videos``, ``video_every``, ``video_rows``, ``sequences``, ``files_from``, ``shard``,
            ``detections`` (a MegaDetector batch JSON for ``src``: each animal box classified from
            its crop), ``detection_threshold``, ``rows`` (``files`` or ``detections``), …

    Returns:
        A DataFrame with the CSV's rows and columns: ``pandas.read_csv`` of the file
        ``animalsort classify`` writes for the same folder and options. Paths are relative to
        the folder classified.
    """
    import pandas as pd

    from animalsort.inference.pipeline import classify_folder

    opts = _options(model=model, top_k=top_k, only=only, exclude=exclude, **options)
    with tempfile.TemporaryDirectory(prefix="animalsort-") as tmp:
        target = Path(out).expanduser() if out is not None else Path(tmp) / "predictions.csv"
        classify_folder(_sources(src), target, opts, progress=progress)
        return pd.read_csv(target)


def iter_classify(
    src: PathLike | Iterable[PathLike],
    *,
    model: str | None = None,
    top_k: int = 3,
    batch_size: int = 32,
    progress: bool = False,
    **options: Any,
) -> Iterator[dict[str, str]]:
    """Classify as a stream: one dict per row as soon as its batch is done, in memory that
    does not grow with the number of files.

    Args:
        src: a folder, a file, an object-storage URI, or a list of them.
        model: as for :func:`classify`.
        top_k: as for :func:`classify`.
        batch_size: images per forward pass.
        progress: as for :func:`classify`.
        **options: as for :func:`classify`.

    Returns:
        An iterator of rows keyed by the CSV's columns (``path``, ``label``, ``confidence``, …,
        ``status``, ``error``, ``frame_s``), each value the text the CSV would hold.
    """
    from animalsort.inference.pipeline import iter_rows

    opts = _options(model=model, top_k=top_k, batch_size=batch_size, **options)
    return iter_rows(_sources(src), opts, progress=progress)


class Classifier:
    """A model loaded once, for images you already hold: PIL images, numpy arrays or paths.

    Example::

        clf = animalsort.Classifier("lite1")
        clf.predict([Image.open("cat.jpg"), "dog.jpg", array])   # → DataFrame, no files written
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        weights: PathLike | None = None,
        labels: str = "animals",
        device: str = "auto",
        precision: str = "auto",
        runtime: str = "auto",
        top_k: int = 3,
        view: str = "frame",
        only: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        progress: bool = False,
    ):
        """Resolve, verify and load the model once.

        Args:
            model: a registry name (``lite0``, ``lite1``, …); None is the default model.
            weights: a weights file or a finetune run folder (wins over ``model``).
            labels: ``animals`` (the 37 animal labels) or ``imagenet`` (the 1000 classes); a
                fine-tuned model answers with its own labels.
            device: as ``--device``.
            precision: as ``--precision``.
            runtime: as ``--runtime``.
            top_k: how many labels each row carries.
            view: how much of each image the model looks at: ``centre``, ``frame`` or ``tiles``
                (as ``--view``); with frame and tiles the rows carry the answer's box.
            only: the labels to answer with (``"fox,wolf"`` or a list; no_animal always kept),
                as ``--only``: the others' probability goes to them, renormalised.
            exclude: the labels never to answer with, as ``--exclude`` (``only`` minus these).
            progress: show a download's progress bar on stderr.
        """
        from animalsort.inference.options import whole_number
        from animalsort.model.load import load
        from animalsort.sources.views import VIEW_MODES
        from animalsort.taxonomy import label_list

        whole_number("top_k", top_k)
        if view not in VIEW_MODES:
            raise UsageError(f"unknown view {view!r}; choose one of: {', '.join(VIEW_MODES)}")
        self.loaded: LoadedModel = load(
            model,
            Path(weights).expanduser() if weights is not None else None,
            labels=labels,
            device=device,
            precision=precision,
            runtime=runtime,
            progress=progress,
            look=view != "centre",
            only=label_list(only),
            exclude=label_list(exclude),
        )
        self.top_k = min(top_k, self.loaded.labels.answerable)
        self.view = view

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels this classifier answers with."""
        names = self.loaded.labels
        return tuple(label for i, label in enumerate(names.labels) if i not in names.excluded)

    def predict(
        self,
        images: Sequence[ImageInput] | ImageInput,
        *,
        batch_size: int = 32,
        boxes: Sequence[Sequence[Any]] | None = None,
        rows: str = "files",
        detection_threshold: float | None = None,
    ) -> pd.DataFrame:
        """Classify ``images`` (a list, or one image).

        Args:
            images: PIL images, numpy arrays (H×W×3 uint8 RGB, or H×W grey) and paths, mixed.
            batch_size: images per forward pass.
            boxes: one list per image of the boxes a detector found in it, each ``(x, y, w, h)``
                as fractions of the image (an animal) or a detection as MegaDetector writes it
                (``{"category": "1", "conf": 0.9, "bbox": [x, y, w, h]}``; 2 is a person, 3 a
                vehicle): each animal box is classified from its square crop, as
                ``classify --detections`` does, and an image without any is ``no_animal``.
            rows: with ``boxes``: ``files`` (a row per image, with ``count``, ``labels`` and
                ``detections``) or ``detections`` (a row per box).
            detection_threshold: with ``boxes``: detections below it are left out (default 0.2).

        Returns:
            A DataFrame with the CSV's columns and dtypes, one row per image in the order given: ``path``
            is the path for a path, ``<image N>`` for an in-memory image. An image that cannot
            be read is a row with ``status`` error and the reason, as in the CSV.
        """
        from animalsort.formats.predictions import frame
        from animalsort.inference.in_memory import classify_boxes, classify_images
        from animalsort.inference.options import whole_number

        whole_number("batch_size", batch_size)
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        if boxes is None:
            if rows != "files" or detection_threshold is not None:
                raise UsageError("rows= and detection_threshold= go with boxes=: give each image's boxes")
            columns, rows_made = classify_images(self.loaded, items, self.top_k, batch_size, self.view)
        else:
            threshold = _detection_threshold(detection_threshold, rows)
            columns, rows_made = classify_boxes(
                self.loaded, items, list(boxes), self.top_k, batch_size, rows, threshold
            )
        return frame(columns, rows_made)  # the values and dtypes classify()'s DataFrame has
