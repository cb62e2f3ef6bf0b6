"""models export: the model as a self-describing ONNX file (``animalsort models export``)."""

from __future__ import annotations

from pathlib import Path

import click

from animalsort.cli.common import model_source_options, out_file_option, output_options, translate_errors


@click.command("export")
@model_source_options
@click.option(
    "--precision",
    type=click.Choice(["fp32", "int8"]),
    default="fp32",
    show_default=True,
    help="int8: the quantized graph, for a model whose int8 passes its gate here (else the refusal says why).",
)
@out_file_option("The .onnx file.", required=True)
@output_options
@click.pass_context
@translate_errors
def export_model(ctx: click.Context, out: Path, **opts: str | Path | None) -> None:
    """Write the model as an ONNX file that runs with onnxruntime alone (no torch).

    Input: uint8 images, N×H×W×3 RGB, cropped as the metadata's preprocessing says;
    normalisation happens inside the graph. Output: the probability of each label. The
    metadata holds the labels, the label set, the preprocessing, the weights' sha256, the
    animalsort version and how classify picks the first label. The graph was checked
    against torch when it was made.

    \b
    Example:
        animalsort models export --out lite0-animals.onnx
        animalsort models export --weights runs/pets --out pets.onnx
    """
    from animalsort.model.onnx_export import export_file

    res = export_file(out, progress=not ctx.obj["quiet"], **opts)  # type: ignore[arg-type]
    if not ctx.obj["quiet"]:
        click.echo(
            f"{res.name} {res.precision}: {len(res.labels)} labels ({res.label_set}), {res.bytes / 1e6:.1f} MB, "
            f"fp32 graph max |onnx − torch| {res.max_abs_diff:.1g} → {res.path}",
            err=True,
        )
