"""The ONNX Runtime path (#13): the same answers as torch, a cache that is keyed, reused and
checked, the export that runs without torch, and the fallback when a graph cannot be made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows

from animalsort.cli import main
from animalsort.errors import RuntimeCheckError
from animalsort.model import build, load, onnx_graph, onnx_runtime, resolve


def test_onnx_and_torch_give_the_same_csv(runner: CliRunner, tmp_path: Path) -> None:
    outs = {}
    for runtime in ("onnx", "torch"):
        outs[runtime] = tmp_path / f"{runtime}.csv"
        result = runner.invoke(
            main, ["classify", str(EXAMPLES), "-o", str(outs[runtime]), "--runtime", runtime, "--precision", "fp32"]
        )
        assert result.exit_code == 0, result.output
        assert f"[lite0 on cpu, {runtime} fp32]" in result.stderr
        assert json.loads(outs[runtime].with_name(f"{runtime}.csv.json").read_text())["runtime"] == runtime
    onnx, torch_ = read_csv_rows(outs["onnx"]), read_csv_rows(outs["torch"])
    assert [r["label"] for r in onnx] == [r["label"] for r in torch_]
    for a, b in zip(onnx, torch_, strict=True):
        assert abs(float(a["confidence"]) - float(b["confidence"])) <= 0.001


def test_the_graph_is_cached_keyed_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load.load(runtime="onnx", progress=False)
    assert first.runtime == "onnx" and first.net is None and first.session is not None
    path = first.session.path
    assert path.parent.name == "onnx" and "lite0-probabilities-fp32" in path.name

    def no_export(*args: object, **kwargs: object) -> Path:
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(onnx_graph, "export", no_export)
    monkeypatch.setattr(build, "build", no_export)  # and no torch model is built either
    again = load.load(runtime="onnx", progress=False)
    assert again.session is not None and again.session.path == path
    key_animals = onnx_runtime.model_key(resolve.resolve(progress=False), "animals")
    key_imagenet = onnx_runtime.model_key(resolve.resolve(progress=False), "imagenet")
    assert key_animals.digest() != key_imagenet.digest()  # the label set is part of the key


def test_a_damaged_cached_graph_is_detected_and_rebuilt(tiny_weights: Path) -> None:
    # the tiny model's graph: the cache is the subject, and rebuilding lite0's took ~8 s
    loaded = load.load(weights=tiny_weights, runtime="onnx", progress=False)
    assert loaded.session is not None
    path = loaded.session.path
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte in the weights: it would still load
    path.write_bytes(bytes(damaged))
    key = onnx_runtime.model_key(resolve.resolve(weights=tiny_weights, progress=False), "animals")
    assert onnx_graph.cached(key) is None
    again = load.load(weights=tiny_weights, runtime="onnx", progress=False)
    assert again.session is not None and onnx_graph.cached(key) == path  # rebuilt, whole again
    x = torch.from_numpy(onnx_graph.check_batch(loaded.preprocessing.input_size))
    assert torch.allclose(again.infer(x), loaded.infer(x), atol=1e-5)  # (the first session still holds the good bytes)


def test_auto_falls_back_to_torch_and_says_why(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from animalsort.model.build import build_arch
    from animalsort.model.checkpoints import save_checkpoint
    from animalsort.sources.preprocess import Preprocessing

    torch.manual_seed(1)  # weights of its own: no graph of them is cached yet
    tiny_weights = save_checkpoint(
        tmp_path / "tiny.pt",
        build_arch("timm:test_efficientnet", 2),
        arch="timm:test_efficientnet",
        labels=["a", "b"],
        preprocessing=Preprocessing(input_size=32, crop_pct=1.0),
        name="tiny",
    )

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeCheckError("the ONNX export of tiny differs from torch by 0.5 (more than 0.0001)")

    monkeypatch.setattr(onnx_graph, "export", broken)
    out = tmp_path / "p.csv"
    result = runner.invoke(main, ["classify", str(EXAMPLES), "--weights", str(tiny_weights), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "torch fp32]" in result.stderr
    assert "note: ONNX Runtime not used (the ONNX export of tiny differs from torch by 0.5" in result.stderr
    strict = runner.invoke(main, ["classify", str(EXAMPLES), "--weights", str(tiny_weights), "--runtime", "onnx"])
    assert strict.exit_code == 1 and "Error: the ONNX export of tiny differs" in strict.stderr


def test_a_finetuned_model_runs_in_onnx_runtime(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    from test_finetune import tiny_dataset

    data = tiny_dataset(tmp_path / "d")
    run = tmp_path / "run"
    args = ["finetune", str(data), "--out", str(run), "--epochs", "30", "--weights", str(tiny_weights)]
    tuned = runner.invoke(main, args)
    assert tuned.exit_code == 0, tuned.output
    rows = {}
    for runtime in ("onnx", "torch"):
        out = tmp_path / f"{runtime}.csv"
        result = runner.invoke(
            main,
            ["classify", str(data), "--weights", str(run), "--runtime", runtime, "--precision", "fp32", "-o", str(out)],
        )
        assert result.exit_code == 0, result.output
        assert f"{runtime} fp32]" in result.stderr
        rows[runtime] = read_csv_rows(out)
    assert [r["label"] for r in rows["onnx"]] == [r["label"] for r in rows["torch"]]
    for a, b in zip(rows["onnx"], rows["torch"], strict=True):
        assert abs(float(a["confidence"]) - float(b["confidence"])) <= 0.001


NO_TORCH_CLASSIFIER = r"""
import json, sys
sys.modules["torch"] = None  # any import of torch now fails
import numpy as np, onnxruntime as ort
from PIL import Image

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
labels, pre = json.loads(meta["labels"]), json.loads(meta["preprocessing"])
size = pre["input_size"]
resize = int(size / pre["crop_pct"])  # the shorter side before the centre crop
out = {}
for path in sys.argv[2:]:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    rw, rh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    left, top = round((rw - size) / 2), round((rh - size) / 2)
    box = (left * w / rw, top * h / rh, (left + size) * w / rw, (top + size) * h / rh)
    x = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)[None]
    p = session.run(None, {"images": x})[0][0]
    noa = labels.index("no_animal")
    first = noa if p[noa] >= 0.5 else max((i for i in range(len(p)) if i != noa), key=lambda i: p[i])
    out[path.rsplit("/", 1)[-1]] = labels[first]
print(json.dumps(out))
"""


def test_export_runs_with_onnxruntime_alone_and_matches_classify(runner: CliRunner, tmp_path: Path) -> None:
    onnx_file = tmp_path / "lite0.onnx"
    result = runner.invoke(main, ["models", "export", "--out", str(onnx_file)])
    assert result.exit_code == 0, result.output
    assert "lite0 fp32: 37 labels (animals)" in result.stderr
    preds = tmp_path / "p.csv"
    # the exported graph sees one image as given; classify's centre crop is the same input
    assert runner.invoke(main, ["classify", str(EXAMPLES), "-o", str(preds), "--view", "centre"]).exit_code == 0
    photos = sorted(str(p) for p in EXAMPLES.glob("*.jpg"))
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH_CLASSIFIER, str(onnx_file), *photos], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {r["path"]: r["label"] for r in read_csv_rows(preds)}
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert meta["model_name"] == "lite0" and meta["label_set"] == "animals"
    assert meta["source_sha256"] == resolve.resolve(progress=False).sha256 and meta["animalsort_version"]


def test_int8_is_refused_for_a_model_that_misses_its_gate(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_weights: Path
) -> None:
    """A random tiny model's int8 answers do not agree with its fp32 ones: it refuses int8
    (exit 1, saying why) rather than answer fast and wrong; the refusal is remembered."""
    from animalsort.model import int8

    args = ["classify", str(EXAMPLES), "--weights", str(tiny_weights), "--precision", "int8", "--view", "centre"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: --precision int8 refused for tiny: its first label agreed with fp32 on ")
    assert "below the 98% gate" in error

    def no_quantize(*a: object, **k: object) -> bytes:
        raise AssertionError("quantized again although the refusal is on record")

    monkeypatch.setattr(int8, "quantize_file", no_quantize)
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "refused for tiny" in again.stderr
    torch_int8 = runner.invoke(main, [*args, "--runtime", "torch"])
    assert torch_int8.exit_code == 2 and "--precision int8 runs in ONNX Runtime" in torch_int8.stderr
    exported = runner.invoke(
        main,
        ["models", "export", "--weights", str(tiny_weights), "--precision", "int8", "-o", str(tmp_path / "t.onnx")],
    )
    assert exported.exit_code == 1 and "refused for tiny" in exported.stderr and not (tmp_path / "t.onnx").exists()


def test_a_cache_that_cannot_be_written_falls_back_to_torch(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_weights: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "onnx").write_text("a file where the graphs' folder should be")
    monkeypatch.setenv("ANIMALSORT_CACHE_DIR", str(cache))
    # the fallback is the subject, not the label (the real-label floor: test_classify's accuracy test)
    out = tmp_path / "p.csv"
    args = ["classify", str(EXAMPLES / "cat.jpg"), "--weights", str(tiny_weights), "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        "torch fp32]" in result.stderr and "note: ONNX Runtime not used (cannot write the ONNX graph" in result.stderr
    )
    (row,) = read_csv_rows(out)
    assert (row["path"], row["status"]) == ("cat.jpg", "ok") and row["label"] in ("alpha", "beta", "gamma")
