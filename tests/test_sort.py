"""sort: plan → journal → apply → undo. No photo is ever lost, overwritten or scrambled."""

from __future__ import annotations

import csv
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows

from animalsort.cli import main
from animalsort.formats.journal import journal_paths
from animalsort.formats.predictions import header, read_predictions
from animalsort.formats.thresholds import Thresholds
from animalsort.sorting import apply, names, plan, undo
from animalsort.sorting.fileops import rename_noreplace

LABELS = ["dog", "cat", "bird", "no_animal", "fish"]


# --------------------------------------------------------------------------- helpers


def snapshot(root: Path, skip: tuple[str, ...] = (plan.STATE_DIR,)) -> dict[str, tuple]:
    """path → (kind, content or link target, mtime_ns, mode) for everything under root,
    except the folders in ``skip`` (relative paths; their parent folders' entries too)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel_dir, d)) + "/"] = ("dir",)
        for f in filenames:
            path = os.path.join(dirpath, f)
            rel = os.path.normpath(os.path.join(rel_dir, f))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            else:
                out[rel] = ("file", Path(path).read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    for s in skip:
        for parent in Path(s).parents:
            out.pop(f"{parent}/", None)
    return out


def write_predictions(path: Path, rows: list[tuple[str, str, float, str]]) -> Path:
    """A classify-style CSV: (relative path, label, confidence, status)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(1))
        for rel, label, conf, status in rows:
            if status == "ok":
                w.writerow([rel, label, f"{conf:.4f}", "ok", ""])
            else:
                w.writerow([rel, "", "", "error", "broken"])
    return path


NAME_PARTS = ["IMG_0001", "photo", "été", "a b", "x,y", "new\nline", 'quote"d', "日本", "🦊", "same"]


def random_tree(root: Path, rng: random.Random, n: int = 40) -> list[tuple[str, str, float, str]]:
    """Nested folders, duplicate names in different folders, odd names, identical contents,
    symlinks and read-only files; returns prediction rows for the image files."""
    rows = []
    folders = ["", "a", "a/b", "c d", "ünï", "x,y", "deep/er/still"]
    contents = [os.urandom(rng.randint(0, 3000)) for _ in range(n // 2)]
    for i in range(n):
        folder = rng.choice(folders)
        name = f"{rng.choice(NAME_PARTS)}{'' if rng.random() < 0.4 else i}.{rng.choice(['jpg', 'JPG', 'png'])}"
        rel = f"{folder}/{name}" if folder else name
        path = root / rel
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.choice(contents) if rng.random() < 0.3 else os.urandom(rng.randint(1, 5000)))
        os.utime(path, ns=(rng.randint(10**18, 2 * 10**18), rng.randint(10**18, 2 * 10**18)))
        if rng.random() < 0.15:
            path.chmod(0o444)
        status = "ok" if rng.random() > 0.1 else "error"
        rows.append((rel, rng.choice(LABELS), rng.random(), status))
    targets = [r[0] for r in rows]
    for j in range(3):
        link = root / f"link{j}.jpg"
        if j == 2:
            os.symlink("does-not-exist.jpg", link)  # broken
        else:
            os.symlink(root / rng.choice(targets), link)
        rows.append((link.name, rng.choice(LABELS), 0.9, "ok"))
    rows.append(("vanished.jpg", "dog", 0.99, "ok"))  # classified, then deleted
    rows.sort()
    return rows


def sort_cli(runner: CliRunner, *args: object) -> object:
    return runner.invoke(main, ["sort", *map(str, args)])


# --------------------------------------------------------------------------- names and plans


@pytest.mark.parametrize(
    ("label", "folder"),
    [
        ("dog", "dog"),
        ("big cat", "big cat"),
        ("a/b", "a_b"),
        ("..", "_unnamed"),
        ("../../etc", "_.._etc"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("tab\there", "tab_here"),
        ("what?", "what_"),
        ("", "_unnamed"),
        ("x" * 300, "x" * 100),
        ("C:\\win", "C__win"),
    ],
)
def test_safe_folder_name(label: str, folder: str) -> None:
    assert names.safe_folder_name(label) == folder


def test_plan_places_by_label_and_confidence(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ["a/x.jpg", "a/y.jpg", "b/x.jpg", "z.jpg", "bad.jpg", "w.jpg"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(rel.encode())
    rows = [
        {"path": "a/x.jpg", "label": "dog", "confidence": "0.9", "status": "ok"},
        {"path": "a/y.jpg", "label": "dog", "confidence": "0.3", "status": "ok"},
        {"path": "b/x.jpg", "label": "dog", "confidence": "0.8", "status": "ok"},
        {"path": "z.jpg", "label": "no_animal", "confidence": "0.7", "status": "ok"},
        {"path": "bad.jpg", "label": "", "confidence": "", "status": "error", "error": "truncated"},
        {"path": "w.jpg", "label": "../../evil", "confidence": "0.9", "status": "ok"},
    ]
    p = plan.plan(src, tmp_path / "out", rows, mode="move")
    dst = {os.path.relpath(o.src, src): os.path.relpath(o.dst, tmp_path / "out") for o in p.ops}
    assert dst == {
        "a/x.jpg": "dog/a/x.jpg",
        "a/y.jpg": "_uncertain/a/y.jpg",
        "b/x.jpg": "dog/b/x.jpg",
        "z.jpg": "_no_animal/z.jpg",
        "w.jpg": "_.._evil/w.jpg",
    }
    assert p.left == [("bad.jpg", "not classified: truncated")]
    flat = plan.plan(src, tmp_path / "out", rows, mode="copy", flat=True)
    dst = {os.path.relpath(o.src, src): os.path.relpath(o.dst, tmp_path / "out") for o in flat.ops}
    assert dst["a/x.jpg"] == "dog/x.jpg" and dst["b/x.jpg"] == "dog/x (2).jpg"
    assert flat.renamed == 1


def test_collisions_never_overwrite_and_identical_files_are_reported(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    (src / "a" / "p.jpg").write_bytes(b"same")
    (src / "b" / "p.jpg").write_bytes(b"same")  # identical content, same name: a duplicate
    (src / "q.jpg").write_bytes(b"new q")
    (out / "dog").mkdir(parents=True)
    (out / "dog" / "q.jpg").write_bytes(b"old q, not ours")  # taken: q gets " (2)"
    rows = [{"path": r, "label": "dog", "confidence": "0.9", "status": "ok"} for r in ("a/p.jpg", "b/p.jpg", "q.jpg")]
    p = plan.plan(src, out, rows, mode="move", flat=True)
    assert [Path(o.dst).name for o in p.ops] == ["p.jpg", "q (2).jpg"]
    assert p.duplicates == [("b/p.jpg", str(out / "dog" / "p.jpg"))]
    res = apply.apply(p, tmp_path / "j.jsonl")
    assert res.done == 2 and not res.failed
    assert (out / "dog" / "q.jpg").read_bytes() == b"old q, not ours"
    assert (out / "dog" / "q (2).jpg").read_bytes() == b"new q"
    assert (src / "b" / "p.jpg").read_bytes() == b"same"  # the duplicate stays at its source


def test_rename_noreplace_refuses_existing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    with pytest.raises(FileExistsError):
        rename_noreplace(str(a), str(b))
    assert a.read_text() == "a" and b.read_text() == "b"
    rename_noreplace(str(a), str(tmp_path / "c"))
    assert (tmp_path / "c").read_text() == "a" and not a.exists()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("mode", ["move", "copy", "link"])
def test_sort_then_undo_restores_random_trees(tmp_path: Path, seed: int, mode: str) -> None:
    rng = random.Random(seed * 31 + len(mode))
    src = tmp_path / "src"
    src.mkdir()
    rows = random_tree(src, rng)
    preds = write_predictions(tmp_path / "preds.csv", rows)
    where = rng.choice(["outside", "inside", "same"])
    dest = {"outside": tmp_path / "out", "inside": src / "sorted", "same": src}[where]
    before = snapshot(src)
    flat = rng.random() < 0.3
    p = plan.plan(
        src, dest, read_predictions(preds), mode=mode, thresholds=Thresholds(0.3), flat=flat, verify=rng.random() < 0.5
    )
    res = apply.apply(p, journal_paths(dest)[0])
    assert res.done == len(p.ops) and not res.failed
    # every source is still present exactly once, whole (moved, or copied next to itself)
    for op in p.ops:
        if mode == "move":
            assert not os.path.lexists(op.src) and os.path.lexists(op.dst)
        else:
            assert os.path.lexists(op.src) and os.path.lexists(op.dst)
        kind, what = before[os.path.relpath(op.src, src)][:2]
        if mode == "link":  # the very file (a symlink's target: samefile follows it), not a copy of it
            assert os.path.samefile(op.dst, op.src)
        elif kind == "link":  # a copy takes what a symlink points to (move skips symlinks)
            assert mode == "copy" and Path(op.dst).read_bytes() == Path(op.src).read_bytes()
        else:
            assert Path(op.dst).read_bytes() == what
    u = undo.undo_sort(res.journal)
    assert not u.refused and u.restored == len(p.ops)
    journal_dir = os.path.relpath(dest / plan.STATE_DIR, src)
    assert snapshot(src, skip=(journal_dir,)) == before
    if where == "outside":
        assert snapshot(dest) == {}  # every folder the sort made is gone too


def test_cli_sort_move_and_undo(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = random_tree(src, random.Random(7), n=30)
    preds = write_predictions(tmp_path / "p.csv", rows)
    before = snapshot(src)
    result = sort_cli(runner, src, "--move", "--from", preds, "--dest", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "moved:" in result.stderr and "undo with: animalsort undo" in result.stderr
    journal = next((tmp_path / "out" / plan.STATE_DIR).glob("sort-*.jsonl"))
    assert snapshot(src) != before
    result = runner.invoke(main, ["undo", str(journal)])
    assert result.exit_code == 0, result.output
    assert snapshot(src) == before
    again = runner.invoke(main, ["undo", str(journal)])
    assert again.exit_code == 0 and "already undone" in again.stderr


# --------------------------------------------------------------------------- --link, --flat, --verify


def two_folders(src: Path, tmp_path: Path) -> Path:
    """src/a/x.jpg, src/b/x.jpg (one name in two folders) and src/y.jpg, all cat; the CSV."""
    rows = []
    for rel in ("a/x.jpg", "b/x.jpg", "y.jpg"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(f"the photo {rel} ".encode() * 40)
        rows.append((rel, "cat", 0.9, "ok"))
    return write_predictions(tmp_path / "p.csv", rows)


def test_cli_link_makes_hard_links_of_the_very_files(runner: CliRunner, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    preds = two_folders(src, tmp_path)
    before = snapshot(src)
    result = sort_cli(runner, src, "--link", "--from", preds, "--dest", out)
    assert result.exit_code == 0, result.output
    assert "linked: 3 files" in result.stderr
    for rel in ("a/x.jpg", "b/x.jpg", "y.jpg"):
        placed = out / "cat" / rel
        assert not placed.is_symlink() and os.path.samefile(placed, src / rel)  # a hard link: one inode
        assert placed.stat().st_nlink == 2
    assert snapshot(src) == before
    assert runner.invoke(main, ["undo", str(out)]).exit_code == 0
    assert not (out / "cat").exists() and snapshot(src) == before


def test_cli_flat_puts_every_file_right_under_its_label(runner: CliRunner, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    preds = two_folders(src, tmp_path)
    result = sort_cli(runner, src, "--copy", "--flat", "--from", preds, "--dest", out)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out / "cat")) == ["x (2).jpg", "x.jpg", "y.jpg"]  # no sub-folders
    placed = {(out / "cat" / n).read_bytes() for n in ("x.jpg", "x (2).jpg")}
    assert placed == {(src / "a" / "x.jpg").read_bytes(), (src / "b" / "x.jpg").read_bytes()}
    assert (out / "cat" / "y.jpg").read_bytes() == (src / "y.jpg").read_bytes()


def corrupting_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy that lands with the right size and one wrong byte (a bad disk or cable)."""
    from animalsort.sorting import fileops

    real = shutil.copy2

    def copy2(a: str, b: str) -> str:
        real(a, b)
        with open(b, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0xFF]))
        return b

    monkeypatch.setattr(fileops.shutil, "copy2", copy2)


def test_cli_verify_refuses_a_copy_that_differs_and_loses_nothing(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    preds = two_folders(src, tmp_path)
    before = snapshot(src)
    corrupting_copy(monkeypatch)
    # without --verify the size check cannot tell: the bad copy is placed (what --verify is for)
    unchecked = sort_cli(runner, src, "--copy", "--from", preds, "--dest", tmp_path / "unchecked")
    assert unchecked.exit_code == 0, unchecked.output
    assert (tmp_path / "unchecked" / "cat" / "y.jpg").read_bytes() != (src / "y.jpg").read_bytes()
    # with --verify each copy is refused: nothing placed, no temporary left, the sources as they were
    result = sort_cli(runner, src, "--copy", "--verify", "--from", preds, "--dest", out)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("copy differs from source (sha256) (left where it was)") == 3, result.stderr
    assert f"failed: {src / 'y.jpg'}: copy differs" in result.stderr
    assert "3 of 3 files could not be placed (3 still at their source)" in result.stderr
    assert snapshot(src) == before
    assert [p for p in out.rglob("*") if p.is_file() and plan.STATE_DIR not in p.parts] == []


def test_dry_run_changes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = random_tree(src, random.Random(3), n=30)
    preds = write_predictions(tmp_path / "p.csv", rows)
    before = snapshot(tmp_path)
    result = sort_cli(runner, src, "--move", "--from", preds, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("plan: ")
    assert "move " in result.stdout and " → " in result.stdout
    assert snapshot(tmp_path) == before


def test_undo_refuses_what_changed_since(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(3):
        (src / f"{i}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (src / f"{i}.jpg").write_bytes(f"photo {i}".encode())
    preds = write_predictions(tmp_path / "p.csv", [(f"{i}.jpg", "dog", 0.9, "ok") for i in range(3)])
    assert sort_cli(runner, src, "--move", "--from", preds).exit_code == 0
    (src / "dog" / "1.jpg").write_bytes(b"edited after the sort")
    (src / "2.jpg").write_bytes(b"a new file where 2.jpg was")
    journal = next((src / plan.STATE_DIR).glob("sort-*.jsonl"))
    result = runner.invoke(main, ["undo", str(journal)])
    assert result.exit_code == 1
    assert "refused" in result.stderr and "2 files were left alone" in result.stderr
    assert (src / "0.jpg").read_bytes() == b"photo 0"  # the rest is restored
    assert (src / "dog" / "1.jpg").read_bytes() == b"edited after the sort"
    assert (src / "2.jpg").read_bytes() == b"a new file where 2.jpg was"
    assert (src / "dog" / "2.jpg").read_bytes() == b"photo 2"


def test_a_file_changed_after_planning_is_reported_and_stays(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"a")
    (src / "b.jpg").write_bytes(b"b")
    rows = [{"path": n, "label": "dog", "confidence": "0.9", "status": "ok"} for n in ("a.jpg", "b.jpg")]
    p = plan.plan(src, tmp_path / "out", rows, mode="move")
    (src / "a.jpg").write_bytes(b"a, edited between plan and apply")
    res = apply.apply(p, tmp_path / "j.jsonl")
    assert res.done == 1 and res.failed == [(str(src / "a.jpg"), "changed since the plan was made", True)]
    assert (src / "a.jpg").read_bytes() == b"a, edited between plan and apply"
    assert (tmp_path / "out" / "dog" / "b.jpg").read_bytes() == b"b"
    assert not undo.undo_sort(tmp_path / "j.jsonl").refused
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg", "b.jpg"]


def test_from_csv_does_not_import_torch(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"a")
    preds = write_predictions(tmp_path / "p.csv", [("a.jpg", "cat", 0.9, "ok")])
    code = (
        "import sys\nfrom animalsort.cli import main\n"
        f"main(['-q', 'sort', {str(src)!r}, '--move', '--from', {str(preds)!r}], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (src / "cat" / "a.jpg").exists()


def test_sort_classifies_when_no_csv_given_and_never_rescans_dest(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("cat.jpg", "dog.jpg", "astronaut.jpg"):
        shutil.copy(EXAMPLES / name, src / name)
    dest = src / "sorted"
    result = sort_cli(runner, src, "--dest", dest)
    assert result.exit_code == 0, result.output
    assert (dest / "cat" / "cat.jpg").exists() and (dest / "dog" / "dog.jpg").exists()
    assert (dest / "_no_animal" / "astronaut.jpg").exists()
    (preds,) = (dest / plan.STATE_DIR).glob("preds-*.csv")  # the CSV sits beside the journal
    assert len(read_csv_rows(preds)) == 3
    result = sort_cli(runner, src, "--dest", dest)  # again: sorted/ is not scanned, and (#14) the
    assert result.exit_code == 0, result.output  # photos copied before are not classified again
    assert len(list((dest / plan.STATE_DIR).glob("preds-*.csv"))) == 1
    assert "copied: 0 files" in result.stderr and "3 files placed by an earlier sort" in result.stderr
    (src / "new").mkdir()
    shutil.copy(EXAMPLES / "eagle.jpg", src / "new" / "eagle.jpg")
    result = sort_cli(runner, src, "--dest", dest)  # only the new photo is classified and placed
    assert result.exit_code == 0, result.output
    newest = max((dest / plan.STATE_DIR).glob("preds-*.csv"), key=lambda p: p.stat().st_mtime_ns)  # (names of
    assert [r["path"] for r in read_csv_rows(newest)] == ["new/eagle.jpg"]  # runs in one second: -2 sorts first)
    assert (dest / "bird" / "new" / "eagle.jpg").exists()


def test_in_place_move_twice(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "trip").mkdir(parents=True)
    shutil.copy(EXAMPLES / "cat.jpg", src / "trip" / "cat.jpg")
    shutil.copy(EXAMPLES / "dog.jpg", src / "dog.jpg")
    assert sort_cli(runner, src, "--move").exit_code == 0
    assert (src / "cat" / "trip" / "cat.jpg").exists() and (src / "dog" / "dog.jpg").exists()
    result = sort_cli(runner, src, "--move")
    assert result.exit_code == 0, result.output
    assert "plan" not in result.stdout and "0 files" in result.stderr
    assert (src / "cat" / "trip" / "cat.jpg").exists()


# --------------------------------------------------------------------------- kill -9


def _tree_of_unique_files(root: Path, n: int) -> tuple[dict[str, str], list[tuple[str, str, float, str]]]:
    digests, rows = {}, []
    rng = random.Random(n)
    for i in range(n):
        rel = f"f{i % 7}/sub{i % 3}/img {i:04d}.jpg"
        data = f"photo {i}\n".encode() + os.urandom(rng.randint(100, 4000))
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        digests[hashlib.sha256(data).hexdigest()] = rel
        rows.append((rel, rng.choice(LABELS), rng.random(), "ok"))
    return digests, rows


def _all_files(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != plan.STATE_DIR]
            for f in filenames:
                found.append(hashlib.sha256(Path(dirpath, f).read_bytes()).hexdigest())
    return found


@pytest.mark.slow
def test_kill_minus_9_loses_nothing_and_undo_restores(tmp_path: Path) -> None:
    n, trials = 1000, 20
    template = tmp_path / "template"
    template.mkdir()
    digests, rows = _tree_of_unique_files(template, n)
    preds = write_predictions(tmp_path / "p.csv", rows)
    original = snapshot(template)

    def start(src: Path, dest: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "animalsort",
                "-q",
                "sort",
                str(src),
                "--move",
                "--min-confidence",
                "0.2",
                "--from",
                str(preds),
                "--dest",
                str(dest),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_for_journal(proc: subprocess.Popen, dest: Path) -> float:
        t0 = time.perf_counter()
        while proc.poll() is None and not list((dest / plan.STATE_DIR).glob("sort-*.jsonl")):
            time.sleep(0.001)
        return time.perf_counter() - t0

    # One full run to learn how long the moves take once the journal is written.
    src, dest = tmp_path / "calib", tmp_path / "calib-out"
    shutil.copytree(template, src)
    proc = start(src, dest)
    wait_for_journal(proc, dest)
    t0 = time.perf_counter()
    assert proc.wait(60) == 0
    full = time.perf_counter() - t0
    rng = random.Random(2026)
    interrupted = mid_move = 0
    for trial in range(trials):
        src, dest = tmp_path / f"src{trial}", tmp_path / f"out{trial}"
        shutil.copytree(template, src)
        proc = start(src, dest)
        if trial % 4:  # most kills land among the moves; every 4th anywhere from the start
            wait_for_journal(proc, dest)
        time.sleep(rng.uniform(0.0, 0.5) * full)  # the tail of `full` is interpreter exit
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(60)
        interrupted += code == -signal.SIGKILL
        found = _all_files(src, dest)
        assert sorted(found) == sorted(digests), f"trial {trial}: files lost or doubled"
        journals = sorted((dest / plan.STATE_DIR).glob("sort-*.jsonl")) if dest.exists() else []
        for journal in journals:
            state = plan.read_journal(journal)
            mid_move += 0 < len(state.done) < len(state.ops)
            res = undo.undo_sort(journal)
            assert not res.refused, res.refused
        assert snapshot(src) == original, f"trial {trial}: undo did not restore the tree"
    print(
        f"kill test: {interrupted} of {trials} runs killed, {mid_move} in the middle of the moves "
        f"(the moves take {full:.2f} s)"
    )
    assert mid_move >= trials // 4, f"only {mid_move} of {trials} runs were cut off mid-move"
