"""``animalsort review SAMPLE.csv``: review's audit mode. Only the sample's rows, in the order
the sample lists them (every stratum's first rows first, so stopping anywhere leaves a random
sample of each stratum), one keypress per answer; each answer is written into SAMPLE.csv's
``truth`` column — the whole file replaced atomically and fsync'd — before the page hears it
was saved, so closing the page or killing the server loses nothing. The page shows the
progress and the overall accuracy so far. The server (review_server) is review's own: this
session answers the same calls (state, correct, undo, media).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from animalsort.audit import files
from animalsort.audit.estimate import accuracy
from animalsort.audit.operations import load_answers
from animalsort.audit.population import Answers
from animalsort.formats.answers import ANSWERED_AT, Truths, now
from animalsort.pages import review_page
from animalsort.pages.review_session import Decisions, Item, Session


@dataclass(frozen=True)
class AuditItem:
    item: Item  # the row as review shows it (photo, top-k, box)
    at: int  # its index in the predictions' review session (its photo)
    stratum: str


class AuditSession(Decisions):
    """A sample, its predictions CSV's photos, and a person's answers; thread-safe."""

    def __init__(self, sample: Path, src: Path | None = None):
        super().__init__()
        sample_file = files.read_sample(Path(sample))
        self.path = sample_file.path
        self.predictions = files.predictions_of(sample_file)
        answers, preds = load_answers(self.predictions, sample_file)  # a stale sample is refused here
        self.population, self._rows = answers.population, answers.rows
        self.labels = preds.label_names
        self._reviewer = Session(self.predictions, src, log=False)
        self.refused = self._reviewer.refused  # rows leading outside SRC: never shown nor opened
        where = {it.path: i for i, it in enumerate(self._reviewer.items)}
        self.items = [
            AuditItem(self._reviewer.items[where[r["path"]]], where[r["path"]], r["stratum"])
            for r in sample_file.rows
            if r["path"] in where
        ]
        self.corrected = {r["path"]: t for r, t in zip(sample_file.rows, answers.truth) if t}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "csv": self.path.name,
                "items": [
                    [a.item.path, a.item.label, a.item.confidence, a.item.others, a.item.frame_s, a.item.box]
                    for a in self.items
                ],
                "labels": self.labels,
                "corrected": dict(self.corrected),
                "undo": len(self._undo),
                "estimate": self._estimate(),
            }

    def correct(self, path: str, label: str) -> dict[str, Any]:
        """Write ``label`` (a label, no_animal or can't tell) as ``path``'s truth."""
        if not any(a.item.path == path for a in self.items):
            raise KeyError(path)
        return self._decide(path, self._truth(label))

    def media(self, i: int) -> tuple[str, bytes] | None:
        return self._reviewer.media(self.items[i].at)

    def close(self) -> None:
        self._reviewer.close()

    def _truth(self, label: str) -> str:
        found = Truths(self.labels)(str(label))
        if not found:
            raise ValueError(
                f"{' '.join(str(label).split())!r} is not a label of this model; choose one of its labels, "
                "no_animal or can't tell"
            )
        return found

    def _write(self, path: str, truth: str) -> None:
        """The answer into SAMPLE.csv, read again first so edits made meanwhile elsewhere stay."""
        sample = files.read_sample(self.path)
        row = next((r for r in sample.rows if r["path"] == path), None)
        if row is None:
            raise KeyError(path)
        row["truth"], row[ANSWERED_AT] = truth, now() if truth else ""
        files.write_sample(sample)
        self.corrected = {r["path"]: r["truth"] for r in sample.rows if r["truth"].strip()}

    def _answer(self, path: str) -> dict[str, Any]:
        return {**super()._answer(path), "estimate": self._estimate()}

    def _estimate(self) -> dict[str, Any]:
        """The overall accuracy so far, or what it waits for."""
        truth = [self.corrected.get(a.item.path, "") for a in self.items]
        answers = Answers(self.population, self._rows, truth)
        found = accuracy(answers)
        counted = int(answers.answered.sum())
        if found is None:
            waiting = [
                s for s, n, rows in zip(self.population.strata, answers.n, self.population.rows) if rows and not n
            ]
            return {"answers": counted, "waiting": waiting}
        return {"answers": counted, **found.as_dict(3)}


BODY = """
<div id="bar">
  <span id="progress" aria-live="polite">loading…</span>
  <span id="estimate" class="muted"></span>
  <span id="msg" role="alert"></span>
</div>
<section id="one">
  <figure><img id="photo" alt=""></figure>
  <div id="side">
    <div id="where" class="muted"></div>
    <div id="path"></div>
    <div id="question">Is this the model's label?</div>
    <div id="status"></div>
    <ul class="choices" id="choices"></ul>
    <div class="keys"><kbd>Enter</kbd> right · <kbd>2</kbd>–<kbd>5</kbd> another of the model's labels ·
      <kbd>L</kbd> any label · <kbd>N</kbd> not an animal · <kbd>C</kbd> can't tell ·
      <kbd>→</kbd> skip · <kbd>←</kbd> back · <kbd>U</kbd> undo</div>
  </div>
</section>
"""

# One photo at a time in the sample's order; one key per answer; the estimate after each.
SCRIPT = r"""
(function () {
  const CANT = "can't tell";
  let S = null, pos = 0;
  const server = decisions(() => S, render), picker = labelPicker(() => S.labels, false, decide);
  const item = i => {
    const [path, label, conf, others, frame, box] = S.items[i];
    return {i, path, label, conf, others, frame, box};
  };
  const fmt = n => n.toLocaleString("en");

  function progress() {
    const answers = Object.values(S.corrected), total = S.items.length;
    const cant = answers.filter(a => a === CANT).length;
    $("progress").textContent = fmt(answers.length) + " of " + fmt(total) + " answered"
      + (cant ? " (" + fmt(cant) + " can't tell)" : "");
    const e = S.estimate;
    $("estimate").textContent = e.estimate === undefined
      ? "accuracy: waiting for an answer in " + e.waiting.join(", ")
      : "accuracy so far " + e.estimate.toFixed(3) + " (95%: " + e.low.toFixed(3) + "–" + e.high.toFixed(3)
        + ", from " + fmt(e.answers) + " answers, weighted by stratum)";
  }
  function render() {
    progress();
    if (!S.items.length) { $("where").textContent = "nothing to show"; return; }
    pos = Math.max(0, Math.min(pos, S.items.length - 1));
    remember(S.items[pos][0]);
    const it = item(pos), photo = $("photo");
    photo.src = "media/" + it.i; photo.alt = it.path;
    outline(photo, it.box);
    const clip = it.frame ? " · video, frame at " + it.frame + " s" : "";
    $("where").textContent = fmt(pos + 1) + " of " + fmt(S.items.length) + clip;
    $("path").textContent = it.path;
    $("question").textContent = "The model says " + it.label + " (" + Number(it.conf).toFixed(4) + "). Right?";
    const mine = S.corrected[it.path];
    $("status").className = mine ? "done" : "";
    $("status").textContent = mine ? "answered: " + mine : "not answered";
    const ul = $("choices"); ul.replaceChildren();
    const keys = [[it.label, "Enter"], ...it.others.slice(0, 4).map((o, k) => [o[0], String(k + 2)])];
    [...keys, ["no_animal", "N"], [CANT, "C"]].forEach(([lab, key]) => {
      const li = document.createElement("li");
      li.innerHTML = "<kbd></kbd> <b></b>";
      li.children[0].textContent = key; li.children[1].textContent = lab;
      ul.appendChild(li);
    });
    if (pos + 1 < S.items.length) new Image().src = "media/" + (pos + 1);
  }
  function nextOpen() {
    for (let k = 1; k <= S.items.length; k++) {
      const p = (pos + k) % S.items.length;
      if (!(S.items[p][0] in S.corrected)) return p;
    }
    return Math.min(pos + 1, S.items.length - 1);
  }

  function decide(label) {
    if (!S.items.length) return;
    server.correct(S.items[pos][0], label, r => { S.estimate = r.estimate; pos = nextOpen(); });
  }
  const undo = () => server.undo(r => { S.estimate = r.estimate; pos = S.items.findIndex(x => x[0] === r.path); });

  document.addEventListener("keydown", e => {
    if (picker.open || !S || e.altKey || e.metaKey || e.ctrlKey) return;
    const k = e.key, it = S.items.length ? item(pos) : null;
    let used = true;
    if (k === "Enter" || k === "a" || k === "y") it && decide(it.label);
    else if (k === "n" || k === "N") decide("no_animal");
    else if (k === "c" || k === "C" || k === "?") decide(CANT);
    else if (/^[2-5]$/.test(k)) { const o = it && it.others[Number(k) - 2]; if (o) decide(o[0]); }
    else if (k === "l" || k === "L" || k === "/") picker.show();
    else if (k === "ArrowRight" || k === " ") { pos = Math.min(S.items.length - 1, pos + 1); render(); }
    else if (k === "ArrowLeft") { pos = Math.max(0, pos - 1); render(); }
    else if (k === "u" || k === "U" || k === "Backspace") undo();
    else used = false;
    if (used) e.preventDefault();
  });

  api("api/state").then(state => {
    S = state;
    pos = startAt(S.items.map(x => x[0]), S.corrected);
    document.body.dataset.ready = "1";
    render();
  }).catch(e => { $("msg").textContent = "cannot load: " + e.message; });
})();
"""


def render(session: AuditSession) -> str:
    subtitle = (
        f"audit sample {session.path.name} of {session.predictions.name} · {len(session.items):,} photos · "
        f"answers are saved into its truth column as you give them"
    )
    return review_page.page("animalsort review — audit", subtitle, BODY, SCRIPT)
