"""``audit report --html``: the audit's estimates as one self-contained page — the headline
numbers, a table per label, the missed animals, and for each label a plot of its precision
against the confidence threshold (with its 95% band, the target and the threshold chosen).
Plain HTML, CSS and inline SVG: no script, nothing from the network.
"""

from __future__ import annotations

import math
from pathlib import Path

from animalsort.audit.intervals import Interval
from animalsort.audit.result import METHOD, AuditResult
from animalsort.audit.thresholds import Threshold
from animalsort.pages import html

STYLE = """
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card2 { background:#fff; border:1px solid var(--line); border-radius:6px; padding:10px 16px; min-width:220px; }
.card2 b { display:block; font-size:26px; }
.plots { display:grid; grid-template-columns:repeat(auto-fill,minmax(300px,1fr)); gap:12px; }
.plots figure { margin:0; background:#fff; border:1px solid var(--line); border-radius:6px; padding:6px; }
.plots figcaption { font-weight:600; padding:2px 4px; }
svg text { font:11px system-ui,sans-serif; fill:var(--muted); }
dl.method dt { font-weight:600; margin-top:6px; }
dl.method dd { margin:0 0 0 16px; color:var(--muted); }
"""

W, H, PAD = 300, 190, 34  # a threshold plot: width, height, margin for the axes


def render(r: AuditResult) -> str:
    subtitle = (
        f"{r.predictions.name} · sample {r.sample.name}: {r.sampled:,} of {r.classified:,} classified rows "
        f"({r.answered:,} answered, {r.cant_tell:,} can't tell, {r.unanswered:,} not yet) · seed {r.seed} · "
        f"min confidence {r.min_confidence:g} · 95% intervals"
    )
    body = (
        f"<style>{STYLE}</style><main>{_cards(r)}"
        f"<h2>Labels</h2>{_forest(r)}{_label_table(r)}"
        f"{_missed_table(r)}"
        f"<h2>Precision against the confidence threshold (target {r.target_precision:g})</h2>{_plots(r)}"
        f"<h2>Strata</h2>{_strata_table(r)}"
        f"<h2>Method</h2><dl class='method'>"
        + "".join(f"<dt>{html.esc(k)}</dt><dd>{html.esc(v)}</dd>" for k, v in METHOD.items())
        + "</dl></main>"
    )
    return html.page("animalsort audit", subtitle, body)


def write(r: AuditResult, out: Path) -> None:
    html.write_page(out, render(r))


def _span(iv: Interval | None, digits: int = 3) -> str:
    if iv is None:
        return "<span class='muted'>no answers yet</span>"
    return f"{iv.estimate:.{digits}f} <span class='muted'>({iv.low:.{digits}f}–{iv.high:.{digits}f})</span>"


def _cards(r: AuditResult) -> str:
    waiting = f" — waiting for answers in {', '.join(r.waiting)}" if r.waiting else ""
    cards = [("overall accuracy", _span(r.accuracy) + html.esc(waiting), f"{r.answered:,} answers")]
    if r.missed is not None:
        m = r.missed
        count = (
            f"{m.count.estimate:,.0f} <span class='muted'>({m.count.low:,.0f}–{m.count.high:,.0f})</span>"
            if m.count and m.share
            else "<span class='muted'>no answers yet</span>"
        )
        share = f"of {m.rows:,} rows labelled no_animal" + (f" ({m.share.estimate:.1%})" if m.share else "")
        cards.append(("missed animals", count, share))
    cards.append(("accuracy below min confidence", _span(r.uncertain), "the _uncertain stratum"))
    cards.append(("can't tell", f"{r.cant_tell:,}", "answers left out"))
    return (
        "<section class='cards' id='headline'>"
        + "".join(
            f"<div class='card2'><span class='muted'>{html.esc(k)}</span><b>{v}</b><span class='muted'>"
            f"{html.esc(note)}</span></div>"
            for k, v, note in cards
        )
        + "</section>"
    )


def _label_table(r: AuditResult) -> str:
    head = (
        "<tr><th>label</th><th class='num'>rows</th><th class='num'>answered</th><th>precision</th>"
        f"<th class='num'>threshold for {r.target_precision:g}</th><th>precision there</th>"
        "<th class='num'>to _uncertain now</th><th class='num'>with the threshold</th><th>recall</th></tr>"
    )
    body = ""
    for label, res in r.labels.items():
        t = r.thresholds[label]
        rec = r.recall.get(label)
        body += (
            f"<tr data-label='{html.esc(label)}'><td>{html.esc(label)}</td><td class='num'>{res.rows:,}</td>"
            f"<td class='num'>{res.answered:,}</td><td>{_span(res.precision)}</td>"
            f"<td class='num threshold'>{'—' if t.threshold is None else f'{t.threshold:.4f}'}</td>"
            f"<td>{_span(t.point.precision) if t.point else ''}</td><td class='num'>{t.uncertain_now:,}</td>"
            f"<td class='num'>{'' if t.point is None else f'{t.point.to_uncertain:,}'}</td>"
            f"<td>{_span(rec[0]) if rec else ''}</td></tr>"
        )
    need = r.needed_answers
    note = (
        f"<p class='muted'>A threshold needs at least {need} answers above it, all right, to show "
        f"{r.target_precision:g} with 95% confidence; — where the sample cannot show it.</p>"
        if need
        else ""
    )
    return f"<table id='labels'>{head}{body}</table>{note}"


def _missed_table(r: AuditResult) -> str:
    if r.missed is None or not r.missed.animals:
        return ""
    rows = "".join(
        f"<tr><td>{html.esc(k)}</td><td class='num'>{v:,.0f}</td><td class='num'>{r.missed.seen[k]}</td></tr>"
        for k, v in sorted(r.missed.animals.items(), key=lambda kv: -kv[1])
    )
    return (
        "<h2>Animals among the rows labelled no_animal</h2><table id='missed'>"
        "<tr><th>what they showed</th><th class='num'>estimated rows</th><th class='num'>answers</th></tr>"
        f"{rows}</table>"
    )


def _strata_table(r: AuditResult) -> str:
    rows = "".join(
        f"<tr><td>{html.esc(s.name)}</td><td class='num'>{s.rows:,}</td><td class='num'>{s.sampled:,}</td>"
        f"<td class='num'>{s.answered:,}</td><td class='num'>{s.cant_tell:,}</td><td class='num'>{s.right:,}</td></tr>"
        for s in r.strata
    )
    head = (
        "<tr><th>stratum</th><th class='num'>rows</th><th class='num'>sampled</th><th class='num'>answered</th>"
        "<th class='num'>can't tell</th><th class='num'>right</th></tr>"
    )
    return f"<table id='strata'>{head}{rows}</table>"


def _forest(r: AuditResult) -> str:
    """Each label's precision interval on one axis from 0 to 1, the target marked."""
    shown = [(k, v.precision) for k, v in r.labels.items() if v.precision is not None]
    if not shown:
        return ""
    left, width, row = 120, 360, 18
    height = row * len(shown) + 24
    x = lambda v: left + v * width  # noqa: E731
    marks = [
        f"<line x1='{x(r.target_precision)}' x2='{x(r.target_precision)}' y1='0' y2='{height - 18}' "
        "stroke='#b26a00' stroke-dasharray='4 3'/>"
    ]
    for i, (label, iv) in enumerate(shown):
        y = 12 + i * row
        marks.append(
            f"<text x='{left - 6}' y='{y + 4}' text-anchor='end'>{html.esc(label)}</text>"
            f"<line x1='{x(iv.low):.1f}' x2='{x(iv.high):.1f}' y1='{y}' y2='{y}' stroke='#1f6feb' stroke-width='3'/>"
            f"<circle cx='{x(iv.estimate):.1f}' cy='{y}' r='4' fill='#1d232b'/>"
        )
    for v in (0, 0.25, 0.5, 0.75, 1):
        marks.append(f"<text x='{x(v)}' y='{height - 4}' text-anchor='middle'>{v:g}</text>")
    return (
        f"<svg id='forest' width='{left + width + 20}' height='{height}' role='img' "
        f"aria-label='precision of each label with its 95% interval'>{''.join(marks)}</svg>"
    )


def _plots(r: AuditResult) -> str:
    figures = [_plot(t, r.target_precision, r.min_confidence) for t in r.thresholds.values() if t.curve]
    return f"<div class='plots'>{''.join(figures)}</div>" if figures else "<p class='muted'>no answers yet</p>"


def _plot(t: Threshold, target: float, min_confidence: float) -> str:
    """Precision (and its band) of the rows at or above each threshold, threshold on x."""
    pts = sorted(t.curve, key=lambda p: p.threshold)
    # the y axis from a little under the lowest estimate (the band is cut there: a threshold with one
    # answer above it has a lower limit near 0, which would flatten the rest)
    floor = min(0.5, math.floor(10 * min(p.precision.estimate for p in pts) - 1) / 10)
    floor = max(floor, 0.0)
    x = lambda v: PAD + v * (W - PAD - 8)  # noqa: E731
    y = lambda v: 8 + (1 - (v - floor) / (1 - floor)) * (H - PAD - 8)  # noqa: E731
    band = [(x(p.threshold), y(p.precision.high)) for p in pts] + [
        (x(p.threshold), y(max(p.precision.low, floor))) for p in reversed(pts)
    ]
    line = " ".join(f"{x(p.threshold):.1f},{y(p.precision.estimate):.1f}" for p in pts)
    parts = [
        f"<polygon class='band' points='{' '.join(f'{a:.1f},{b:.1f}' for a, b in band)}' fill='#1f6feb' "
        "fill-opacity='.18' stroke='none'/>",
        f"<polyline class='estimate' points='{line}' fill='none' stroke='#1f6feb' stroke-width='2'/>",
        f"<line x1='{PAD}' x2='{W - 8}' y1='{y(target):.1f}' y2='{y(target):.1f}' stroke='#b26a00' "
        "stroke-dasharray='4 3'/>",
        f"<line x1='{x(min_confidence):.1f}' x2='{x(min_confidence):.1f}' y1='8' y2='{H - PAD}' stroke='#5d6873' "
        "stroke-dasharray='2 3'/>",
        f"<line x1='{PAD}' x2='{W - 8}' y1='{H - PAD}' y2='{H - PAD}' stroke='#5d6873'/>",
    ]
    if t.point is not None:
        parts.append(
            f"<circle class='chosen' cx='{x(t.point.threshold):.1f}' cy='{y(t.point.precision.estimate):.1f}' "
            "r='5' fill='#1a7f37'/>"
        )
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f"<text x='{x(v):.1f}' y='{H - PAD + 14}' text-anchor='middle'>{v:g}</text>")
    for v in (floor, (1 + floor) / 2, 1):
        parts.append(f"<text x='{PAD - 4}' y='{y(v) + 4:.1f}' text-anchor='end'>{v:.2f}</text>")
    parts.append(f"<text x='{W / 2}' y='{H - 4}' text-anchor='middle'>confidence threshold</text>")
    chosen = "no threshold reaches the target" if t.threshold is None else f"threshold {t.threshold:.4f}"
    return (
        f"<figure data-label='{html.esc(t.label)}'><figcaption>{html.esc(t.label)} "
        f"<span class='muted'>{chosen}</span></figcaption>"
        f"<svg width='{W}' height='{H}' role='img' aria-label='precision of {html.esc(t.label)} against the "
        f"threshold'>{''.join(parts)}</svg></figure>"
    )
