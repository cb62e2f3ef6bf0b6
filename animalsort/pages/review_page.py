"""The review page: the report's page shell and cards, one photo at a time or a grid, driven
by the keyboard. Rows and corrections come from the server (``api/state``); each decision is
posted (``api/correct``, ``api/undo``) and shown as saved only when the server says it is on
disk. The place in the list is kept in the URL's fragment, so a reload resumes there; without
one the page opens at the first unreviewed photo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from animalsort.pages import html

if TYPE_CHECKING:
    from animalsort.pages.review_session import Session

STYLE = """
[hidden] { display:none !important; }
#bar { display:flex; flex-wrap:wrap; gap:12px; align-items:center; padding:8px 24px; background:#fff;
  border-bottom:1px solid var(--line); position:sticky; top:0; z-index:3; }
#bar select { font:inherit; }
#progress { font-weight:600; }
#msg { color:var(--bad); }
#one { display:grid; grid-template-columns:minmax(0,1fr) 320px; gap:16px; padding:12px 24px; }
#one figure { margin:0; background:#1d232b; border-radius:6px; display:flex; align-items:center;
  justify-content:center; height:calc(100vh - 190px); min-height:240px; }
#one figure { position:relative; }
#one figure img { max-width:100%; max-height:100%; object-fit:contain; }
#side div { margin:0 0 10px; overflow-wrap:anywhere; }
#status.done { color:#1a7f37; font-weight:600; }
.choices { list-style:none; padding:0; margin:0; }
.choices li { padding:3px 6px; border-radius:4px; }
.choices kbd, .keys kbd { display:inline-block; min-width:1.6em; padding:0 4px; border:1px solid var(--line);
  border-radius:3px; background:#f6f7f9; text-align:center; font:12px ui-monospace,monospace; }
.keys { color:var(--muted); font-size:12px; line-height:2; }
.card.sel { outline:3px solid var(--accent); }
.card.rev .cap b::after { content:" \\2713"; color:#1a7f37; }
#grid { padding:12px 24px; }
#picker { position:fixed; inset:0; background:rgba(0,0,0,.35); display:flex; align-items:flex-start;
  justify-content:center; padding-top:12vh; z-index:5; }
#picker[hidden] { display:none; }
#picker > div { background:#fff; padding:12px; border-radius:8px; width:360px; }
#pick { width:100%; font:inherit; padding:6px 10px; border:1px solid var(--line); border-radius:6px; }
#suggest li.on { background:var(--accent); color:#fff; }
"""

BODY = """
<div id="bar">
  <span id="progress" aria-live="polite">loading…</span>
  <label>show <select id="only"><option value="all">all photos</option>
    <option value="unreviewed">not reviewed yet</option>
    <option value="uncertain">uncertain (below their label's threshold)</option></select></label>
  <label>order <select id="order"><option value="confidence">least confident first</option>
    <option value="label">by label</option><option value="path">by file name</option></select></label>
  <button id="mode" type="button">grid (G)</button>
  <span id="msg" role="alert"></span>
</div>
<section id="one">
  <figure><img id="photo" alt=""></figure>
  <div id="side">
    <div id="where" class="muted"></div>
    <div id="path"></div>
    <div id="status"></div>
    <ul class="choices" id="choices"></ul>
    <div class="keys"><kbd>Enter</kbd> accept · <kbd>2</kbd>–<kbd>5</kbd> another of the model's labels ·
      <kbd>L</kbd> any label (type to search, or a new one) · <kbd>N</kbd> no_animal ·
      <kbd>→</kbd>/<kbd>Space</kbd> skip · <kbd>←</kbd> back · <kbd>U</kbd> undo · <kbd>G</kbd> grid</div>
  </div>
</section>
<section id="grid" hidden><p class="keys"><kbd>←</kbd><kbd>→</kbd><kbd>↑</kbd><kbd>↓</kbd> move ·
  <kbd>Enter</kbd> accept · <kbd>2</kbd>–<kbd>5</kbd> another of the model's labels · <kbd>L</kbd> any label ·
  <kbd>N</kbd> no_animal · <kbd>U</kbd> undo · <kbd>G</kbd> one at a time · a click selects</p>
  <div class="gallery" id="cards"></div></section>
"""

#: The label picker's box (``L``), under review's page and its audit mode's alike.
PICKER = """<div id="picker" hidden><div><input id="pick" autocomplete="off" spellcheck="false"
  placeholder="label — Enter to choose, Esc to cancel"><ul class="choices" id="suggest"></ul></div></div>
"""

# What review's page and its audit mode share: the calls to the server, the label picker and
# the place kept in the address (#at=PATH), so that each page's own script is only its logic.
SHARED_SCRIPT = r"""
const base = location.pathname.replace(/[^/]*$/, "");
const $ = id => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? {cache: "no-store"}
    : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(base + path, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || ("the server answered " + r.status));
  return data;
}

// api/correct and api/undo, one call at a time (a key pressed while one is on its way does
// nothing); state().corrected follows each answer, then(answer) moves the page on, and the page
// is drawn again with what went wrong, if anything, in #msg.
function decisions(state, render) {
  let busy = false;
  async function send(path, body, failed, done) {
    if (busy) return;
    busy = true;
    try {
      const r = await api(path, body);
      $("msg").textContent = "";
      done(r);
    } catch (e) { $("msg").textContent = failed + e.message; }
    busy = false; render();
  }
  return {
    correct: (path, label, then) => send("api/correct", {path, label}, "not saved: ", r => {
      state().corrected[r.path] = r.label; then(r);
    }),
    undo: then => send("api/undo", {}, "not undone: ", r => {
      if (!r.path) { $("msg").textContent = "nothing to undo"; return; }
      if (r.label) state().corrected[r.path] = r.label; else delete state().corrected[r.path];
      then(r);
    }),
  };
}

// The label picker (L): typing narrows labels() (those that start so first, then those that
// contain it), Up/Down and Enter or a click choose, Esc closes; with fresh, a label none of them
// is can be chosen too ("new label: ...").
function labelPicker(labels, fresh, chosen) {
  const input = $("pick");
  const picker = {open: false};
  let sugg = [], hi = 0;
  function close() { picker.open = false; $("picker").hidden = true; input.blur(); }
  function suggest() {
    const q = input.value.trim(), ql = q.toLowerCase(), all = labels();
    const starts = all.filter(l => l.toLowerCase().startsWith(ql));
    const has = all.filter(l => !l.toLowerCase().startsWith(ql) && l.toLowerCase().includes(ql));
    sugg = [...starts, ...has].slice(0, 8);
    if (fresh && q && !all.some(l => l.toLowerCase() === ql)) sugg.push({fresh: q});
    hi = 0;
    draw();
  }
  function draw() {
    const ul = $("suggest"); ul.replaceChildren();
    sugg.forEach((s, k) => {
      const li = document.createElement("li");
      li.textContent = typeof s === "string" ? s : "new label: " + s.fresh;
      if (k === hi) li.className = "on";
      li.onmousedown = e => { e.preventDefault(); hi = k; choose(); };
      ul.appendChild(li);
    });
  }
  function choose() {
    const s = sugg[hi];
    if (s === undefined) return;
    close();
    chosen(typeof s === "string" ? s : s.fresh);
  }
  input.addEventListener("input", suggest);
  input.addEventListener("keydown", e => {
    if (e.key === "Escape") { e.preventDefault(); close(); }
    else if (e.key === "Enter") { e.preventDefault(); choose(); }
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      hi = (hi + (e.key === "ArrowDown" ? 1 : sugg.length - 1)) % Math.max(1, sugg.length);
      draw();
    }
    e.stopPropagation();
  });
  picker.show = () => { picker.open = true; $("picker").hidden = false; input.value = ""; suggest(); input.focus(); };
  return picker;
}

// The place in the list, kept in the address so that a reload comes back to it.
function remember(path) { history.replaceState(null, "", "#at=" + encodeURIComponent(path)); }

// Where the page opens: at the address's #at= (a reload), else at the first path not decided yet.
function startAt(paths, corrected) {
  const m = location.hash.match(/^#at=(.*)$/);
  const at = m ? paths.indexOf(decodeURIComponent(m[1])) : -1;
  return at >= 0 ? at : Math.max(0, paths.findIndex(p => !(p in corrected)));
}
"""

# The page's logic (~200 lines): state from the server, an order, a position, two views, keys.
SCRIPT = r"""
(function () {
  const PAGE = 24;
  let S = null, order = [], pos = 0, grid = false;
  const server = decisions(() => S, render), picker = labelPicker(() => S.labels, true, decide);
  // An item is a photo, or with --detections one box of a photo: its key names it (path + box number)
  const item = i => {
    const [key, label, conf, others, frame, box, threshold, sure, path, det, beside] = S.items[i];
    return {i, key, path: path || key, label, conf, others, frame, box, threshold, sure, det, beside};
  };
  const shown = it => S.corrected[it.key] || it.label;
  const labelOf = key => { const i = S.index.get(key); return S.corrected[key] || S.items[i][1]; };
  // the box under review in red with its label, the photo's other boxes in yellow with theirs
  const boxes = it => it.det ? [[...it.box, shown(it)], ...it.beside.map(b => [...b.slice(0, 4), labelOf(b[4]), 1])]
                             : it.box;
  const fmt = n => n.toLocaleString("en");

  function sortOrder() {
    const how = $("order").value, only = $("only").value, items = S.items;
    let idx = items.map((_, i) => i);
    if (only === "unreviewed") idx = idx.filter(i => !(items[i][0] in S.corrected));
    else if (only === "uncertain") idx = idx.filter(i => !items[i][7]);
    else if (only.startsWith("label:")) idx = idx.filter(i => items[i][1] === only.slice(6));
    const byPath = (a, b) => items[a][0] < items[b][0] ? -1 : items[a][0] > items[b][0] ? 1 : 0;
    const byConf = (a, b) => items[a][2] - items[b][2] || byPath(a, b);
    const cmp = {confidence: byConf, path: byPath,
                 label: (a, b) => items[a][1].localeCompare(items[b][1]) || byConf(a, b)}[how];
    order = idx.sort(cmp);
  }
  function progress() {
    const n = Object.keys(S.corrected).length, total = S.items.length;
    $("progress").textContent = (n >= total && total ? "all " + fmt(total) + " reviewed"
      : fmt(n) + " of " + fmt(total) + " reviewed");
  }
  function render() {
    progress();
    $("one").hidden = grid; $("grid").hidden = !grid;
    $("mode").textContent = grid ? "one at a time (G)" : "grid (G)";
    if (!order.length) { $("where").textContent = "nothing to show"; $("photo").removeAttribute("src"); return; }
    pos = Math.max(0, Math.min(pos, order.length - 1));
    remember(S.items[order[pos]][0]);
    grid ? renderGrid() : renderOne();
  }
  function renderOne() {
    const it = item(order[pos]);
    const photo = $("photo");
    photo.src = "media/" + it.i; photo.alt = it.path;
    outline(photo, boxes(it));
    const clip = it.frame ? " · video, frame at " + it.frame + " s" : "";
    const det = it.det ? " · box " + it.det[0] + " (" + it.det[1] + ", detector " + it.det[2].toFixed(2) + ")" : "";
    $("where").textContent = fmt(pos + 1) + " of " + fmt(order.length) + clip + det;
    $("path").textContent = it.path;
    const mine = S.corrected[it.key];
    const status = $("status");
    status.className = mine ? "done" : "";
    status.textContent = mine ? "reviewed: " + mine + (mine !== it.label ? " (the model said " + it.label + ")" : "")
                              : "not reviewed";
    if (!mine && !it.sure) status.textContent += " · uncertain: below " + it.label + "'s threshold " + it.threshold;
    const ul = $("choices"); ul.replaceChildren();
    // Enter keeps what the photo has now (the model's label, or the one given earlier); 2-5: the model's others
    [[shown(it), mine ? "" : it.conf], ...it.others].slice(0, 5).forEach(([lab, c], k) => {
      const li = document.createElement("li");
      li.innerHTML = "<kbd></kbd> <b></b> <span class='muted'></span>";
      li.children[0].textContent = k ? String(k + 1) : "Enter";
      li.children[1].textContent = lab; li.children[2].textContent = c === "" ? "yours" : Number(c).toFixed(4);
      ul.appendChild(li);
    });
    for (let k = 1; k <= 3 && pos + k < order.length; k++) new Image().src = "media/" + order[pos + k];
  }
  function renderGrid() {
    const start = Math.floor(pos / PAGE) * PAGE, cards = $("cards");
    cards.replaceChildren();
    for (let p = start; p < Math.min(order.length, start + PAGE); p++) {
      const it = item(order[p]);
      const a = document.createElement("a");
      a.className = "card" + (p === pos ? " sel" : "") + (S.corrected[it.key] ? " rev" : "");
      a.href = "#"; a.title = it.path; a.dataset.pos = p;
      a.onclick = e => { e.preventDefault(); pos = p; render(); };
      const img = document.createElement("img");
      img.loading = "lazy"; img.src = "media/" + it.i; img.alt = it.path;
      const cap = document.createElement("div"); cap.className = "cap";
      cap.innerHTML = "<div></div><div><b></b> <span class='muted'></span></div>";
      cap.firstChild.textContent = it.path;
      cap.lastChild.firstChild.textContent = shown(it);
      cap.lastChild.lastChild.textContent = S.corrected[it.key] ? "reviewed" : Number(it.conf).toFixed(2);
      a.append(img, cap); cards.appendChild(a);
      if (it.box) { a.classList.add("boxed"); outline(img, boxes(it)); }
    }
    const sel = cards.querySelector(".sel"); if (sel) sel.scrollIntoView({block: "nearest"});
    $("where").textContent = fmt(pos + 1) + " of " + fmt(order.length);
  }
  function columns() {
    const cards = [...$("cards").children];
    return Math.max(1, cards.filter(c => c.offsetTop === cards[0].offsetTop).length);
  }

  function decide(label) {
    if (!order.length) return;
    server.correct(item(order[pos]).key, label, r => {
      if (!S.labels.includes(r.label)) S.labels.push(r.label);
      if (pos < order.length - 1) pos++;
    });
  }
  const undo = () => server.undo(r => {
    const at = order.findIndex(i => S.items[i][0] === r.path);
    if (at >= 0) pos = at;
  });

  document.addEventListener("keydown", e => {
    if (picker.open || !S || e.altKey || e.metaKey || (e.ctrlKey && e.key !== "z")) return;
    if (e.target.tagName === "SELECT") return;
    const k = e.key, it = order.length ? item(order[pos]) : null;
    const step = d => { pos = Math.max(0, Math.min(order.length - 1, pos + d)); render(); };
    let used = true;
    if (k === "Enter" || k === "a") it && decide(shown(it));
    else if (k === "n" || k === "N") decide("no_animal");
    else if (/^[2-5]$/.test(k)) { const o = it && it.others[Number(k) - 2]; if (o) decide(o[0]); }
    else if (k === "l" || k === "L" || k === "/") picker.show();
    else if (k === "ArrowRight" || k === " " || k === "s") step(1);
    else if (k === "ArrowLeft" || k === "p") step(-1);
    else if (grid && k === "ArrowDown") step(columns());
    else if (grid && k === "ArrowUp") step(-columns());
    else if (k === "u" || k === "U" || k === "Backspace" || (e.ctrlKey && k === "z")) undo();
    else if (k === "g" || k === "G") { grid = !grid; render(); }
    else used = false;
    if (used) e.preventDefault();
  });
  $("mode").onclick = () => { grid = !grid; render(); $("mode").blur(); };
  for (const id of ["order", "only"]) $(id).onchange = () => {
    const at = order.length ? order[pos] : -1;
    sortOrder(); pos = Math.max(0, order.indexOf(at)); render(); $(id).blur();
  };

  api("api/state").then(state => {
    S = state;
    S.index = new Map(S.items.map((r, i) => [r[0], i]));
    for (const lab of [...new Set(S.items.map(r => r[1]))].sort()) {
      const o = document.createElement("option"); o.value = "label:" + lab; o.textContent = "the model's " + lab;
      $("only").appendChild(o);
    }
    sortOrder();
    pos = startAt(order.map(i => S.items[i][0]), S.corrected);
    document.body.dataset.ready = "1";
    render();
  }).catch(e => { $("msg").textContent = "cannot load: " + e.message; });
})();
"""


def render(session: Session) -> str:
    photos = len({item.path for item in session.items})
    what = f"{len(session.items):,} boxes and empty photos of {photos:,} photos" if session.detections else ""
    subtitle = (
        f"{session.predictions.name} · {what or f'{len(session.items):,} classified photos'}"
        + (f" ({session.failed:,} unreadable, not shown)" if session.failed else "")
        + f" · corrections are saved to {session.corrections_file.name} as you make them"
    )
    return page("animalsort review", subtitle, BODY, SCRIPT)


def page(title: str, subtitle: str, body: str, script: str) -> str:
    """A review page (review's own, or its audit mode's): the shared style, picker and script
    around ``body`` and ``script``."""
    scripts = html.OUTLINE_SCRIPT + SHARED_SCRIPT + script
    return html.page(title, subtitle, f"<style>{STYLE}</style>{body}{PICKER}", scripts)
