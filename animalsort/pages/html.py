"""Self-contained HTML pages (report, inspect, review): one file, plain HTML/CSS/JS, no CDN.
The page shell and stylesheet, escaping, links to local files relative to the page.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from animalsort.paths import is_uri

STYLE = """
:root { --fg:#1d232b; --muted:#5d6873; --line:#d9dee3; --bg:#f6f7f9; --accent:#1f6feb; --bad:#c62828; --warn:#b26a00; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
  background:var(--bg); }
header { padding:16px 24px; background:#fff; border-bottom:1px solid var(--line); }
header h1 { margin:0 0 4px; font-size:20px; }
header p { margin:0; color:var(--muted); }
main, section { padding:12px 24px; }
h2 { font-size:16px; margin:18px 0 8px; }
table { border-collapse:collapse; background:#fff; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.bar { display:inline-block; height:10px; background:var(--accent); border-radius:2px; vertical-align:middle; }
nav.tabs { display:flex; flex-wrap:wrap; gap:6px; padding:8px 24px; position:sticky; top:0; background:var(--bg);
  border-bottom:1px solid var(--line); z-index:2; }
nav.tabs button { font:inherit; padding:5px 12px; border:1px solid var(--line); border-radius:16px; background:#fff;
  cursor:pointer; }
nav.tabs button[aria-selected="true"] { background:var(--accent); border-color:var(--accent); color:#fff; }
nav.tabs button.bad { border-color:var(--bad); }
nav.tabs button.warn { border-color:var(--warn); }
.gallery { display:grid; grid-template-columns:repeat(auto-fill,minmax(180px,1fr)); gap:10px; }
.card { display:block; background:#fff; border:1px solid var(--line); border-radius:6px; overflow:hidden;
  color:inherit; text-decoration:none; }
.card:hover { border-color:var(--accent); }
.card img { display:block; width:100%; height:160px; object-fit:cover; background:#e8ebef; }
.card.boxed { position:relative; }
.card.boxed img { object-fit:contain; }
.box { position:absolute; border:2px solid #ff3b30; box-shadow:0 0 0 1px #fff; pointer-events:none; }
.box.other { border-color:#ffd60a; }
.box[data-label]::after { content:attr(data-label); position:absolute; left:-2px; bottom:100%; padding:0 3px;
  font-size:11px; line-height:1.4; color:#fff; background:#ff3b30; white-space:nowrap; }
.box.other[data-label]::after { color:#1d232b; background:#ffd60a; }
.box.top[data-label]::after { bottom:auto; top:0; left:0; }
.card .cap { padding:4px 8px; font-size:12px; overflow-wrap:anywhere; }
.card .cap b { font-weight:600; }
.card .err { height:160px; padding:8px; color:var(--bad); background:#fdecea; font-size:12px; overflow:auto; }
.muted { color:var(--muted); }
.tag { display:inline-block; padding:0 6px; border-radius:8px; font-size:11px; background:#eef1f4; }
.tag.bad { background:#fdecea; color:var(--bad); }
.tag.warn { background:#fff4e0; color:var(--warn); }
input[type=search] { font:inherit; padding:5px 10px; border:1px solid var(--line); border-radius:16px;
  min-width:240px; }
img.plot { max-width:100%; background:#fff; border:1px solid var(--line); }
.thumbs { display:flex; flex-wrap:wrap; gap:6px; }
.thumbs figure { margin:0; width:120px; font-size:11px; overflow-wrap:anywhere; }
.thumbs img { width:120px; height:90px; object-fit:cover; display:block; background:#e8ebef; }
"""


def esc(text: Any) -> str:
    """HTML-escaped text; undecodable file-name bytes shown as U+FFFD."""
    s = str(text)
    return html.escape(s.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def href(target: str | Path, page_dir: Path) -> str:
    """A URL for the local file ``target`` relative to the page's folder (works when the
    page and the photos move together), percent-encoded byte for byte."""
    if is_uri(os.fspath(target)):  # an object-storage URI: linked as it is
        return str(target)
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))
    return quote(rel.replace(os.sep, "/"), errors="surrogateescape")


def json_script(element_id: str, value: Any) -> str:
    """``value`` as a JSON data block that cannot close its own <script> element."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


#: ``outline(img, box)``: red frames over the parts of ``img`` (shown with object-fit: contain)
#: where the animals are; ``box`` is [x, y, w, h] as fractions of the photo (the CSV's box
#: columns), or with ``--detections`` a list of [x, y, w, h, label, other] (every box, its label
#: written above it; ``other`` draws it in yellow, as the review page draws the boxes besides the
#: one being reviewed). Both the report and the review page use it.
OUTLINE_SCRIPT = r"""
function outline(img, box) {
  for (const old of img.parentNode.querySelectorAll(":scope > .box")) old.remove();
  if (!box) return;
  const boxes = Array.isArray(box[0]) ? box : [box];
  const marks = boxes.map(b => {
    const mark = document.createElement("div");
    mark.className = "box" + (b[5] ? " other" : "") + (b[1] < 0.08 ? " top" : "");  // top: its label inside
    if (b[4]) { mark.dataset.label = b[4]; mark.title = b[4]; }
    img.parentNode.appendChild(mark);
    return mark;
  });
  const place = () => {
    const W = img.clientWidth, H = img.clientHeight, nw = img.naturalWidth, nh = img.naturalHeight;
    if (!nw || !nh || !marks[0].isConnected) return;
    const s = Math.min(W / nw, H / nh), dw = nw * s, dh = nh * s;
    const ox = img.offsetLeft + (W - dw) / 2, oy = img.offsetTop + (H - dh) / 2;
    boxes.forEach((b, k) => {
      const st = marks[k].style;
      st.left = ox + b[0] * dw + "px"; st.top = oy + b[1] * dh + "px";
      st.width = b[2] * dw + "px"; st.height = b[3] * dh + "px";
    });
  };
  img.addEventListener("load", place);
  window.addEventListener("resize", place);
  if (img.complete) place();
}
"""


def page(title: str, subtitle: str, body: str, script: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n{body}\n"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


def write_page(out: Path, text: str) -> None:
    """Write atomically: a reader never sees half a page."""
    from animalsort.atomic import write_text
    from animalsort.errors import OutputError

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, text)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
