"""What ``animalsort inspect`` shows of a dataset check: the printed table, the HTML page
(plots and every finding with thumbnails) and the JSON record. No torch."""

from __future__ import annotations

import os
from pathlib import Path

from animalsort.datasets.inspection import COUNTED_AS_FINDINGS, KIND_TITLES, Inspection
from animalsort.pages import html
from animalsort.pages.thumbnails import figure_data_uri, thumbnail_data_uri


def summary_rows(result: Inspection) -> list[tuple[str, str]]:
    """(what, how many) for the printed table, in the order of KIND_TITLES."""
    ok = [s for s in result.images if s.ok]
    rows = [("images", str(len(result.images))), ("classes", str(len(result.classes)))]
    if ok:
        widths, heights = sorted(s.width for s in ok), sorted(s.height for s in ok)
        rows.append(("median size", f"{widths[len(widths) // 2]}×{heights[len(heights) // 2]} px"))
    found = result.by_kind()
    for kind, title in KIND_TITLES.items():
        fs = found.get(kind, [])
        n = len(fs) if kind in COUNTED_AS_FINDINGS else len({p for f in fs for p in f.paths})
        rows.append((title, str(n)))
    return rows


def write_html(result: Inspection, out: Path, thumbnails: int = 60) -> None:
    """``inspect.html``: the summary, plots (class counts, sizes, aspect, brightness) and
    every finding, with small embedded thumbnails of the flagged images."""
    plots = _plots(result)
    table = "".join(
        f"<tr><td>{html.esc(k)}</td><td class='num'>{html.esc(v)}</td></tr>" for k, v in summary_rows(result)
    )
    budget = [thumbnails]

    def thumbs(paths: list[str]) -> str:
        figs = []
        for p in paths:
            full = result.root / p
            uri = thumbnail_data_uri(full, size=160) if budget[0] > 0 else None
            budget[0] -= uri is not None
            img = f"<img src='{uri}' alt=''>" if uri else "<img alt=''>"
            figs.append(
                f"<figure><a href='{html.esc(html.href(full, out.absolute().parent))}'>{img}</a>"
                f"<figcaption>{html.esc(p)}</figcaption></figure>"
            )
        return f"<div class='thumbs'>{''.join(figs)}</div>" if figs else ""

    sections = []
    for kind, fs in result.by_kind().items():
        items = "".join(f"<li><p>{html.esc(f.detail)}</p>{thumbs(f.paths)}</li>" for f in fs)
        sections.append(
            f"<section class='finding' data-kind='{kind}'><h2>{html.esc(KIND_TITLES.get(kind, kind))} "
            f"({len(fs)})</h2><ul>{items}</ul></section>"
        )
    body = (
        f"<section><h2>Summary</h2><table>{table}</table></section>"
        + "<section><h2>Plots</h2>"
        + "".join(f"<p><img class='plot' src='{p}' alt='plot'></p>" for p in plots)
        + "</section>"
        + ("".join(sections) or "<section><h2>No problems found</h2></section>")
    )
    subtitle = f"{os.fsdecode(result.root)} · {len(result.images)} images · {len(result.findings)} findings"
    html.write_page(out, html.page("animalsort inspect", subtitle, body))


def _plots(result: Inspection) -> list[str]:
    """The page's plots as PNG data URIs: images per class; sizes, aspect ratios and brightness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [s for s in result.images if s.ok]
    plots = []
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.25 * len(result.classes) + 1)))
    names = list(result.classes)
    ax.barh(names[::-1], [result.classes[c] for c in names][::-1], color="#1f6feb")
    ax.set_xlabel("images")
    ax.set_title("images per class")
    plots.append(figure_data_uri(fig))
    if ok:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        axes[0].scatter([s.width for s in ok], [s.height for s in ok], s=8, alpha=0.6, color="#1f6feb")
        axes[0].set_xlabel("width (px)")
        axes[0].set_ylabel("height (px)")
        axes[0].set_title("sizes")
        axes[1].hist([max(s.width, s.height) / max(1, min(s.width, s.height)) for s in ok], bins=30, color="#1f6feb")
        axes[1].set_xlabel("aspect (long / short side)")
        axes[1].set_title("aspect ratios")
        axes[2].hist([s.brightness for s in ok], bins=32, range=(0, 255), color="#1f6feb")
        axes[2].set_xlabel("mean brightness (0–255)")
        axes[2].set_title("brightness")
        plots.append(figure_data_uri(fig))
    return plots


def write_json(result: Inspection, out: Path) -> None:
    import json
    from dataclasses import asdict

    from animalsort.atomic import write_text
    from animalsort.errors import OutputError

    record = {
        "root": os.fsdecode(result.root.absolute()),
        "classes": result.classes,
        "findings": [asdict(f) for f in result.findings],
        "images": [{**asdict(s), "dhash": f"{s.dhash:016x}"} for s in result.images],
        "seconds": round(result.seconds, 3),
    }
    try:
        write_text(out, json.dumps(record, indent=1) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another --json") from None
