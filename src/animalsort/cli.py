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
from animalsort.model import DEVICES, PRECISIONS
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
        click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="A weights file: a model.pt from `animalsort finetune`, or a state dict "
                          "for --model's architecture."),
        click.option("--labels", type=click.Choice(LABEL_SETS), default="animals", show_default=True,
                     help="Report animal labels, or the 1000 ImageNet classes."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="Where the model runs (auto: cuda > mps > cpu)."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="Inference precision (auto: fp16/bf16 on GPU, bf16 on CPUs with native "
                          "bf16, else fp32)."),
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
@_model_options
@click.pass_context
@_translate_errors
def classify(ctx: click.Context, src: Path, out: Path | None, resume: bool, **model_opts: Any) -> None:
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
@click.pass_context
@_translate_errors
def models_download(ctx: click.Context, name: str) -> None:
    """Fetch NAME's weights into the cache (verified by sha256); no-op when present.

    \b
    Example:
        animalsort models download resnet50
    """
    from animalsort.weights import fetch, load_registry

    path = fetch(load_registry().get(name), progress=not ctx.obj["quiet"])
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
