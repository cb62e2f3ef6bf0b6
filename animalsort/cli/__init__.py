"""The command line. Each command parses options, calls one core function and prints a
summary; AnimalsortError becomes ``Error: …`` with exit 1 (runtime) or 2 (usage).

Only this package imports click; torch is imported only inside commands, so ``--help``
stays instant. One module per family of commands: classify.py (classify, merge, sort, undo, bench),
finetune.py, pages.py (report, review, explain, inspect), tag.py, exports.py (export: results in other
formats), model_export.py (models export), models.py, audit.py (audit sample, audit report); common.py holds
what they share.
"""

from __future__ import annotations

import os

import click

from animalsort._version import __version__
from animalsort.cli.audit import audit
from animalsort.cli.bench import bench
from animalsort.cli.classify import classify
from animalsort.cli.exports import export
from animalsort.cli.finetune import finetune
from animalsort.cli.merge import merge
from animalsort.cli.models import models
from animalsort.cli.pages import explain, inspect_cmd, report, review
from animalsort.cli.sort import sort_cmd, undo
from animalsort.cli.tag import tag


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="animalsort")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
@click.option("--verbose", "-v", is_flag=True, help="List every failed file in the summary.")
@click.option(
    "--max-megapixels",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="MP",
    help="Decode photos up to this size (the default takes every camera's photos; larger ones are refused as "
    "decompression bombs): for pixel-shift composites and panoramas. Same as $ANIMALSORT_MAX_MEGAPIXELS.",
)
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: bool, max_megapixels: float | None) -> None:
    """Classify folders of photos by animal, sort them into folders, fine-tune on your own.

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
        animalsort --max-megapixels 400 classify ~/panoramas -o p.csv
    """
    ctx.obj = {"quiet": quiet, "verbose": verbose}
    if max_megapixels is not None:
        from animalsort.sources.decode import MAX_MEGAPIXELS_ENV

        # The environment reaches every process that decodes: DataLoader workers, Ray, thumbnail pools.
        os.environ[MAX_MEGAPIXELS_ENV] = f"{max_megapixels:g}"


for command in (
    classify,
    merge,
    sort_cmd,
    undo,
    tag,
    finetune,
    report,
    review,
    explain,
    inspect_cmd,
    bench,
    export,
    models,
    audit,
):
    main.add_command(command)

__all__ = ["main"]
