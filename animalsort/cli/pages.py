"""report, review, explain and inspect: the commands that make pages and pictures to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from animalsort.cli.common import (
    csv_src_option,
    device_option,
    min_confidence_option,
    model_source_options,
    out_file_option,
    output_options,
    predictions_argument,
    print_refused,
    print_thresholds,
    processes_option,
    refuse_given,
    thresholds_option,
    translate_errors,
    view_option,
)


@click.command()
@predictions_argument
@out_file_option("HTML file to write. Default: PREDICTIONS with .html.")
@csv_src_option()
@min_confidence_option("Below this a photo is listed under Uncertain.")
@thresholds_option
@click.option(
    "--embed",
    is_flag=True,
    help="Embed small thumbnails (a page that works anywhere; decodes every photo once) instead of linking the photos.",
)
@processes_option("Processes making thumbnails with --embed (default: CPU cores − 1, at most 8).")
@output_options
@click.pass_context
@translate_errors
def report(
    ctx: click.Context,
    predictions: Path,
    out: Path | None,
    src: Path | None,
    min_confidence: float,
    thresholds: Path | None,
    embed: bool,
    workers: int | None,
) -> None:
    """Write an HTML page to browse a classify CSV: counts per label, then the uncertain
    files, the failed files and a gallery per label sorted by confidence.

    One self-contained file (plain HTML/CSS/JS, nothing from the network); thumbnails link to
    the photos, and open them when clicked.

    \b
    Example:
        animalsort classify ~/photos --out preds.csv
        animalsort report preds.csv            # writes preds.html
    """
    from animalsort.formats.thresholds import load
    from animalsort.machine import default_workers
    from animalsort.pages.report import build

    if workers is None:
        workers = default_workers()
    used = load(thresholds, min_confidence)
    res = build(predictions, out, src=src, thresholds=used, embed=embed, workers=workers)
    if not ctx.obj["quiet"]:
        labels = ", ".join(f"{k} {v}" for k, v in list(res.labels.items())[:8])
        more = f", … ({len(res.labels)} labels)" if len(res.labels) > 8 else ""
        click.echo(
            f"{res.rows} rows: {labels}{more}; {res.uncertain} uncertain, {res.failed} failed"
            + (f", {res.reviewed} reviewed" if res.reviewed else "")
            + f" → {res.out} ({res.seconds:.1f} s)",
            err=True,
        )
        print_thresholds(used)
        if res.missing:
            click.echo(
                f"warning: {res.missing} photos are not under {res.src} (moved by sort?); pass --src FOLDER", err=True
            )
    print_refused(res.refused, ctx.obj["verbose"])


@click.command()
@predictions_argument
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@csv_src_option()
@min_confidence_option("Below this a photo is uncertain: the page can show those alone (as sort's _uncertain/).")
@thresholds_option
@output_options
@click.pass_context
@translate_errors
def review(
    ctx: click.Context,
    predictions: Path,
    port: int,
    no_browser: bool,
    src: Path | None,
    min_confidence: float,
    thresholds: Path | None,
) -> None:
    """Correct a classify CSV in your browser, one keypress a photo; or answer an audit sample.

    Serves a page on 127.0.0.1 only, at an address with a random token (other users of the
    machine and other web pages cannot reach it). Least confident photos first; Enter accepts,
    2–5 picks another of the model's labels, L any label (or a new one), N no_animal, → skips,
    U undoes, G shows a grid; "show uncertain" lists the photos below --min-confidence (or
    their label's --thresholds) alone. Every decision is saved at once to
    PREDICTIONS.corrections.csv (stop any time; running it again resumes); sort --from,
    finetune --from and report use it.

    Given a sample from `animalsort audit sample`, only its photos: Enter says the label is
    right, 2–5 or L another label, N not an animal, C can't tell; each answer is saved into
    the sample's truth column at once, and the page shows the accuracy so far.

    \b
    Example:
        animalsort review preds.csv
        animalsort sort ~/photos --from preds.csv --move
        animalsort finetune --from preds.csv --out runs/mine
        animalsort review preds.sample.csv      # audit mode
    """
    import threading
    import webbrowser

    from animalsort.pages.review_server import ReviewServer

    quiet = ctx.obj["quiet"]
    session, page, what, kept = _review_session(ctx, predictions, src, min_confidence, thresholds)
    print_refused(session.refused, ctx.obj["verbose"])
    try:
        server = ReviewServer(session, port, page)  # type: ignore[arg-type]  # an AuditSession answers the same calls
    except OSError as exc:
        session.close()
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; try --port 0") from None
    done = len(session.corrected)
    click.echo(
        f"{what} {len(session.items):,} photos ({done:,} {'answered' if what == 'audit' else 'reviewed'}) at "
        f"{server.url}\n{kept} as you make them; Ctrl+C stops",
        err=True,
    )
    if not no_browser:
        threading.Timer(0.3, webbrowser.open, (server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        session.close()
    if not quiet:
        verb = "answered" if what == "audit" else "reviewed"
        where = session.path if what == "audit" else session.corrections_file
        click.echo(f"{len(session.corrected):,} of {len(session.items):,} {verb} → {where}", err=True)


def _review_session(
    ctx: click.Context, predictions: Path, src: Path | None, min_confidence: float, thresholds: Path | None
) -> tuple[Any, str | None, str, str]:
    """review's session (a predictions CSV) or its audit mode's (a sample), the page (None:
    review's own), the mode, and where the decisions go."""
    from animalsort.formats.answers import is_sample

    if is_sample(predictions):
        from animalsort.pages import review_audit

        refuse_given(ctx, ["min_confidence", "thresholds"], "in audit mode: every photo of a sample is asked about")
        audit = review_audit.AuditSession(predictions, src)
        return audit, review_audit.render(audit), "audit", f"answers are saved into {audit.path}'s truth column"
    from animalsort.formats.thresholds import load
    from animalsort.pages.review_session import Session

    session = Session(predictions, src, thresholds=load(thresholds, min_confidence))
    return session, None, "review", f"corrections are saved to {session.corrections_file}"


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("explain"),
    show_default=True,
    help="Folder for the overlays (NAME.LABEL.gradcam.jpg; never overwritten).",
)
@click.option("--label", "-l", default=None, help="Explain this label instead of the predicted one.")
@model_source_options
@device_option
@view_option(
    "frame",
    "As classify's --view: the map is of what classify's answer came from (the whole frame, the "
    "animal's box in it, or a closer look's square).",
)
@output_options
@click.pass_context
@translate_errors
def explain(ctx: click.Context, images: tuple[Path, ...], out_dir: Path, label: str | None, **opts: Any) -> None:
    """Show where the model looked: a Grad-CAM heat map over each IMAGE (or every image in
    a folder) for the predicted label, or for --label.

    The part of the photo outside the window the model answered from (the centre crop with
    --view centre) is dimmed.

    \b
    Example:
        animalsort explain cat.jpg dog.jpg --out why/
        animalsort explain fox.jpg --label dog --weights runs/pets
    """
    from animalsort.pages.explain import explain_images

    results = explain_images(list(images), out_dir, label=label, progress=not ctx.obj["quiet"], **opts)
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


@click.command("inspect")
@click.argument("data", type=click.Path(path_type=Path))
@out_file_option("HTML page with plots and every finding.", default=Path("inspect.html"), show_default=True)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the per-image statistics and findings as JSON.",
)
@click.option(
    "--near",
    type=click.IntRange(-1, 32),
    default=6,
    show_default=True,
    help="Near duplicates differ in at most this many of 64 hash bits (-1: off).",
)
@processes_option("Processes measuring images (default: CPU cores − 1, at most 8).")
@click.option("--strict", is_flag=True, help="Exit 1 if anything was found.")
@output_options
@click.pass_context
@translate_errors
def inspect_cmd(
    ctx: click.Context, data: Path, out: Path, json_out: Path | None, near: int, workers: int | None, strict: bool
) -> None:
    """Check a dataset (DATA/<class>/…, or any folder of photos) before training on it.

    Images per class, size / aspect / brightness distributions, tiny, huge, odd-aspect,
    dark, bright and blank images, corrupt files, exact and near-duplicate images and
    duplicates across classes. Prints a table; writes --out with plots.

    \b
    Example:
        animalsort inspect ./mydata --out mydata-check.html
    """
    from animalsort.datasets import inspection
    from animalsort.machine import default_workers
    from animalsort.pages import inspection_page

    if workers is None:
        workers = default_workers()
    res = inspection.scan(data, workers=workers, near=near, progress=not ctx.obj["quiet"])
    inspection_page.write_html(res, out)
    if json_out is not None:
        inspection_page.write_json(res, json_out)
    width = max(len(c) for c in res.classes) if res.classes else 5
    click.echo(f"{'class':<{width}} {'images':>7}")
    for c, n in res.classes.items():
        click.echo(f"{c or '(none)':<{width}} {n:>7}")
    click.echo("")
    for what, n in inspection_page.summary_rows(res):
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
