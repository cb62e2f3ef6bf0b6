"""``animalsort report``: a predictions CSV → one self-contained HTML page to look at.

Counts per label, then tabs: the uncertain files (least sure first), the failed files (with
their reasons), and a gallery per label sorted by confidence. Each thumbnail links to its
file; a video clip shows its best frame (embedded) and links to the clip at that time. The
rows travel as one JSON block and the page renders a tab's cards in chunks as the user
scrolls, with lazily loaded images, so 10,000+ rows open instantly. Thumbnails link to
the photos relative to the page (default) or are embedded as small JPEGs (``embed=True``:
a page that still works when mailed, at the cost of decoding every photo once).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from animalsort.errors import InputError, RowPathError
from animalsort.formats import corrections
from animalsort.formats.corrections import REVIEWED
from animalsort.formats.detection_rows import checked_detections, label_confidences, label_counts
from animalsort.formats.detections import Detection
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import box_of, file_of, read_sidecar
from animalsort.formats.thresholds import Thresholds
from animalsort.pages import html, thumbnails
from animalsort.paths import is_uri
from animalsort.sorting.names import UNCERTAIN, folder_for
from animalsort.sources.raw import RAW_EXTENSIONS

# formats an <img> cannot show: embedded as JPEG thumbnails (a RAW's from its preview)
NOT_IN_BROWSERS = frozenset({".heic", ".heif", ".hif", ".tif", ".tiff"}) | RAW_EXTENSIONS

CHUNK = 200  # cards rendered at a time; more are added as the user scrolls

# Rendering (~60 lines): tabs from the JSON block, chunked cards, hash routing, a file-name filter.
SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const rows = data.rows, CHUNK = data.chunk;
  const nav = document.getElementById("tabs"), gallery = document.getElementById("gallery");
  const filter = document.getElementById("filter"), shown = document.getElementById("shown");
  let current = null, items = [], next = 0;
  const sentinel = document.createElement("div");
  const observer = new IntersectionObserver(es => { if (es.some(e => e.isIntersecting)) more(); },
                                            {rootMargin: "800px"});
  function card(r) {
    const [path, href, thumb, label, conf, second, status, error, frame, reviewed, box] = r;
    const a = document.createElement("a");
    a.className = "card"; a.href = href; a.target = "_blank"; a.title = path;
    if (status === "ok") {
      const img = document.createElement("img");
      img.loading = "lazy"; img.decoding = "async"; img.alt = path; img.width = 180; img.height = 160;
      img.onload = () => { img.dataset.loaded = "1"; };
      img.onerror = () => { img.dataset.loaded = "0"; img.alt = "missing: " + path; };
      img.src = thumb || href;
      a.appendChild(img);
      if (box) { a.classList.add("boxed"); outline(img, box); }
    } else {
      const err = document.createElement("div");
      err.className = "err"; err.textContent = error || "error";
      a.appendChild(err);
    }
    const cap = document.createElement("div");
    cap.className = "cap";
    const name = document.createElement("div"); name.textContent = path;
    cap.appendChild(name);
    if (status === "ok") {
      const lab = document.createElement("div");
      lab.innerHTML = "<b></b> <span class='muted'></span>";
      lab.firstChild.textContent = reviewed ? label + " \u2713" : label + " " + conf;
      const clip = frame && !path.includes("#t=") ? " · video, best frame at " + frame + " s" : "";
      const was = reviewed ? "reviewed" + (reviewed !== label ? " (the model said " + reviewed + " " + conf + ")" : "")
                           : second;
      lab.lastChild.textContent = was + clip;
      if (reviewed) a.classList.add("reviewed");
      cap.appendChild(lab);
    }
    a.appendChild(cap);
    return a;
  }
  function more() {
    const end = Math.min(items.length, next + CHUNK);
    const frag = document.createDocumentFragment();
    for (; next < end; next++) frag.appendChild(card(rows[items[next]]));
    gallery.appendChild(frag);
    shown.textContent = next + " of " + items.length + " shown";
    if (next < items.length) gallery.appendChild(sentinel); else sentinel.remove();
  }
  function show(id) {
    const tab = data.tabs.find(t => t.id === id) || data.tabs.find(t => t.idx.length) || data.tabs[0];
    if (!tab) return;
    current = tab;
    for (const b of nav.querySelectorAll("button")) b.setAttribute("aria-selected", b.dataset.tab === tab.id);
    const q = filter.value.trim().toLowerCase();
    items = q ? tab.idx.filter(i => rows[i][0].toLowerCase().includes(q)) : tab.idx;
    gallery.replaceChildren(); next = 0;
    observer.disconnect(); observer.observe(sentinel);
    more();
  }
  for (const t of data.tabs) {
    const b = document.createElement("button");
    b.dataset.tab = t.id; b.dataset.count = t.idx.length; b.className = "tab " + (t.kind || "");
    b.setAttribute("role", "tab");
    b.textContent = t.title + " (" + t.idx.length + ")";
    b.onclick = () => { history.replaceState(null, "", "#" + encodeURIComponent(t.id)); show(t.id); };
    nav.appendChild(b);
  }
  filter.oninput = () => current && show(current.id);
  show(decodeURIComponent(location.hash.slice(1)));
})();
"""


@dataclass
class ReportSummary:
    out: Path
    rows: int = 0
    ok: int = 0
    failed: int = 0
    uncertain: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    missing: int = 0  # ok rows whose file is not where the CSV says (nor where a sort moved it)
    refused: list[tuple[str, str]] = field(default_factory=list)  # rows leading outside SRC: failed, never opened
    reviewed: int = 0  # rows corrected or confirmed in `review` (PREDS.corrections.csv)
    embedded: int = 0
    src: Path | None = None
    seconds: float = 0.0


class Card(NamedTuple):
    """One photo on the page. It travels to the page's script as a JSON array in this order
    (a NamedTuple serialises as one), which keeps 10,000 rows compact."""

    path: str
    href: str
    thumb: str | None  # a data: URI with --embed
    label: str
    confidence: str
    others: str  # the other top-k labels, "dog 0.1200 · fox 0.0300"
    status: str
    error: str
    frame_s: str  # a clip's best frame (its thumbnail), or a frame row's time; "" for photos
    reviewed: str  # the model's label when a person corrected or confirmed it in `review`; "" if not
    # where the animal is (--view): [x, y, w, h]; with --detections every box, [[x, y, w, h, label], …]
    box: Any = None


def build(
    csv_path: Path,
    out: Path | None = None,
    *,
    src: Path | None = None,
    thresholds: Thresholds | None = None,
    embed: bool = False,
    workers: int = 0,
) -> ReportSummary:
    """Write the HTML report for ``csv_path`` (default: beside it, ``.html``); a photo below its
    label's threshold (``thresholds``; default: --min-confidence 0.5) is listed as uncertain."""
    start = time.perf_counter()
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such predictions CSV; make one with `animalsort classify SRC --out FILE`")
    out = Path(out) if out is not None else csv_path.with_suffix(".html")
    meta = read_sidecar(csv_path)
    if src is None:
        src = Path(meta["src"]) if meta.get("src") else csv_path.parent
    summary = ReportSummary(out=out, src=src)
    page_dir = out.absolute().parent

    locate = Locator(csv_path, src)  # a photo a sort from this CSV moved is shown where it is now
    thresholds = thresholds or Thresholds()
    rows, labels, uncertain, failed, confidence = _cards(csv_path, locate, page_dir, thresholds, summary)
    # Browsers cannot show HEIC or TIFF: those get an embedded thumbnail even without --embed.
    summary.embedded = _embed_thumbnails(rows, locate, workers, every=embed)

    by_conf = lambda idx, rev: sorted(idx, key=lambda i: (-confidence[i] if rev else confidence[i], rows[i].path))  # noqa: E731
    ordered = sorted(labels, key=lambda lab: (-len(labels[lab]), lab))
    reviewed = [i for i, r in enumerate(rows) if r.reviewed]
    tabs = [
        {"id": "uncertain", "title": "Uncertain", "kind": "warn", "idx": by_conf(uncertain, False)},
        {"id": "failed", "title": "Failed", "kind": "bad", "idx": sorted(failed, key=lambda i: rows[i].path)},
    ]
    if reviewed:
        tabs.append({"id": "reviewed", "title": "Reviewed", "idx": sorted(reviewed, key=lambda i: rows[i].path)})
    tabs += [{"id": f"label:{lab}", "title": lab, "idx": by_conf(labels[lab], True)} for lab in ordered]

    summary.rows, summary.failed, summary.uncertain = len(rows), len(failed), len(uncertain)
    summary.ok = len(rows) - len(failed)
    summary.reviewed = len(reviewed)
    summary.labels = {lab: len(labels[lab]) for lab in ordered}
    unsure = Counter(rows[i].label for i in uncertain)
    html.write_page(out, _page(csv_path, meta, summary, unsure, tabs, rows, thresholds))
    summary.seconds = time.perf_counter() - start
    return summary


def _cards(
    csv_path: Path, locate: Locator, page_dir: Path, thresholds: Thresholds, summary: ReportSummary
) -> tuple[list[Card], dict[str, list[int]], list[int], list[int], list[float]]:
    """One card per CSV row, and the row numbers per label, uncertain and failed."""
    rows: list[Card] = []
    labels: dict[str, list[int]] = {}
    uncertain, failed, confidence = [], [], []
    for i, r in enumerate(corrections.reviewed_rows(csv_path)):
        path = r["path"]
        try:
            full = locate(file_of(r))  # a frame row's clip
        except RowPathError as exc:
            summary.refused.append((path, str(exc)))
            r, full = {**r, "status": "error", "error": str(exc)}, ""
        ok = r["status"] == "ok"
        link = (html.href(full, page_dir) + (f"#t={r['frame_s']}" if r.get("frame_s") else "")) if full else ""
        others = " · ".join(
            f"{r[f'label_{k}']} {r[f'confidence_{k}']}" for k in range(2, len(r)) if r.get(f"label_{k}")
        )
        label, conf = (r["label"], r["confidence"]) if ok else ("", "")
        error, frame_s = r.get("error") or "", r.get("frame_s") or ""
        found = checked_detections(r) if ok else None
        box = box_of(r) if ok and found is None else _boxes(found)
        if found is not None:
            others = " · ".join(f"{lab} ×{n}" for lab, n in label_counts(found))
        rows.append(Card(path, link, None, label, conf, others, r["status"], error, frame_s, r.get(REVIEWED, ""), box))
        confidence.append(float(r["confidence"] or 0) if ok else 0.0)
        if not ok:
            failed.append(i)
            continue
        for lab in dict.fromkeys([r["label"], *label_confidences(found or [])]):  # a photo shows in each label's tab
            labels.setdefault(lab, []).append(i)
        if folder_for(r, thresholds) == UNCERTAIN:  # exactly what sort sends to _uncertain/
            uncertain.append(i)
        summary.missing += not is_uri(full) and not os.path.exists(full)
    return rows, labels, uncertain, failed, confidence


def _boxes(found: list[Detection] | None) -> list[list[Any]] | None:
    """Every box of a photo with its label (``--detections``), for the page to draw."""
    if not found:
        return None
    return [[*d.bbox, d.label] for d in found]


def _embed_thumbnails(rows: list[Card], locate: Locator, workers: int, every: bool) -> int:
    todo = [i for i, r in enumerate(rows) if r.status == "ok" and (every or r.frame_s or not _browser_shows(r.path))]
    if not todo:
        return 0
    paths = [locate(file_of({"path": rows[i].path, "frame_s": rows[i].frame_s})) for i in todo]
    times = [float(rows[i].frame_s) if rows[i].frame_s else None for i in todo]
    if workers > 0:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            thumbs = list(pool.map(thumbnails.thumbnail_data_uri, paths, times, chunksize=32))
    else:
        thumbs = [thumbnails.thumbnail_data_uri(p, t) for p, t in zip(paths, times)]
    for i, thumb in zip(todo, thumbs, strict=True):
        rows[i] = rows[i]._replace(thumb=thumb)
    return sum(t is not None for t in thumbs)


def _browser_shows(path: str) -> bool:
    return os.path.splitext(path)[1].lower() not in NOT_IN_BROWSERS


def _relative(src: Path | None, page: Path) -> str:
    """The photo folder as the page's links see it (relative to the page)."""
    if src is None:
        return "?"
    rel = os.path.relpath(os.path.abspath(src), os.path.abspath(page.parent))
    return os.fsdecode(rel).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _page(
    csv_path: Path,
    meta: dict[str, Any],
    s: ReportSummary,
    unsure: Counter[str],
    tabs: list[dict[str, Any]],
    rows: list[Card],
    thresholds: Thresholds,
) -> str:
    top = max(s.labels.values(), default=1)
    counts = "".join(
        f"<tr><td>{html.esc(lab)}</td><td class='num'>{n}</td><td class='num'>{unsure.get(lab, 0)}</td>"
        f"<td><span class='bar' style='width:{max(1, round(200 * n / top))}px'></span></td></tr>"
        for lab, n in s.labels.items()
    )
    counts += f"<tr><td><b>failed</b></td><td class='num'>{s.failed}</td><td></td><td></td></tr>"
    model = meta.get("model") or "unknown model"
    subtitle = (
        f"{csv_path.name} · {s.rows} files · {s.ok} classified, {s.failed} failed, "
        f"{s.uncertain} uncertain · {model} · photos under {_relative(s.src, s.out)}"
    )
    if thresholds.file is not None:  # only with --thresholds: the page is as before without
        subtitle += f" · thresholds from {thresholds.file.name} (sha256 {thresholds.sha256[:12]}…)"
    missing = (
        f"<p class='tag warn'>{s.missing} photos are not where the CSV says (moved by `sort`?); "
        "pass --src to point at them</p>"
        if s.missing
        else ""
    )
    body = (
        f"<section id='counts'><h2>Counts per label</h2>{missing}<table>"
        "<tr><th>label</th><th class='num'>images</th><th class='num'>uncertain</th><th></th></tr>"
        f"{counts}</table></section>"
        "<nav class='tabs' id='tabs' role='tablist'></nav>"
        "<main><p><input type='search' id='filter' placeholder='filter by file name'> "
        "<span id='shown' class='muted'></span></p><div class='gallery' id='gallery'></div></main>"
        + html.json_script("report-data", {"chunk": CHUNK, "tabs": tabs, "rows": rows})
    )
    return html.page("animalsort report", subtitle, body, html.OUTLINE_SCRIPT + SCRIPT)
