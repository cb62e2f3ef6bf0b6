"""The command line. Each command parses options, calls one core function and prints a
summary; AnimalsortError becomes ``Error: …`` with exit 1 (runtime) or 2 (usage).

torch is imported only inside commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from animalsort import __version__
from animalsort.errors import AnimalsortError
from animalsort.model import DECODERS, DEVICES, PRECISIONS
from animalsort.sort import DEFAULT_MIN_CONFIDENCE
from animalsort.taxonomy import LABEL_SETS


class _UsageFailure(click.UsageError):
    """An AnimalsortError that is the user's to fix: ``Error: …`` and exit 2, no usage text."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def _translate_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnimalsortError as exc:
            if exc.exit_code == 2:
                raise _UsageFailure(str(exc)) from None
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper


def _model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that runs a model."""
    decorators = [
        click.option("--model", "-m", default=None, metavar="NAME",
                     help="Registry model (see `animalsort models list`); default: lite0."),
        click.option("--weights", type=click.Path(path_type=Path), default=None,
                     help="A weights file: a model.pt from `animalsort finetune` (or its run "
                          "folder), or a state dict for --model's architecture."),
        click.option("--labels", type=click.Choice(LABEL_SETS), default="animals", show_default=True,
                     help="Report animal labels, or the 1000 ImageNet classes."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="Where the model runs (auto: cuda > mps > cpu)."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="Inference precision (auto: fp16/bf16 on GPU, bf16 on CPUs with native "
                          "bf16, else fp32)."),
        click.option("--decode", type=click.Choice(DECODERS), default="auto", show_default=True,
                     help="Where JPEGs are decoded: gpu = nvJPEG on the CUDA device (for when "
                          "CPU decoding is the bottleneck); auto = CPU workers."),
        click.option("--batch-size", "-b", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
                     help="Decoding processes (default: CPU cores − 1, at most 8; 0 decodes in "
                          "the main process)."),
        click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True,
                     help="Labels reported per image."),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="animalsort")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
@click.option("--verbose", "-v", is_flag=True, help="List every failed file in the summary.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """Classify folders of photos by animal, sort them into folders, fine-tune on your own.

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
    """
    ctx.obj = {"quiet": quiet, "verbose": verbose}


@main.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV to write (a sidecar OUT.json records the run). Default: stdout.")
@click.option("--resume", is_flag=True, help="Keep the rows already in --out and do the rest.")
@click.option("--strict", is_flag=True, help="Exit 1 if any file could not be read (all rows are still written).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: run on a Ray cluster with Ray Data (pip install 'animalsort[ray]').")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use (auto, or ray://host:port); default: start a local one.")
@click.option("--num-gpus-per-actor", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs for each Ray inference actor.")
@_model_options
@click.pass_context
@_translate_errors
def classify(ctx: click.Context, src: Path, out: Path | None, resume: bool, strict: bool, **model_opts: Any) -> None:
    """Classify every image under SRC (recursively) and write one CSV row per file.

    Columns: path, label, confidence, label_2, confidence_2, …, status, error. A file that
    cannot be read gets status=error and the reason; the run goes on.

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
        animalsort classify ~/photos --labels imagenet --top-k 5 -o fine.csv
    """
    from animalsort.predict import ClassifyOptions, classify as run

    if resume and out is None:
        raise click.UsageError("--resume needs --out FILE (the CSV to continue)")
    quiet = ctx.obj["quiet"]
    summary = run(src, out, ClassifyOptions(resume=resume, **model_opts), progress=not quiet)
    if not quiet:
        _print_summary(summary, ctx.obj["verbose"])
    if strict and summary.failed:
        raise click.ClickException(f"{summary.failed} files could not be read (--strict); see the error column")


@main.command("sort")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--dest", "-d", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the label folders go (default: SRC itself).")
@click.option("--copy", "mode", flag_value="copy", default=True, help="Copy files (default).")
@click.option("--move", "mode", flag_value="move", help="Move files (undoable with `animalsort undo`).")
@click.option("--link", "mode", flag_value="link", help="Hard-link files (symlink across file systems).")
@click.option("--from", "from_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use a classify CSV instead of classifying (no model is loaded).")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=DEFAULT_MIN_CONFIDENCE, show_default=True,
              help="Below this, files go to _uncertain/.")
@click.option("--flat", is_flag=True, help="No sub-folders under each label.")
@click.option("--dry-run", "-n", is_flag=True, help="Print the plan; move no photo.")
@click.option("--verify", is_flag=True, help="Check each copy's sha256 (slower).")
@_model_options
@click.pass_context
@_translate_errors
def sort_cmd(ctx: click.Context, src: Path, dest: Path | None, mode: str, from_csv: Path | None,
             min_confidence: float, flat: bool, dry_run: bool, verify: bool, **model_opts: Any) -> None:
    """Sort the photos under SRC into DEST/<label>/<sub-folder>/, never overwriting.

    Files below --min-confidence go to _uncertain/, no_animal to _no_animal/, unreadable files
    stay where they are. A name already taken gets " (2)"; an identical file (same sha256) is
    reported, not duplicated. A journal in DEST/_animalsort/ makes every change undoable.

    \b
    Example:
        animalsort sort ~/photos --move
        animalsort sort ~/photos --dest ~/sorted --from preds.csv --dry-run
    """
    from animalsort import sort as S

    options = None
    if from_csv is None:
        from animalsort.predict import ClassifyOptions

        options = ClassifyOptions(**model_opts)
    quiet = ctx.obj["quiet"]
    res = S.run(src, dest, mode=mode, predictions=from_csv, classify_options=options,
                min_confidence=min_confidence, flat=flat, dry_run=dry_run, verify=verify,
                progress=not quiet)  # fmt: skip
    if res.classified is not None and not quiet:
        _print_summary(res.classified, ctx.obj["verbose"])
    p = res.plan
    if dry_run or not quiet:
        verb = {"copy": "copied", "move": "moved", "link": "linked"}[mode]
        head = "plan" if dry_run else verb
        counts = ", ".join(f"{folder} {n}" for folder, n in sorted(p.per_folder.items()))
        click.echo(f"{head}: {len(p.ops)} files ({counts or 'none'}) into {p.dest}", err=not dry_run)
    if dry_run:
        for line in S.preview(p):
            click.echo(f"  {line}")
        if len(p.ops) > 10:
            click.echo(f"  … {len(p.ops) - 10} more")
    if not quiet:
        if p.renamed:
            click.echo(f"  {p.renamed} renamed with a (n) suffix: the name was taken", err=True)
        for rel, other in p.duplicates[:5]:
            click.echo(f"  duplicate (not placed twice): {rel} = {other}", err=True)
        if len(p.duplicates) > 5:
            click.echo(f"  … {len(p.duplicates) - 5} more duplicates", err=True)
        for rel, why in p.left[:5]:
            click.echo(f"  left in place: {rel}: {why}", err=True)
        if len(p.left) > 5:
            click.echo(f"  … {len(p.left) - 5} more left in place", err=True)
        if dry_run and res.classified is not None:
            click.echo(f"predictions kept: reuse them with --from {res.predictions}", err=True)
    applied = res.applied
    if applied is not None:
        for src_path, why in applied.failed:
            click.echo(f"  failed: {src_path}: {why} (left where it was)", err=True)
        if not quiet:
            click.echo(f"journal: {applied.journal}\nundo with: animalsort undo '{applied.journal}'", err=True)
        if applied.failed:
            raise click.ClickException(f"{len(applied.failed)} of {len(p.ops)} files could not be placed; "
                                       "they are still at their source")


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "-o", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder for model.pt, metrics and plots (default: runs/<DATA name>).")
@click.option("--model", "-m", default=None, metavar="BASE", help="Pretrained registry model to start from.")
@click.option("--mode", type=click.Choice(["auto", "head", "full"]), default="auto", show_default=True,
              help="head: train a linear head on cached features (seconds; default on CPU); "
                   "full: train the whole network (default on GPU).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="full: epochs (default 10); head: optimisation steps (default 300).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate (head 1e-2; full 1e-3 per 64 images of batch).")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--val-split", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of each class held out for validation (ignored for train/ + val/ folders).")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Stop after this many epochs without a better validation score.")
@click.option("--balance", is_flag=True, help="Class-balanced sampling (full) or loss weights (head).")
@click.option("--resume", is_flag=True, help="Continue a full-mode run from RUN_DIR/last.pt.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True)
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None)
@click.option("--inspect/--no-inspect", default=True, show_default=True,
              help="Check the dataset first (as `animalsort inspect`): duplicates, train/val leaks, "
                   "blank or tiny images; writes RUN_DIR/inspect.html.")
@click.pass_context
@_translate_errors
def finetune(ctx: click.Context, data: Path, run_dir: Path | None, **options: Any) -> None:
    """Train a model for your own classes: DATA/<class>/**/*.jpg (or DATA/train, DATA/val, DATA/test).

    Checks the dataset first (counts, corrupt files, too-small classes, imbalance), then writes
    RUN_DIR/model.pt (use it with classify/sort --weights), metrics.csv, curves.png,
    confusion.png/.csv, report.csv, misclassified.csv and a suggested --min-confidence.
    Multi-GPU: torchrun --nproc-per-node N -m animalsort finetune DATA --mode full.

    \b
    Example:
        animalsort finetune ./mydata --out runs/pets
        animalsort classify ~/photos --weights runs/pets/model.pt -o preds.csv
    """
    from animalsort.finetune import FinetuneOptions, run

    quiet = ctx.obj["quiet"]
    res = run(data, run_dir, FinetuneOptions(**options), progress=not quiet)
    if quiet:
        return
    check = res.check
    click.echo(f"{'class':<24} {'train':>6} {'val':>5} {'test':>5}", err=True)
    for c, n in check.counts.items():
        click.echo(f"{c:<24} {n['train']:>6} {n['val']:>5} {n['test']:>5}", err=True)
    for w in check.warnings:
        click.echo(f"warning: {w}", err=True)
    for path, why in check.corrupt:
        click.echo(f"skipped (unreadable): {path}: {why}", err=True)
    if res.initialised_from_pretrained:
        click.echo(f"started from the pretrained classifier: {', '.join(res.initialised_from_pretrained)}", err=True)
    if res.mode == "head":
        click.echo(f"features: {res.features_computed} computed, {res.features_cached} from the cache", err=True)
    test = f", test accuracy {res.test_accuracy:.3f}" if res.test_accuracy is not None else ""
    click.echo(f"{res.mode} mode: validation accuracy {res.val_accuracy:.3f} (best epoch {res.best_epoch} of "
               f"{res.epochs_run}){test} in {res.seconds:.1f} s → {res.run_dir / 'model.pt'}", err=True)
    if res.min_confidence is not None:
        click.echo(f"suggested --min-confidence {res.min_confidence} (95% precision on validation, keeps "
                   f"{res.min_confidence_coverage:.0%} of images)", err=True)
    else:
        click.echo("no confidence threshold reaches 95% precision on validation; add images", err=True)


@main.command()
@click.argument("journal", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@_translate_errors
def undo(ctx: click.Context, journal: Path) -> None:
    """Put every file a sort placed back where it was, from the sort's JOURNAL.

    Works after an interrupted sort too. Anything that changed since the sort is left alone
    and reported (exit 1).

    \b
    Example:
        animalsort undo ~/photos/_animalsort/sort-20261122-101500.jsonl
    """
    from animalsort.sort import undo as run

    res = run(journal)
    if res.was_undone:
        click.echo("nothing to do: this sort was already undone", err=True)
        return
    if not ctx.obj["quiet"]:
        click.echo(f"restored {res.restored} files ({res.already} had not been placed), "
                   f"removed {res.dirs_removed} folders", err=True)  # fmt: skip
    for path, why in res.refused:
        click.echo(f"  refused: {path}: {why}", err=True)
    if res.refused:
        raise click.ClickException(f"{len(res.refused)} files were left alone; see above")


@main.command()
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write. Default: PREDICTIONS with .html.")
@click.option("--src", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder the CSV's paths are relative to. Default: the classified folder "
                   "(recorded in PREDICTIONS.json).")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=DEFAULT_MIN_CONFIDENCE, show_default=True,
              help="Below this a photo is listed under Uncertain.")
@click.option("--embed", is_flag=True,
              help="Embed small thumbnails (a page that works anywhere; decodes every photo once) "
                   "instead of linking the photos.")
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
              help="Processes making thumbnails with --embed (default: CPU cores − 1, at most 8).")
@click.pass_context
@_translate_errors
def report(ctx: click.Context, predictions: Path, out: Path | None, src: Path | None, min_confidence: float,
           embed: bool, workers: int | None) -> None:
    """Write an HTML page to browse a classify CSV: counts per label, then the uncertain
    files, the failed files and a gallery per label sorted by confidence.

    One self-contained file (plain HTML/CSS/JS, nothing from the network); thumbnails link to
    the photos, and open them when clicked.

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
        animalsort report preds.csv            # writes preds.html
    """
    from animalsort.images import default_workers
    from animalsort.report import build

    if workers is None:
        workers = default_workers()
    res = build(predictions, out, src=src, min_confidence=min_confidence, embed=embed, workers=workers)
    if not ctx.obj["quiet"]:
        labels = ", ".join(f"{k} {v}" for k, v in list(res.labels.items())[:8])
        more = f", … ({len(res.labels)} labels)" if len(res.labels) > 8 else ""
        click.echo(f"{res.rows} rows: {labels}{more}; {res.uncertain} uncertain, {res.failed} failed "
                   f"→ {res.out} ({res.seconds:.1f} s)", err=True)
        if res.missing:
            click.echo(f"warning: {res.missing} photos are not under {res.src} (moved by sort?); "
                       "pass --src FOLDER", err=True)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("explain"),
              show_default=True, help="Folder for the overlays (NAME.LABEL.gradcam.jpg; never overwritten).")
@click.option("--label", "-l", default=None, help="Explain this label instead of the predicted one.")
@click.option("--model", "-m", default=None, metavar="NAME", help="Registry model; default: lite0.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A model.pt from `animalsort finetune` (or its run folder).")
@click.option("--labels", type=click.Choice(LABEL_SETS), default="animals", show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.pass_context
@_translate_errors
def explain(ctx: click.Context, images: tuple[Path, ...], out_dir: Path, label: str | None, **opts: Any) -> None:
    """Show where the model looked: a Grad-CAM heat map over each IMAGE (or every image in
    a folder) for the predicted label, or for --label.

    The part of the photo outside the model's centre crop is dimmed.

    \b
    Example:
        animalsort explain cat.jpg dog.jpg --out why/
        animalsort explain fox.jpg --label dog --weights runs/pets
    """
    from animalsort.explain import run

    results = run(list(images), out_dir, label=label, progress=not ctx.obj["quiet"], **opts)
    failed = 0
    for e in results:
        if e.error:
            failed += 1
            click.echo(f"{e.path}: error: {e.error}", err=True)
        else:
            pred = "" if e.label == e.predicted else f" (predicted {e.predicted})"
            click.echo(f"{e.path}: {e.label} {e.confidence:.4f}{pred} → {e.out}")
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} images could not be read")


@main.command("inspect")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("inspect.html"),
              show_default=True, help="HTML page with plots and every finding.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the per-image statistics and findings as JSON.")
@click.option("--near", type=click.IntRange(-1, 32), default=6, show_default=True,
              help="Near duplicates differ in at most this many of 64 hash bits (-1: off).")
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
              help="Processes measuring images (default: CPU cores − 1, at most 8).")
@click.option("--strict", is_flag=True, help="Exit 1 if anything was found.")
@click.pass_context
@_translate_errors
def inspect_cmd(ctx: click.Context, data: Path, out: Path, json_out: Path | None, near: int, workers: int | None,
                strict: bool) -> None:
    """Check a dataset (DATA/<class>/…, or any folder of photos) before training on it.

    Images per class, size / aspect / brightness distributions, tiny, huge, odd-aspect,
    dark, bright and blank images, corrupt files, exact and near-duplicate images and
    duplicates across classes. Prints a table; writes --out with plots.

    \b
    Example:
        animalsort inspect ./mydata --out mydata-check.html
    """
    from animalsort import inspection as I
    from animalsort.images import default_workers

    if workers is None:
        workers = default_workers()
    res = I.scan(data, workers=workers, near=near, progress=not ctx.obj["quiet"])
    I.write_html(res, out)
    if json_out is not None:
        I.write_json(res, json_out)
    width = max(len(c) for c in res.classes) if res.classes else 5
    click.echo(f"{'class':<{width}} {'images':>7}")
    for c, n in res.classes.items():
        click.echo(f"{c or '(none)':<{width}} {n:>7}")
    click.echo("")
    for what, n in I.summary_rows(res):
        click.echo(f"{what:<28} {n:>10}")
    limit = None if ctx.obj["verbose"] else 10
    if res.findings:
        click.echo("")
    for f in res.findings[:limit]:
        where = f": {', '.join(f.paths[:4])}{' …' if len(f.paths) > 4 else ''}" if f.paths else ""
        click.echo(f"{f.kind}: {f.detail}{where}")
    if limit is not None and len(res.findings) > limit:
        click.echo(f"… {len(res.findings) - limit} more (see {out}, or -v)")
    if not ctx.obj["quiet"]:
        click.echo(f"{len(res.images)} images, {len(res.findings)} findings in {res.seconds:.1f} s → {out}", err=True)
    if strict and res.findings:
        raise click.ClickException(f"{len(res.findings)} findings (--strict)")


@main.command()
@click.argument("src", type=click.Path(path_type=Path), required=False)
@click.option("--sample", type=click.IntRange(min=8), default=256, show_default=True,
              help="How many images to time (the first ones found).")
@click.option("--model", "-m", default=None, metavar="NAME", help="Registry model; default: lite0.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--quick", is_flag=True, help="Fewer settings (batch sizes only).")
@click.pass_context
@_translate_errors
def bench(ctx: click.Context, src: Path | None, sample: int, model: str | None, weights: Path | None,
          device: str, quick: bool) -> None:
    """Time classify on SRC's photos (or generated ones) and recommend settings for this machine.

    Prints the model-only ceiling and images/s for each batch size, worker count and
    precision tried, then the options to use.

    \b
    Example:
        animalsort bench ~/photos --sample 512
    """
    from animalsort.bench import run

    res = run(src, sample=sample, model=model, weights=weights, device=device, quick=quick,
              progress=not ctx.obj["quiet"])  # fmt: skip
    click.echo(f"{res.sample} images from {res.source} on {res.device}")
    for precision, rate in res.ceiling.items():
        click.echo(f"model only ({precision}): {rate:.1f} images/s")
    click.echo(f"{'batch':>6} {'workers':>8} {'precision':>9} {'images/s':>9} {'x ceiling':>9}")
    for t in res.trials:
        click.echo(f"{t.batch_size:>6} {t.workers:>8} {t.precision:>9} {t.images_per_s:>9.1f} "
                   f"{t.images_per_s / res.ceiling[t.precision]:>9.2f}")  # fmt: skip
    b = res.best
    click.echo(f"recommended: --batch-size {b.batch_size} --workers {b.workers} --precision {b.precision} "
               f"({b.images_per_s:.1f} images/s)")


def _print_summary(summary: Any, verbose: bool) -> None:
    resumed = f", {summary.skipped} kept from before" if summary.skipped else ""
    click.echo(
        f"{summary.found} found, {summary.ok} ok, {summary.failed} failed{resumed} in "
        f"{summary.seconds:.1f} s ({summary.images_per_s:.1f} images/s) "
        f"[{summary.model} on {summary.device}, {summary.precision}]"
        + (f" → {summary.out}" if summary.out else ""),
        err=True,
    )
    shown = summary.errors if verbose else summary.errors[:5]
    for rel, reason in shown:
        click.echo(f"  failed: {rel}: {reason}", err=True)
    if summary.failed > len(shown):
        click.echo(f"  … {summary.failed - len(shown)} more failures: see the CSV's error column",
                   err=True)
    if summary.failed:
        click.echo(f"warning: {summary.failed} files could not be read; each has a row with status=error "
                   "(--strict makes this exit 1)", err=True)


@main.group()
def models() -> None:
    """List, download, locate and import model weights.

    \b
    Example:
        animalsort models list
        animalsort models download convnext_tiny
    """


@models.command("list")
@_translate_errors
def models_list() -> None:
    """List the registry: name, architecture, ImageNet top-1, size, and whether it is local.

    \b
    Example:
        animalsort models list
    """
    from animalsort.weights import availability, load_registry

    reg = load_registry()
    rows = [("name", "arch", "top-1", "size", "local", "license")]
    for name, spec in reg.models.items():
        default = " (default)" if name == reg.default else ""
        top1 = f"{spec.top1:.1f}" if spec.top1 is not None else "-"
        rows.append((name + default, spec.arch, top1, f"{spec.size / 1e6:.1f} MB",
                     availability(spec), spec.license))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@models.command("download")
@click.argument("name")
@click.option("--allow-http", is_flag=True, help="Allow a plain-http mirror (the sha256 is still checked).")
@click.pass_context
@_translate_errors
def models_download(ctx: click.Context, name: str, allow_http: bool) -> None:
    """Fetch NAME's weights into the cache (verified by sha256); no-op when present.

    \b
    Example:
        animalsort models download resnet50
    """
    from animalsort.weights import fetch, load_registry

    path = fetch(load_registry().get(name), progress=not ctx.obj["quiet"], allow_http=allow_http)
    click.echo(str(path))


@models.command("path")
@click.argument("name")
@_translate_errors
def models_path(name: str) -> None:
    """Print where NAME's weights file is (or would be) kept; exit 1 if it is not there yet.

    \b
    Example:
        animalsort models path lite0
    """
    from animalsort.errors import WeightsError
    from animalsort.weights import cached_path, load_registry, local_path

    spec = load_registry().get(name)
    path = local_path(spec)
    if path is None:
        raise WeightsError(
            f"{name} is not downloaded yet (it would go to {cached_path(spec)}); "
            f"run `animalsort models download {name}`"
        )
    click.echo(str(path))


@models.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_translate_errors
def models_import(name: str, file: Path) -> None:
    """Verify FILE against NAME's sha256 and place it in the cache (for air-gapped machines).

    \b
    Example:
        animalsort models import resnet50 /media/usb/resnet50-11ad3fa6.pth
    """
    from animalsort.weights import import_file, load_registry

    click.echo(str(import_file(load_registry().get(name), file)))
