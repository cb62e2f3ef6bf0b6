"""`animalsort bench`: batch sizes, workers, runtimes and precisions timed on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from animalsort.cli.common import device_option, output_options, translate_errors


@click.command()
@click.argument("src", type=click.Path(path_type=Path), required=False)
@click.option(
    "--sample",
    type=click.IntRange(min=8),
    default=256,
    show_default=True,
    help="How many images to time (the first ones found).",
)
@click.option("--model", "-m", default=None, metavar="NAME", help="Registry model; default: lite0.")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A weights file to time instead of --model's (a model.pt from `animalsort finetune`).",
)
@device_option
@click.option("--quick", is_flag=True, help="Fewer settings (batch sizes only).")
@output_options
@click.pass_context
@translate_errors
def bench(
    ctx: click.Context, src: Path | None, sample: int, model: str | None, weights: Path | None, device: str, quick: bool
) -> None:
    """Time classify on SRC's photos (or generated ones) and recommend settings for this machine.

    Prints the model-only ceiling and images/s for each runtime, precision, batch size and
    worker count tried, then the options to use.

    \b
    Example:
        animalsort bench ~/photos --sample 512
    """
    from animalsort.inference.bench import benchmark_folder

    res = benchmark_folder(
        src, sample=sample, model=model, weights=weights, device=device, quick=quick, progress=not ctx.obj["quiet"]
    )
    click.echo(f"{res.sample} images from {res.source} on {res.device}")
    click.echo(f"CPU features: {', '.join(res.features) or 'none of AVX2, AVX-512, VNNI, BF16, AMX'}")
    for setting, rate in res.ceiling.items():
        gate = f" (first label agrees with fp32 on {res.agreement[setting]:.1%})" if setting in res.agreement else ""
        click.echo(f"model only ({setting}): {rate:.1f} images/s{gate}")
    for setting, why in res.refused.items():
        click.echo(f"refused ({setting}): {why}")
    click.echo(f"{'batch':>6} {'workers':>8} {'runtime':>8} {'precision':>9} {'images/s':>9} {'x ceiling':>9}")
    for t in res.trials:
        click.echo(
            f"{t.batch_size:>6} {t.workers:>8} {t.runtime:>8} {t.precision:>9} {t.images_per_s:>9.1f} "
            f"{t.images_per_s / res.ceiling[t.setting]:>9.2f}"
        )
    b = res.best
    click.echo(
        f"recommended: --runtime {b.runtime} --precision {b.precision} --batch-size {b.batch_size} "
        f"--workers {b.workers} ({b.images_per_s:.1f} images/s)"
    )
