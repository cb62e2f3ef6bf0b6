"""models: list, download, locate, import and export model weights."""

from __future__ import annotations

from pathlib import Path

import click

from animalsort.cli.common import output_options, translate_errors
from animalsort.cli.model_export import export_model


@click.group()
def models() -> None:
    """List, download, locate and import model weights; export a model as ONNX.

    \b
    Example:
        animalsort models list
        animalsort models download convnext_tiny
        animalsort models export --out lite0-animals.onnx
    """


models.add_command(export_model)


@models.command("list")
@translate_errors
def models_list() -> None:
    """List the registry: name, architecture, ImageNet top-1, size, and whether it is local.

    \b
    Example:
        animalsort models list
    """
    from animalsort.model.fetch import availability
    from animalsort.model.registry import load_registry

    reg = load_registry()
    rows = [("name", "arch", "top-1", "size", "local", "license")]
    for name, spec in reg.models.items():
        roles = [r for r, n in (("default", reg.default), ("finetune default", reg.finetune_default)) if n == name]
        default = f" ({', '.join(roles)})" if roles else ""
        top1 = f"{spec.top1:.1f}" if spec.top1 is not None else "-"
        rows.append((name + default, spec.arch, top1, f"{spec.size / 1e6:.1f} MB", availability(spec), spec.license))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@models.command("download")
@click.argument("name")
@click.option("--allow-http", is_flag=True, help="Allow a plain-http mirror (the sha256 is still checked).")
@output_options
@click.pass_context
@translate_errors
def models_download(ctx: click.Context, name: str, allow_http: bool) -> None:
    """Fetch NAME's weights into the cache (verified by sha256); no-op when present.

    \b
    Example:
        animalsort models download resnet50
    """
    from animalsort.model.fetch import fetch
    from animalsort.model.registry import load_registry

    path = fetch(load_registry().get(name), progress=not ctx.obj["quiet"], allow_http=allow_http)
    click.echo(str(path))


@models.command("path")
@click.argument("name")
@translate_errors
def models_path(name: str) -> None:
    """Print where NAME's weights file is (or would be) kept; exit 1 if it is not there yet.

    \b
    Example:
        animalsort models path lite0
    """
    from animalsort.errors import WeightsError
    from animalsort.model.fetch import cached_path, local_path
    from animalsort.model.registry import load_registry

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
@translate_errors
def models_import(name: str, file: Path) -> None:
    """Verify FILE against NAME's sha256 and place it in the cache (for air-gapped machines).

    \b
    Example:
        animalsort models import resnet50 /media/usb/resnet50-11ad3fa6.pth
    """
    from animalsort.model.fetch import import_file
    from animalsort.model.registry import load_registry

    click.echo(str(import_file(load_registry().get(name), file)))
