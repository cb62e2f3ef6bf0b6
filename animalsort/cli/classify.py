"""`animalsort classify`: a folder (or a manifest, or object storage) to a predictions CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from animalsort.cli.common import (
    count,
    detection_options,
    label_list_options,
    manifest_options,
    model_options,
    out_file_option,
    output_options,
    print_summary,
    refuse_given,
    sequences_option,
    translate_errors,
    video_options,
)


@click.command()
@click.argument("sources", metavar="SRC...", nargs=-1)
@manifest_options(
    "Classify the paths listed in LIST (one per line, or a CSV with a path column; - reads stdin) "
    "instead of SRC, in the list's order.",
    "With --files-from: the folder relative paths are relative to (default: the current folder).",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Classify only shard I of N of the listing (a stable hash of each path): N jobs cover it exactly "
    "once; join their CSVs with `animalsort merge`.",
)
@out_file_option(
    "CSV to write (a sidecar OUT.json records the run). Default (or -): stdout.",
    callback=lambda ctx, param, value: None if value is not None and str(value) == "-" else value,
)
@click.option("--resume", is_flag=True, help="Keep the rows already in --out and do the rest.")
@click.option("--strict", is_flag=True, help="Exit 1 if any file could not be read (all rows are still written).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: run on a Ray cluster with Ray Data (pip install 'animalsort[ray]').",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="Ray cluster to use (auto, or ray://host:port); default: start a local one.",
)
@click.option(
    "--num-gpus-per-actor",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="GPUs for each Ray inference actor.",
)
@click.option(
    "--ray-actors",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="ANIMALSORT_RAY_ACTORS",
    help="Inference actors (one model each) in the Ray engine, spread over the cluster's nodes.",
)
@video_options
@click.option(
    "--video-rows",
    type=click.Choice(["videos", "frames"]),
    default="videos",
    show_default=True,
    help="videos: one row per clip (its label from the frames, frame_s = its best frame); "
    "frames: one row per sampled frame (path clip.mp4#t=12.00).",
)
@sequences_option(
    "--sequences",
    "Group each folder's photos into bursts (capture times within SECONDS) and add sequence, "
    "sequence_label and sequence_confidence columns: the burst's vote",
)
@detection_options
@label_list_options
@model_options
@output_options
@click.pass_context
@translate_errors
def classify(
    ctx: click.Context, sources: tuple[str, ...], out: Path | None, resume: bool, strict: bool, **model_opts: Any
) -> None:
    """Classify every image under each SRC (a folder, recursively, or an image file) and
    write one CSV row per file; paths are relative to the folders' common parent. SRC may be
    an object-storage prefix (s3://bucket/prefix, gs://…; pip install 'animalsort[cloud]'),
    whose rows keep their URIs; --files-from LIST classifies a list of paths instead.

    Columns: path, label, confidence, label_2, confidence_2, …, status, error, frame_s. A
    file that cannot be read gets status=error and the reason; the run goes on. A video clip
    gets one row from frames sampled every --video-every seconds (frame_s: the time of its
    best frame). Files that are neither photos nor clips (RAW, sidecars) are counted by
    extension in the summary (-v lists them).

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
        animalsort classify IMG_0001.HEIC cat.jpg clip.mp4
        animalsort classify ~/trap --sequences 10 --video-rows frames -o trap.csv
        animalsort classify ~/photos --labels imagenet --top-k 5 -o fine.csv
        animalsort classify ~/trap --only fox,wolf,pig,antelope,bird -o trap.csv
        animalsort classify --files-from list.txt --root /data --shard 3/8 -o preds-3.csv
        animalsort classify s3://bucket/trap-2026 -o trap.csv
        animalsort classify ~/trap --detections md.json --rows detections -o trap.csv
    """
    from animalsort.inference.options import ClassifyOptions
    from animalsort.inference.pipeline import classify_folder

    if resume and out is None:
        raise click.UsageError("--resume needs --out FILE (the CSV to continue)")
    if not sources and model_opts["files_from"] is None:
        raise click.UsageError("give a folder, image files, an s3:// prefix, or --files-from LIST")
    if model_opts["detections"] is None:
        refuse_given(ctx, ["detection_threshold", "rows"], "without --detections FILE.json")
    quiet = ctx.obj["quiet"]
    summary = classify_folder(list(sources), out, ClassifyOptions(resume=resume, **model_opts), progress=not quiet)
    if not quiet:
        print_summary(summary, ctx.obj["verbose"])
    if strict and summary.failed:
        failed = count(summary.failed, "file")
        raise click.ClickException(f"{failed} could not be read (--strict); see the error column")
