"""``tag``: a CSV's labels (or a folder classified first) as XMP keywords."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    from animalsort.inference.options import ClassifyOptions, Summary
    from animalsort.tagging.tag_rows import TagOptions, TagResult

from animalsort._api.common import PathLike, _options, _user


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
    from animalsort.sorting.placing import rows_from_csv
    from animalsort.tagging.tag_rows import tag_rows

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
    from animalsort.tagging.tag_rows import TagOptions

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
