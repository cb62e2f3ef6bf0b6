"""classify through the CLI: CSV contract, determinism, broken files, errors, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_image, read_csv_rows

from animalsort.cli import main
from animalsort.formats.predictions import LOOK_COLUMNS, header

# DESIGN §5's columns, then frame_s (#17: a clip's best frame in seconds, empty for photos).
COLUMNS = [
    *["path", "label", "confidence", "label_2", "confidence_2", "label_3", "confidence_3", "status", "error"],
    "frame_s",
]


def classify(runner: CliRunner, *args: object) -> object:
    result = runner.invoke(main, ["classify", *map(str, args)])
    return result


def test_header_matches_design() -> None:
    assert header(3) == COLUMNS
    assert header(1) == ["path", "label", "confidence", "status", "error", "frame_s"]


def test_examples_csv_and_sidecar(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    result = classify(runner, EXAMPLES, "--out", out, "--workers", 1)
    assert result.exit_code == 0, result.output
    rows = read_csv_rows(out)
    assert list(rows[0]) == COLUMNS + LOOK_COLUMNS  # the default --view frame says where the animal is (#27, #36)
    assert [r["path"] for r in rows] == sorted(p.name for p in EXAMPLES.iterdir())
    assert all(r["status"] == "ok" and r["error"] == "" for r in rows)
    for r in rows:
        confs = [float(r[c]) for c in ("confidence", "confidence_2", "confidence_3")]
        assert all(0 <= c <= 1 for c in confs) and sum(confs) <= 1.0001
        assert len({r["label"], r["label_2"], r["label_3"]}) == 3
    side = json.loads((tmp_path / "preds.csv.json").read_text())
    assert side["model"] == "lite0"
    assert side["weights_sha256"] == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    assert side["counts"] == {"found": 11, "ok": 11, "failed": 0, "resumed": 0, "videos": 0, "frames": 0}
    assert "video" not in side and "sequences" not in side  # only when there were clips / --sequences
    assert side["animalsort_version"] and side["seconds"] > 0 and side["options"]["top_k"] == 3
    assert "11 found, 11 ok, 0 failed" in result.stderr


def test_committed_real_photos_floor(runner: CliRunner, tmp_path: Path) -> None:
    """Real-accuracy floor on the committed photos (the full check is benchmarks/accuracy.py)."""
    out = tmp_path / "p.csv"
    assert classify(runner, EXAMPLES, "-o", out).exit_code == 0
    got = {r["path"]: r["label"] for r in read_csv_rows(out)}
    expected = {
        "butterfly.jpg": "butterfly",
        "cat.jpg": "cat",
        "dog.jpg": "dog",
        "dog_bicycle.jpg": "dog",
        "eagle.jpg": "bird",
        "horses.jpg": "horse",
        "mandrill.jpg": "primate",
        "squirrel.jpg": "squirrel",
    }
    hits = sum(got[k] == v for k, v in expected.items())
    assert hits >= 7, got
    assert got["astronaut.jpg"] == "no_animal" and got["football.jpg"] == "no_animal"


def test_same_folder_twice_gives_identical_csv(runner: CliRunner, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert classify(runner, EXAMPLES, "-o", a, "-j", 0).exit_code == 0
    assert classify(runner, EXAMPLES, "-o", b, "-j", 2, "-b", 3).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def _good_folder(root: Path, n: int = 50) -> Path:
    names = sorted(p.name for p in EXAMPLES.iterdir())
    for i in range(n):
        sub = root / f"set{i % 3}"
        if i < len(names):
            shutil.copy(EXAMPLES / names[i], sub.mkdir(parents=True, exist_ok=True) or sub / f"{i:02d}_{names[i]}")
        else:
            make_image(sub / f"{i:02d}_synthetic.png", size=(80 + i, 60), color=(i * 5, 100, 200 - i * 3), seed=i)
    return root


def test_broken_files_are_rows_and_shift_nothing(runner: CliRunner, tmp_path: Path) -> None:
    clean = _good_folder(tmp_path / "clean")
    dirty = shutil.copytree(clean, tmp_path / "dirty")
    (dirty / "set0" / "05_zero.jpg").write_bytes(b"")
    (dirty / "set1" / "00_random.jpg").write_bytes(os.urandom(3000))
    (dirty / "set1" / "12_text.png").write_text("not an image")
    cat = (EXAMPLES / "cat.jpg").read_bytes()
    (dirty / "set2" / "07_truncated.jpg").write_bytes(cat[: len(cat) // 3])
    (dirty / "set2" / "40_header_only.JPG").write_bytes(cat[:200])
    a, b = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    assert classify(runner, clean, "-o", a, "-b", 8).exit_code == 0
    result = classify(runner, dirty, "-o", b, "-b", 8)
    assert result.exit_code == 0, result.output
    clean_rows, dirty_rows = read_csv_rows(a), read_csv_rows(b)
    assert len(clean_rows) == 50 and len(dirty_rows) == 55
    failed = {r["path"]: r["error"] for r in dirty_rows if r["status"] == "error"}
    assert set(failed) == {
        "set0/05_zero.jpg",
        "set1/00_random.jpg",
        "set1/12_text.png",
        "set2/07_truncated.jpg",
        "set2/40_header_only.JPG",
    }
    assert failed["set0/05_zero.jpg"] == "empty file (0 bytes)"
    assert failed["set1/00_random.jpg"].startswith("not a readable image")
    assert failed["set2/07_truncated.jpg"].startswith("truncated image")
    for r in dirty_rows:
        if r["status"] == "error":
            assert r["label"] == "" and r["confidence"] == ""
    dirty_ok = {r["path"]: r for r in dirty_rows if r["status"] == "ok"}
    assert dirty_ok == {r["path"]: r for r in clean_rows}
    assert "55 found, 50 ok, 5 failed" in result.stderr


def test_formats_case_insensitive_and_first_gif_frame(runner: CliRunner, tmp_path: Path) -> None:
    from PIL import Image

    src = tmp_path / "src"
    make_image(src / "a.PNG")
    make_image(src / "b.webp", fmt="WEBP")
    make_image(src / "c.bmp")
    make_image(src / "d.TIFF")
    make_image(src / "e.Jpeg")
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(src / "f.gif", save_all=True, append_images=frames[1:])
    make_image(src / "deep" / "er" / "g.tif")
    (src / "notes.txt").write_text("not scanned")
    out = tmp_path / "o.csv"
    assert classify(runner, src, "-o", out).exit_code == 0
    rows = read_csv_rows(out)
    assert [r["path"] for r in rows] == ["a.PNG", "b.webp", "c.bmp", "d.TIFF", "deep/er/g.tif", "e.Jpeg", "f.gif"]
    assert all(r["status"] == "ok" for r in rows)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from animalsort.sources.preprocess import Preprocessing, Preprocessor

    arr = np.zeros((100, 200, 3), dtype=np.uint8)
    arr[:, :100] = (255, 0, 0)  # left half red, right half blue, as stored
    arr[:, 100:] = (0, 0, 255)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = Preprocessor(Preprocessing(input_size=32, crop_pct=1.0))(tmp_path / "r.jpg")
    assert out.shape == (32, 32, 3)
    top, bottom = out[2, 16], out[-3, 16]
    assert top[0] > 200 and top[2] < 60  # red is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_output_inside_source_is_not_scanned(tmp_path: Path) -> None:
    from animalsort.sources.listing import discover

    src = tmp_path / "src"
    make_image(src / "a.jpg")
    make_image(src / "out" / "b.jpg")
    make_image(src / "z.png")
    assert list(discover(src)) == ["a.jpg", "out/b.jpg", "z.png"]
    assert list(discover(src, exclude=[src / "out", src / "z.png"])) == ["a.jpg"]


def test_resume_completes_a_cut_csv_byte_identically(runner: CliRunner, tmp_path: Path) -> None:
    full = tmp_path / "full.csv"
    assert classify(runner, EXAMPLES, "-o", full, "-b", 4).exit_code == 0
    data = full.read_bytes()
    cut = tmp_path / "cut.csv"
    lines = data.split(b"\r\n")
    cut.write_bytes(b"\r\n".join(lines[:5]) + b"\r\n" + lines[5][:17])  # 4 rows + half a row
    result = classify(runner, EXAMPLES, "-o", cut, "--resume", "-b", 4)
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == data
    assert "4 kept from before" in result.stderr


@pytest.mark.parametrize("left", ["header", "empty", "half a header"])
def test_resume_after_a_kill_before_the_first_row(runner: CliRunner, tmp_path: Path, left: str) -> None:
    """A kill after the header was written (or while it was) and before any row: resume
    writes exactly one header (it wrote two before #14)."""
    full = tmp_path / "full.csv"
    assert classify(runner, EXAMPLES, "-o", full, "-b", 4).exit_code == 0
    data = full.read_bytes()
    header = data[: data.index(b"\r\n") + 2]
    cut = tmp_path / "cut.csv"
    cut.write_bytes({"header": header, "empty": b"", "half a header": header[:9]}[left])
    result = classify(runner, EXAMPLES, "-o", cut, "--resume", "-b", 4)
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == data


def test_resume_refuses_different_columns(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    assert classify(runner, EXAMPLES, "-o", out, "--top-k", 1).exit_code == 0
    result = classify(runner, EXAMPLES, "-o", out, "--resume")
    assert result.exit_code == 1
    assert "cannot resume" in result.stderr


def test_resume_refuses_another_folders_csv(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    """#35: --resume kept base/'s rows and labelled other/cat.jpg by base/cat.jpg's row."""
    base, other = tmp_path / "base", tmp_path / "other"
    make_image(base / "cat.jpg")
    make_image(base / "dog.jpg", seed=1)
    make_image(other / "cat.jpg", seed=2)
    out = tmp_path / "p.csv"
    assert classify(runner, base, "-o", out, "--weights", tiny_weights).exit_code == 0
    before = out.read_bytes()
    res = classify(runner, other, "-o", out, "--resume", "--weights", tiny_weights)
    assert res.exit_code == 2, res.output
    assert f"cannot resume {out}: its rows are of {base}, this run classifies {other}" in res.stderr
    assert out.read_bytes() == before
    via = tmp_path / "via"  # the same folder, spelled another way, resumes
    via.symlink_to(base, target_is_directory=True)
    res = classify(runner, via, "-o", out, "--resume", "--weights", tiny_weights)
    assert res.exit_code == 0 and "2 kept from before" in res.stderr, res.output


def test_imagenet_labels_and_top_k(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    # in torch: the label set is the subject, and its ONNX graph (~15 s to export) would serve this test
    # alone (the runtimes' equal answers: test_runtime)
    args = ["-o", out, "--labels", "imagenet", "--top-k", 5, "--runtime", "torch"]
    assert classify(runner, EXAMPLES, *args).exit_code == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns)[:3] == ["path", "label", "confidence"] and "label_5" in df.columns
    cat = df.set_index("path").loc["cat.jpg"]
    assert cat["label"] in ("tabby", "tiger cat", "Egyptian cat")


def test_csv_to_stdout(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = classify(runner, EXAMPLES, "--top-k", 1)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "path,label,confidence,status,error,frame_s," + ",".join(LOOK_COLUMNS)
    assert len(result.stdout.splitlines()) == 12
    monkeypatch.chdir(tmp_path)  # `-o -` is stdout too, not a file named "-"
    dash = classify(runner, EXAMPLES, "--top-k", 1, "-o", "-")
    assert dash.exit_code == 0 and dash.stdout == result.stdout
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["{tmp}/missing"], 2, "Error: {tmp}/missing: no such folder"),
        (["{tmp}/empty"], 2, "Error: no image files under {tmp}/empty"),
        (["{ex}", "--model", "nope"], 2, "Error: unknown model 'nope'; available models: lite0"),
        (["{ex}", "--device", "tpu"], 2, "Invalid value for '--device'"),
        (["{ex}", "--weights", "{tmp}/none.pt"], 2, "Error: --weights {tmp}/none.pt: no such file"),
        (["{ex}", "--resume"], 2, "--resume needs --out"),
    ],
)
def test_usage_errors(runner: CliRunner, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    fill = {"tmp": str(tmp_path), "ex": str(EXAMPLES)}
    result = classify(runner, *[a.format(**fill) for a in args])
    assert result.exit_code == code, result.output
    assert message.format(**fill) in result.stderr
    assert "Traceback" not in result.output


def test_unwritable_out_is_a_runtime_error(runner: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = classify(runner, EXAMPLES, "-o", blocker / "sub" / "p.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cuda_without_gpu_is_a_runtime_error(runner: CliRunner) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = classify(runner, EXAMPLES, "--device", "cuda")
    assert result.exit_code == 1
    assert "Error: --device cuda: no CUDA GPU is available here" in result.stderr


# --------------------------------------------------------------------------- CLI hygiene


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from animalsort.cli import main\n"
        "try: main(['classify', '--help'])\n"
        "except SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported by --help'\n"
        "assert 'timm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_python_dash_m(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "animalsort", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "animalsort" in r.stdout


def test_device_decode_path_matches_the_cpu_path(tmp_path: Path) -> None:
    """The nvJPEG path (exercised here with torchvision's CPU decoder) gives the same pixels:
    same geometry, EXIF orientation, grey JPEGs, and the PIL fallback for the rest."""
    import torch
    from PIL import Image

    from animalsort.inference import batches, gpu_decode
    from animalsort.sources.preprocess import Preprocessing

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(EXAMPLES / "cat.jpg", src / "a_cat.jpg")
    shutil.copy(EXAMPLES / "horses.jpg", src / "b_horses.jpg")
    img = Image.open(EXAMPLES / "dog.jpg")
    for orientation in (3, 6, 8):
        exif = img.getexif()
        exif[0x0112] = orientation
        img.save(src / f"c_rot{orientation}.jpg", exif=exif, quality=92)
    img.convert("L").save(src / "d_grey.jpg")
    img.convert("CMYK").save(src / "e_cmyk.jpg")
    img.save(src / "f.png")
    cat = (EXAMPLES / "cat.jpg").read_bytes()
    (src / "g_truncated.jpg").write_bytes(cat[: len(cat) // 2])
    pre = Preprocessing(input_size=96, crop_pct=0.875, interpolation="bicubic")
    raw = next(iter(batches.image_stream(src, pre, 16, raw_jpeg=True, draft=False)))
    ref = next(iter(batches.image_stream(src, pre, 16, draft=False)))
    assert raw.orientation == [1, 1, 3, 6, 8, 1, 1, 1, 1]
    assert [r is not None for r in raw.raw] == [True] * 6 + [False] * 3  # CMYK, PNG, cut: PIL
    x = raw.images.clone()
    gpu_decode.decode_on_device(raw, x, pre)
    assert raw.rows.ok == ref.rows.ok == [True] * 8 + [False]
    assert raw.rows.errors[-1].startswith("truncated image")
    diff = (x.float() - ref.images.float()).abs().mean(dim=(1, 2, 3))
    assert torch.all(diff[:8] < 1.0), diff


def test_bench_command_recommends_settings(runner: CliRunner, tiny_weights: Path) -> None:
    args = ["-q", "bench", str(EXAMPLES), "--sample", "8", "--quick", "--weights", str(tiny_weights)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "8 images from" in out and "model only (onnx fp32)" in out and "model only (torch fp32)" in out
    assert "CPU features: " in out
    rec = next(line for line in out.splitlines() if line.startswith("recommended: "))
    runtime, precision = rec.split()[2], rec.split()[4]  # the fastest of what was timed (and passed its gate)
    assert f"model only ({runtime} {precision})" in out
