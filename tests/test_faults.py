"""Fault tolerance and safety: a hostile folder, kill -9 and resume, a full disk, bad weights."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, make_image, read_csv_rows
from faults import good_files, make_hostile_folder

from animalsort.cli import main
from animalsort.errors import ChecksumError
from animalsort.formats import predictions


def test_hostile_folder_one_row_per_file_with_specific_errors(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "hostile"
    expected = make_hostile_folder(src)
    out = tmp_path / "p.csv"
    result = runner.invoke(main, ["classify", str(src), "-o", str(out), "-b", "4"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "could not be read" in result.stderr
    df = pd.read_csv(out, keep_default_na=False, dtype=str)  # every name survives the round trip
    assert sorted(df["path"]) == sorted(expected)
    assert len(df) == len(expected)
    rows = {r["path"]: r for r in read_csv_rows(out)}
    for rel, (status, reason) in expected.items():
        assert rows[rel]["status"] == status, (rel, rows[rel])
        if status == "error":
            assert rows[rel]["error"], rel
            assert reason in rows[rel]["error"], (rel, rows[rel]["error"])
            if "truncated" in rel and rel != "bad/truncated_2.jpg":
                assert rows[rel]["error"].startswith("truncated image") or "not a readable" in rows[rel]["error"]
        else:
            assert rows[rel]["label"] and rows[rel]["error"] == ""
    # the good files get the labels they get in a clean folder
    clean = tmp_path / "clean"
    for rel in good_files(expected):
        (clean / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, clean / rel)
    clean_out = tmp_path / "clean.csv"
    assert runner.invoke(main, ["classify", str(clean), "-o", str(clean_out)]).exit_code == 0
    for r in read_csv_rows(clean_out):
        assert rows[r["path"]]["label"] == r["label"], r["path"]
        assert rows[r["path"]]["confidence"] == r["confidence"], r["path"]
    strict = runner.invoke(main, ["classify", str(src), "-o", str(tmp_path / "s.csv"), "--strict"])
    assert strict.exit_code == 1 and "--strict" in strict.stderr


def test_exif_rotation_is_applied_in_the_hostile_folder(tmp_path: Path) -> None:
    from animalsort.sources.decode import open_rgb

    make_hostile_folder(tmp_path / "h")
    plain = Image_size(EXAMPLES / "dog.jpg")
    assert open_rgb(tmp_path / "h" / "odd" / "exif_rotated.jpg").size == (plain[1], plain[0])


def Image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def test_unreadable_file(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    src = tmp_path / "s"
    make_image(src / "a.jpg")
    (src / "a.jpg").chmod(0)
    if os.geteuid() == 0:  # root reads chmod-000 files (as CI does): fail the open as it fails for a user
        real_open = Image.open

        def denied(fp: object, *args: object, **kwargs: object) -> object:
            if str(fp).endswith("a.jpg"):
                raise PermissionError(errno.EACCES, "Permission denied", str(fp))
            return real_open(fp, *args, **kwargs)

        monkeypatch.setattr(Image, "open", denied)
    out = tmp_path / "p.csv"
    assert runner.invoke(main, ["classify", str(src), "-o", str(out), "-j", "0"]).exit_code == 0
    assert read_csv_rows(out)[0]["error"] == "permission denied"


def test_error_reasons_are_specific() -> None:
    from PIL import Image

    from animalsort.sources.decode import describe_error

    assert describe_error(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"
    assert describe_error(FileNotFoundError(errno.ENOENT, "x")).startswith("file not found")
    assert describe_error(OSError(errno.ELOOP, "Too many levels of symbolic links")) == "symlink loop"
    assert describe_error(IsADirectoryError(errno.EISDIR, "x")) == "is a directory"
    assert describe_error(Image.DecompressionBombError("big")).startswith("too large to decode: over the limit of ")
    assert describe_error(OSError("image file is truncated (3 bytes not processed)")).startswith("truncated image")


def test_file_removed_between_discovery_and_reading(tmp_path: Path) -> None:
    from animalsort.inference import batches
    from animalsort.sources.preprocess import Preprocessing

    src = tmp_path / "s"
    make_image(src / "a.jpg")
    make_image(src / "b.jpg")
    stream = batches.image_stream(src, Preprocessing(input_size=32), 8)
    rels = list(stream.paths())
    (src / "a.jpg").unlink()  # gone after discovery, before decoding
    batch = stream.make_batch(rels)
    assert batch.rows.ok == [False, True]
    assert batch.rows.errors[0].startswith("file not found")


# --------------------------------------------------------------------------- crash safety


@pytest.mark.slow
def test_kill_minus_9_then_resume_is_byte_identical(tmp_path: Path, tiny_weights: Path) -> None:
    src = tmp_path / "src"
    make_hostile_folder(src / "hostile")
    for i in range(2500):  # long enough a stream to kill at random points, even in ONNX Runtime
        make_image(src / f"d{i % 5}" / f"img {i:04d}.jpg", size=(40, 30), seed=i)
    full = tmp_path / "full.csv"
    base = [
        sys.executable,
        "-m",
        "animalsort",
        "-q",
        "classify",
        str(src),
        "--weights",
        str(tiny_weights),
        "-b",
        "4",
        "-j",
        "1",
    ]

    def rows_written(path: Path) -> int:
        return path.read_bytes().count(b"\n") if path.exists() else 0

    def wait_for_more_rows(proc: subprocess.Popen, path: Path, than: int) -> float:
        t = time.perf_counter()
        while proc.poll() is None and rows_written(path) <= than + 1:
            time.sleep(0.005)
        return time.perf_counter() - t

    subprocess.run(base + ["-o", str(tmp_path / "warm.csv")], check=True)  # makes and caches the ONNX graph
    proc = subprocess.Popen(base + ["-o", str(full)])
    t0 = time.perf_counter()
    wait_for_more_rows(proc, full, 0)
    startup = time.perf_counter() - t0
    assert proc.wait() == 0
    streaming = time.perf_counter() - t0 - startup
    out = tmp_path / "cut.csv"
    expected = full.read_bytes()
    rng = random.Random(7)
    kills = progressed = early = 0
    for trial in range(20):
        before = rows_written(out)
        proc = subprocess.Popen(base + ["-o", str(out), "--resume"], stderr=subprocess.DEVNULL)
        if trial % 4 == 0:  # during start-up: before the first row (header only, or no file)
            time.sleep(rng.uniform(0.3, 1.0) * startup)
        elif trial % 4 == 1:  # anywhere from start-up into the first part of the stream
            time.sleep(rng.uniform(0.0, 1.0) * startup + rng.uniform(0.0, 0.05) * streaming)
        else:  # somewhere in the stream of rows (a short way in: 20 runs must not finish the CSV)
            wait_for_more_rows(proc, out, before)
            time.sleep(rng.uniform(0.0, 0.02) * streaming)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if not out.exists():
            continue  # killed before it created the file
        progressed += rows_written(out) > before
        early += rows_written(out) <= 1
        data = out.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        # Whatever a kill left, its complete lines are the uninterrupted run's first lines:
        # one header, then rows in order (so a resume from here is byte-identical).
        assert expected.startswith(complete), f"trial {trial}: {complete[:300]!r}"
    subprocess.run(base + ["-o", str(out), "--resume"], check=True)
    assert out.read_bytes() == expected
    print(f"classify kill test: {kills} kills in 20 runs, {progressed} made progress, {early} left no row")
    assert kills >= 15 and progressed >= 10


def test_full_disk_gives_a_clear_error_and_a_resumable_csv(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_weights: Path
) -> None:
    src = tmp_path / "src"
    for i in range(40):
        make_image(src / f"{i:02d}.jpg", seed=i)
    full = tmp_path / "full.csv"
    args = ["classify", str(src), "--weights", str(tiny_weights), "-b", "4"]
    assert runner.invoke(main, args + ["-o", str(full)]).exit_code == 0

    real_open = open

    class FullDisk:
        """A file that accepts 700 bytes, then fails like a full disk (mid-row)."""

        def __init__(self, f):
            self.f, self.budget = f, 700

        def write(self, s: str) -> int:
            if len(s) > self.budget:
                self.f.write(s[: self.budget])
                self.f.flush()
                self.budget = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.budget -= len(s)
            return self.f.write(s)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        return FullDisk(f) if "w" in mode or "a" in mode else f

    cut = tmp_path / "cut.csv"
    monkeypatch.setattr(predictions, "open", fake_open, raising=False)
    result = runner.invoke(main, args + ["-o", str(cut)])
    monkeypatch.undo()
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]  # after any progress bar
    assert error.startswith("Error: cannot write to") and "No space left on device" in error
    assert "rerun with --resume" in result.stderr
    assert 0 < cut.stat().st_size < full.stat().st_size
    result = runner.invoke(main, args + ["-o", str(cut), "--resume"])
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == full.read_bytes()


# --------------------------------------------------------------------------- safety


def test_tampered_weights_are_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from animalsort.model import build, fetch, load, registry

    spec = registry.load_registry().get("lite0")
    tampered = tmp_path / spec.file
    data = bytearray(fetch.package_path(spec).read_bytes())
    data[1000] ^= 1
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(fetch, "package_path", lambda s: tampered)
    loads = []
    monkeypatch.setattr(build, "load_state", lambda *a, **k: loads.append(a))
    with pytest.raises(ChecksumError, match=f"expected {spec.sha256}"):
        load.load("lite0", device="cpu", progress=False)
    assert loads == []  # never unpickled


def test_checkpoint_with_a_pickle_payload_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "animalsort-checkpoint/1", "state_dict": {}, "x": Payload()}, evil)
    result = runner.invoke(main, ["classify", str(EXAMPLES), "--weights", str(evil)])
    assert result.exit_code == 1
    assert "refusing to load" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "pwned").exists()


def test_plain_http_needs_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from animalsort.errors import DownloadError
    from animalsort.model import fetch

    monkeypatch.setenv("ANIMALSORT_MIRROR", "http://127.0.0.1:9")
    with pytest.raises(DownloadError, match="refusing to download over plain http"):
        fetch.download("http://127.0.0.1:9/x.pth", tmp_path / "x.pth", "0" * 64, progress=False)
    monkeypatch.setenv("ANIMALSORT_ALLOW_HTTP", "1")
    with pytest.raises(DownloadError, match="failed after 0 retries"):  # allowed: it tries, nothing listens
        fetch.download("http://127.0.0.1:9/x.pth", tmp_path / "x.pth", "0" * 64, progress=False, retries=0)


def test_checkpoint_labels_cannot_escape_dest(runner: CliRunner, tmp_path: Path) -> None:
    from animalsort.model.build import build_arch
    from animalsort.model.checkpoints import save_checkpoint
    from animalsort.sources.preprocess import Preprocessing

    evil_labels = ["../../escaped", "/etc/passwd", "..", "CON", "a\nb"]
    weights = save_checkpoint(
        tmp_path / "evil-labels.pt",
        build_arch("timm:test_efficientnet", 5),
        arch="timm:test_efficientnet",
        labels=evil_labels,
        preprocessing=Preprocessing(input_size=32, crop_pct=1.0),
    )
    src = tmp_path / "box" / "src"
    for i in range(12):
        make_image(src / f"{i}.jpg", seed=i, color=(i * 20, 255 - i * 20, 90))
    dest = tmp_path / "box" / "dest"
    args = ["sort", str(src), "--dest", str(dest), "--weights", str(weights), "--min-confidence", "0"]
    result = runner.invoke(main, [*args, "--runtime", "torch"])  # the labels are the subject: no graph to make
    assert result.exit_code == 0, result.output
    placed = [p for p in dest.rglob("*.jpg")]
    assert len(placed) == 12
    for p in placed:
        assert p.resolve().is_relative_to(dest.resolve())
    assert sorted(os.listdir(tmp_path / "box")) == ["dest", "src"]
