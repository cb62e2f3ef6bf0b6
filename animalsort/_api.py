"""The Python API: what a notebook calls, and what the command line calls.

Importing it (and so ``import animalsort``) stays free of torch: every function imports the
stage it runs when it is called. The stages compose here and nowhere else — ``sort`` is
"classify (or read a CSV), then place", so sorting itself never imports classification.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from animalsort.audit.result import AuditResult
    from animalsort.audit.run import SampleResult
    from animalsort.exports.run import ExportResult
    from animalsort.formats.journal_index import JournalInfo
    from animalsort.formats.thresholds import Thresholds
    from animalsort.inference.options import ClassifyOptions, Summary
    from animalsort.model.loaded import LoadedModel
    from animalsort.sorting.apply import ApplyResult
    from animalsort.sorting.options import SortOptions
    from animalsort.sorting.plan import Earlier, Plan
    from animalsort.sorting.undo import UndoResult
    from animalsort.tagging.run import TagOptions, TagResult
    from animalsort.tagging.undo import TagUndoResult
    from animalsort.training.options import FinetuneResult


@dataclass
class SortResult:
    """What :func:`sort` did: its plan, what was applied, and where the rows came from."""

    plan: Plan
    predictions: Path | None  # None when there was nothing new to classify
    applied: ApplyResult | None = None  # None for a dry run
    classified: Summary | None = None  # when this run classified
    corrections: Path | None = None  # the review's corrections file applied (with --from)
    audit_answers: Path | None = None  # the audit sample whose answers applied (with --from)
    thresholds: Thresholds | None = None  # the per-label thresholds placed by (with thresholds=)


PathLike = str | os.PathLike[str]
ImageInput = "PathLike | Image.Image | np.ndarray"


def _expand(path: PathLike) -> Path | str:
    text = os.fspath(path)
    from animalsort.paths import is_uri

    return text if is_uri(text) else Path(text).expanduser()


def _sources(paths: PathLike | Iterable[PathLike]) -> list[Path | str]:
    if isinstance(paths, (str, os.PathLike)):
        return [_expand(paths)]
    return [_expand(p) for p in paths]


def _user(path: PathLike | None) -> Path | None:
    """A path the API was given, ``~`` expanded (the shell does it for the command line)."""
    return Path(path).expanduser() if path is not None else None


def _detection_threshold(threshold: object, rows: str) -> float:
    """``detection_threshold`` (None: MegaDetector's 0.2) and ``rows`` as the API was given them, or a UsageError."""
    from animalsort.formats.detection_rows import ROWS
    from animalsort.formats.detections import DEFAULT_THRESHOLD

    if rows not in ROWS:
        raise UsageError(f"rows={rows!r}: choose one of {', '.join(ROWS)}")
    if threshold is None:
        return DEFAULT_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise UsageError(f"detection_threshold={threshold!r}: give a confidence from 0 to 1 (MegaDetector's 0.2)")
    return float(threshold)


def _options(**options: Any) -> ClassifyOptions:
    from animalsort.inference.options import ClassifyOptions

    return _made(ClassifyOptions, options)


def _made(cls: Any, options: dict[str, Any]) -> Any:
    """``cls(**options)``, or a TypeError that names the unknown options and the known ones."""
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**options)


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
        import csv
        import io

        import pandas as pd

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
        text = io.StringIO()
        csv.writer(text).writerows([columns, *rows_made])
        text.seek(0)
        return pd.read_csv(text, dtype={"path": str})  # the dtypes classify()'s DataFrame has


def sort_folder(
    src: PathLike,
    dest: PathLike | None,
    options: SortOptions,
    *,
    predictions: PathLike | None = None,
    classify_options: ClassifyOptions | None = None,
    progress: bool = True,
) -> SortResult:
    """``animalsort sort``: classify (or read ``predictions``), plan, journal, apply.

    With ``predictions``, the corrections made in ``review`` beside it (``PREDS.corrections.csv``)
    apply: a reviewed row is placed by its corrected label. Without ``predictions`` the folder
    is classified first and the CSV is kept beside the journal. DEST defaults to SRC (label
    folders inside it; they are not re-scanned later). ``options.by_sequence`` (a gap in
    seconds): bursts are placed by their vote; a CSV without sequence columns gets them computed
    here (the CSV is not changed). ``options.by_labels``: a photo with several labels (a CSV
    classified with ``--detections``) goes into each label's folder.
    """
    from animalsort.sorting.run import check_sort_folders, locked

    if classify_options is not None:  # before SRC or DEST gets a folder of ours
        from animalsort.inference.options import check_label_lists

        check_label_lists(classify_options, Path(predictions) if predictions is not None else None)
    src_path, dest_path = check_sort_folders(src, dest, options.mode)
    with locked(src_path, dest_path, options.dry_run):  # one sort at a time in SRC and DEST
        return _sort_locked(src_path, dest_path, options, predictions, classify_options, progress)


def _sort_locked(
    src_path: Path,
    dest_path: Path,
    how: SortOptions,
    predictions: PathLike | None,
    classify_options: ClassifyOptions | None,
    progress: bool,
) -> SortResult:
    from animalsort.formats import corrections
    from animalsort.sorting.plan import earlier_sorts
    from animalsort.sorting.run import classified_since, place, rows_from_csv

    earlier, by_sequence = earlier_sorts(dest_path), how.by_sequence
    rows: Iterable[dict[str, str]] = ()
    classified, corrected_by = None, {}
    if predictions is not None:
        preds: Path | None = Path(predictions)
        rows, corrected_by = rows_from_csv(Path(predictions))
    else:
        opts = classify_options or _options()
        if by_sequence is not None:
            opts = replace(opts, sequences=by_sequence)
        preds, classified = _classify_for_sort(src_path, dest_path, earlier, opts, progress)
        rows = corrections.reviewed_rows(preds) if preds is not None else ()
    if by_sequence is not None:
        from animalsort.inference.sequences import with_sequences

        rows = with_sequences(list(rows), src_path, by_sequence, preds)
    plan, applied = place(
        src_path,
        dest_path,
        rows,
        how,
        earlier=earlier,
        predictions=preds,
        corrected_by=corrected_by,
        classified_ns=classified_since(preds) if preds is not None else None,
    )
    if predictions is None:  # the files an earlier sort placed were not even scanned
        plan.already_sorted += earlier.count_under(src_path)
    used = how.thresholds if how.thresholds.file is not None else None
    review, audit = corrected_by.get(corrections.REVIEW), corrected_by.get(corrections.AUDIT)
    return SortResult(plan, preds, applied, classified, review, audit, used)


def _classify_for_sort(
    src: Path, dest: Path, earlier: Earlier, opts: ClassifyOptions, progress: bool
) -> tuple[Path | None, Summary | None]:
    """Classify SRC into the sort's own predictions CSV (beside its journal), leaving out what
    earlier sorts into DEST placed. (None, None) when nothing new is left to classify."""
    from animalsort.atomic import make_folder
    from animalsort.errors import NoImagesError
    from animalsort.formats.journal import journal_paths
    from animalsort.inference.pipeline import classify_folder  # torch is imported only here
    from animalsort.sorting.plan import excluded_from_scan

    excluded = excluded_from_scan(src, dest, earlier)
    preds = journal_paths(dest)[1]
    make_folder(preds.parent, "it holds the sort's journal and predictions: choose another --dest")
    try:
        return preds, classify_folder(src, preds, opts, progress=progress, exclude=excluded)
    except NoImagesError:
        if not excluded:
            raise
        return None, None  # everything is where an earlier sort put it: nothing new to sort


def sort(
    src: PathLike,
    dest: PathLike | None = None,
    *,
    move: bool = False,
    link: bool = False,
    dry_run: bool = False,
    predictions: PathLike | None = None,
    min_confidence: float | None = None,
    thresholds: PathLike | None = None,
    flat: bool = False,
    verify: bool = False,
    by_sequence: float | None = None,
    companions: bool = True,
    by_labels: bool = False,
    only: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> SortResult:
    """Sort the photos under ``src`` into per-label folders, like ``animalsort sort``.

    Args:
        src: the folder to sort.
        dest: where the label folders go (default: inside ``src``).
        move: move the files (default: copy them).
        link: link them instead (hard links; symlinks across file systems).
        dry_run: plan only; nothing on disk changes.
        predictions: a predictions CSV to sort by instead of classifying (its review corrections apply).
        min_confidence: below it a photo goes to ``_uncertain/`` (default 0.5).
        thresholds: an ``audit.json`` (``audit_report(out=…)``): its per-label thresholds
            instead of ``min_confidence`` (which stays for the labels it has none for).
        flat: no sub-folders under each label.
        verify: check each copied file's sha256.
        by_sequence: place each burst (capture times within this many seconds) by its vote.
        companions: a photo's RAW twin, edit sidecars (.xmp, .aae …) and Live Photo clip go
            with it (False: file by file).
        by_labels: a photo of several labels (``--detections``: a deer and a fox) goes into each one's folder.
        only: the labels to answer with, as for :func:`classify`; with ``predictions`` it must
            be the list the CSV was classified with (a CSV cannot be renormalised).
        exclude: the labels never to answer with, as for :func:`classify` (the same holds).
        progress: show progress bars on stderr.
        **options: classify options, as for :func:`classify` (``model``, ``weights``, …).

    Returns:
        A ``SortResult``: ``plan`` (``ops``, ``per_folder``, ``duplicates``, ``left``, …),
        ``applied`` (None for a dry run; else ``done``, ``failed``, ``journal`` — give it to
        :func:`undo`), ``predictions`` (the CSV sorted by) and ``classified`` (when this call
        classified).
    """
    from animalsort.sorting.options import SortOptions

    how = SortOptions.chosen(
        move=move,
        link=link,
        min_confidence=min_confidence,
        thresholds=_user(thresholds),
        flat=flat,
        verify=verify,
        by_sequence=by_sequence,
        companions=companions,
        by_labels=by_labels,
        dry_run=dry_run,
    )
    if predictions is not None and options:
        raise UsageError(
            f"classify options ({', '.join(sorted(options))}) do nothing with predictions=: the CSV's labels are used"
        )
    return sort_folder(
        _expand(src),
        _expand(dest) if dest is not None else None,
        how,
        predictions=Path(predictions).expanduser() if predictions is not None else None,
        classify_options=_options(only=only, exclude=exclude, **options),
        progress=progress,
    )


def undo(journal: PathLike) -> UndoResult | TagUndoResult:
    """Undo a sort or a tag run from its journal, like ``animalsort undo``: every file goes
    back where it was (a sort), every sidecar and tagged photo back to what it held (a tag run),
    unless it changed since (then it is left alone and named). Run it again after fixing what
    was refused: it does the rest.

    Args:
        journal: the journal (``SortResult.applied.journal``, ``TagResult.journal``,
            ``…/_animalsort/sort-….jsonl`` or ``tag-….jsonl``), or a folder: its last run
            that is not undone yet (:func:`last_run`).

    Returns:
        For a sort, an ``UndoResult``: ``restored``, ``already`` (never done, or put back
        before), ``refused`` (files left alone, with why), ``dirs_removed`` and ``incomplete``
        (why a journal cut short could not be undone in full). For a tag run, a
        ``TagUndoResult``: ``restored``, ``removed`` (sidecars it created), ``already``, ``refused``.
    """
    from animalsort.formats.journal import journal_kind

    path = Path(journal).expanduser()
    if path.is_dir():
        path = last_run(path).path
    if journal_kind(path) == "tag":
        from animalsort.tagging.undo import undo_tag

        return undo_tag(path)
    from animalsort.sorting.undo import undo_sort

    return undo_sort(path)


def runs(folder: PathLike) -> list[JournalInfo]:
    """The sorts and tag runs recorded for ``folder``, oldest first, like ``animalsort undo
    --list``: each one's journal ``path``, ``kind`` (sort or tag), ``when``, ``how`` (move,
    copy, link; sidecar, embed), files ``done``, and ``state`` (undone, partly undone, not undone)."""
    from animalsort.formats.journal_index import journals_of

    return journals_of(Path(folder).expanduser())


def last_run(folder: PathLike) -> JournalInfo:
    """The latest run on ``folder`` that is not undone (what ``animalsort undo FOLDER`` undoes)."""
    from animalsort.formats.journal_index import last_journal

    return last_journal(Path(folder).expanduser())


def tag_folder(
    source: PathLike,
    options: TagOptions,
    *,
    classify_options: ClassifyOptions | None = None,
    src: Path | None = None,
    progress: bool = False,
) -> tuple[TagResult, Path, Summary | None]:
    """``animalsort tag``: a predictions CSV (its review corrections applied), or a folder that
    is classified first (the CSV kept in ``SRC/_animalsort/``). (result, the CSV, the
    classify summary when this call classified.)"""
    from animalsort.formats.predictions import read_sidecar
    from animalsort.sorting.run import rows_from_csv
    from animalsort.tagging.run import tag_rows

    source_path = Path(source).expanduser()
    classified = None
    if source_path.is_dir():
        predictions, classified = _classify_for_tag(source_path, classify_options or _options(), progress)
    else:
        predictions = source_path
    rows, _ = rows_from_csv(predictions)
    meta = read_sidecar(predictions)
    if src is None:
        src = _csv_src(predictions, meta)
    result = tag_rows(
        rows,
        src=src,
        predictions=predictions,
        options=options,
        provenance=meta,
    )
    return result, predictions, classified


def _csv_src(predictions: Path, meta: dict[str, Any]) -> Path:
    """The local folder a CSV's paths are relative to (its sidecar's ``src``, else its folder)."""
    from animalsort.paths import is_uri

    text = meta.get("src")
    if text and is_uri(str(text)):
        raise UsageError(
            f"{predictions} classified object storage ({text}); tag writes keywords beside local files only"
        )
    return Path(text) if text else predictions.parent


def _classify_for_tag(src: Path, opts: ClassifyOptions, progress: bool) -> tuple[Path, Summary]:
    from datetime import datetime

    from animalsort.atomic import make_folder
    from animalsort.formats.journal import STATE_DIR
    from animalsort.inference.pipeline import classify_folder

    folder = src.absolute() / STATE_DIR
    make_folder(folder, "it holds the predictions tag writes keywords from: make SRC writable or classify first")
    preds = folder / f"preds-tag-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
    return preds, classify_folder(src, preds, opts, progress=progress)


def tag(
    source: PathLike,
    *,
    embed: bool = False,
    embed_or_sidecar: bool = False,
    sidecar_name: str = "full",
    keyword_root: str = "Animals",
    min_confidence: float | None = None,
    thresholds: PathLike | None = None,
    tag_uncertain: bool = False,
    touch: bool = False,
    dry_run: bool = False,
    progress: bool = False,
    **options: Any,
) -> TagResult:
    """Write each photo's label as XMP keywords that digiKam, darktable, Lightroom and Immich
    read, like ``animalsort tag``. A person's own keywords and every other field are kept;
    tagging again replaces only what an earlier run wrote.

    Args:
        source: a predictions CSV (its review corrections apply), or a folder to classify first.
        embed: write into JPEG, TIFF, PNG, WebP (and HEIC/AVIF with ExifTool) instead of a
            sidecar; RAW files and clips always get a sidecar.
        embed_or_sidecar: with ``embed``, a format that cannot hold XMP gets a sidecar (else an error).
        sidecar_name: ``"full"`` (``IMG_0001.CR2.xmp``: digiKam, darktable) or ``"stem"``
            (``IMG_0001.xmp``: Lightroom); an existing sidecar of either naming is updated.
        keyword_root: the top of the keyword paths (``Animals|Mammals|Carnivores|cat``); "" for none.
        min_confidence: below it a photo gets no species keyword (default 0.5; reviewed rows
            always do).
        thresholds: an ``audit.json`` (``audit_report(out=…)``): its per-label thresholds
            instead of ``min_confidence`` (which stays for the labels it has none for); the
            journal records the file and its sha256.
        tag_uncertain: an ``uncertain`` keyword for the photos below their threshold.
        touch: an embedded photo's mtime is updated (default: kept).
        dry_run: plan only; nothing on disk changes (``planned`` lists the files).
        progress: show a progress bar while classifying.
        **options: classify options when ``source`` is a folder (``model``, ``weights``, …).

    Returns:
        A ``TagResult``: ``tagged``, ``created``, ``embedded``, ``unchanged``, ``no_keyword``,
        ``failed`` (path, why), ``journal`` (give it to :func:`undo`).
    """
    from animalsort.tagging.run import TagOptions

    how = TagOptions.chosen(
        embed=embed,
        embed_or_sidecar=embed_or_sidecar,
        sidecar_name=sidecar_name,
        keyword_root=keyword_root,
        min_confidence=min_confidence,
        thresholds=_user(thresholds),
        tag_uncertain=tag_uncertain,
        touch=touch,
        dry_run=dry_run,
    )
    if options and not Path(source).expanduser().is_dir():
        raise UsageError(
            f"classify options ({', '.join(sorted(options))}) do nothing with a predictions CSV: its labels are used"
        )
    return tag_folder(source, how, classify_options=_options(**options), progress=progress)[0]


def export(
    predictions: PathLike,
    out: PathLike,
    format: str = "megadetector",
    *,
    min_confidence: float | None = None,
    thresholds: PathLike | None = None,
    taxa: PathLike | None = None,
    deployments: PathLike | None = None,
    deployment_depth: int | None = None,
    timezone: str | None = None,
    project_title: str = "",
    contributor: str = "",
    capture_method: str = "activityDetection",
    src: PathLike | None = None,
) -> ExportResult:
    """Write a predictions CSV (with its review corrections) as MegaDetector batch JSON, a
    Camtrap DP 1.0.2 package or COCO Camera Traps JSON, like ``animalsort export``.

    Args:
        predictions: the CSV ``classify`` wrote (its sidecar ``PREDS.csv.json`` beside it).
        out: the JSON file, or the package folder for ``"camtrap-dp"``.
        format: ``"megadetector"``, ``"camtrap-dp"`` or ``"coco"``.
        min_confidence: below it a label is "unknown" (default 0.5; reviewed rows always count).
        thresholds: an ``audit.json``: its per-label thresholds instead of ``min_confidence``
            (which stays for the labels it has none for); the output records the file and its sha256.
        taxa: a CSV (label, scientificName, taxonRank) for labels the package's table lacks.
        deployments: Camtrap DP: a CSV with deploymentID, latitude, longitude, folder.
        deployment_depth: one deployment per folder this many levels under SRC (GPS from EXIF).
        timezone: the zone of cameras that write local time (``Europe/Amsterdam``, ``UTC``, ``+02:00``).
        project_title: Camtrap DP: the project's title.
        contributor: Camtrap DP: who made the package.
        capture_method: Camtrap DP: how the cameras were triggered (``activityDetection`` or ``timeLapse``).
        src: the folder the CSV's paths are relative to, when its sidecar's is not where the
            photos are now (a copied or moved folder), or a wider root that rows may reach.

    Returns:
        An ``ExportResult``: ``out``, ``rows``, ``written``, ``counts`` (observations by type), ….
    """
    from animalsort.exports.run import ExportOptions, export_predictions

    options = ExportOptions.chosen(
        format,
        min_confidence=min_confidence,
        thresholds=_user(thresholds),
        taxa=_user(taxa),
        deployments=_user(deployments),
        deployment_depth=deployment_depth,
        timezone=timezone,
        project_title=project_title,
        contributor=contributor,
        capture_method=capture_method,
        src=_user(src),
    )
    return export_predictions(Path(predictions).expanduser(), Path(out).expanduser(), options)


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
    from animalsort.training.options import FinetuneOptions
    from animalsort.training.run import finetune_folder

    run_dir = Path(out).expanduser() if out is not None else None
    return finetune_folder(Path(data).expanduser(), run_dir, _made(FinetuneOptions, options), progress=progress)


def audit_sample(
    predictions: PathLike,
    out: PathLike | None = None,
    *,
    size: int = 200,
    seed: int = 0,
    min_confidence: float | None = None,
) -> SampleResult:
    """Draw a stratified random sample of a predictions CSV's classified rows for a person to
    check, like ``animalsort audit sample``; or extend the sample already at ``out``.

    Args:
        predictions: the CSV ``classify`` wrote.
        out: the sample (default: ``PREDS.sample.csv`` beside the CSV). When it exists, it is
            extended to ``size`` rows, its rows and answers kept (the same ``seed`` and
            ``min_confidence`` only).
        size: rows in the sample.
        seed: the same seed gives the same sample.
        min_confidence: rows below it form the ``_uncertain`` stratum (default 0.5, sort's).

    Returns:
        A ``SampleResult``: ``out``, ``rows``, ``added``, ``answered`` (rows already answered),
        ``strata`` (name → rows in the CSV, rows in the sample).
    """
    from animalsort.audit.run import sample_predictions
    from animalsort.formats.thresholds import chosen

    threshold = chosen(min_confidence).minimum  # checked as sort's: a number from 0 to 1
    target = Path(out).expanduser() if out is not None else None
    return sample_predictions(Path(predictions).expanduser(), target, size, seed, threshold)


def audit_report(
    predictions: PathLike,
    sample: PathLike | None = None,
    *,
    out: PathLike | None = None,
    html: PathLike | None = None,
    target_precision: float = 0.95,
) -> AuditResult:
    """What a person's answers in a sample say about the whole CSV, like ``animalsort audit
    report``: overall accuracy, each label's precision, the animals among the rows labelled
    no_animal, recall, and per-label thresholds for ``target_precision``, each with a 95% interval.

    Args:
        predictions: the CSV the sample was drawn from.
        sample: the answered sample (default: ``PREDS.sample.csv``); its ``truth`` column holds
            a label, ``no_animal`` or ``can't tell`` (left out), or nothing yet.
        out: also write the result as JSON here (``audit.json``: what ``--thresholds`` reads).
        html: also write the page with tables and plots here.
        target_precision: the precision the per-label thresholds must reach.

    Returns:
        An ``AuditResult``: ``accuracy``, ``labels`` (precision per label), ``missed``,
        ``recall``, ``thresholds``, ``strata``, ``cant_tell``, … (``to_json()`` is audit.json).
    """
    from animalsort.audit.run import report_sample, write_json
    from animalsort.formats.answers import sample_path

    preds = Path(predictions).expanduser()
    result = report_sample(preds, Path(sample).expanduser() if sample else sample_path(preds), target_precision)
    if out is not None:
        write_json(result, Path(out).expanduser())
    if html is not None:
        from animalsort.pages import audit_page

        audit_page.write(result, Path(html).expanduser())
    return result
