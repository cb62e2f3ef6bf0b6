"""CPU features from each OS's source (fixtures), and --runtime openvino: selection, the f32
hint enforced (answers equal to ONNX Runtime's), the bf16 gate's refusals. No test assumes
which precision or runtime `auto` picks on the machine it runs on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animalsort import machine
from animalsort.errors import RuntimeCheckError

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512dq avx512_vnni avx_vnni avx512_bf16 sha_ni
"""
AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2
"""
SAPPHIRE_RAPIDS = "flags : avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
INTEL_MAC = """machdep.cpu.brand_string: Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz
machdep.cpu.features: FPU VME SSE SSE2 AVX1.0
machdep.cpu.leaf7_features: RDWRFSGS TSC_THREAD_OFFSET BMI1 AVX2 SMEP BMI2
"""
APPLE_M2 = """hw.optional.arm.FEAT_BF16: 1
hw.optional.arm.FEAT_I8MM: 1
hw.optional.arm.FEAT_DotProd: 1
"""


def test_cpu_features_from_linux_macos_and_windows():
    assert machine.features_from_cpuinfo(ZEN5) == ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16")
    assert machine.features_from_cpuinfo(AVX2_ONLY) == ("avx2",)
    assert "amx_tile" in machine.features_from_cpuinfo(SAPPHIRE_RAPIDS)
    assert machine.features_from_sysctl(INTEL_MAC) == ("avx2",)
    assert machine.features_from_sysctl(APPLE_M2) == ("arm_bf16", "arm_i8mm")
    assert machine.features_from_windows({40: True, 41: False}) == ("avx2",)
    assert machine.cpu_features(ZEN5) == machine.features_from_cpuinfo(ZEN5)
    assert machine.has_native_bf16(machine.features_from_cpuinfo(ZEN5))
    assert not machine.has_native_bf16(machine.features_from_cpuinfo(AVX2_ONLY))
    assert machine.has_native_bf16(machine.features_from_sysctl(APPLE_M2))
    assert machine.has_vnni(machine.features_from_cpuinfo(SAPPHIRE_RAPIDS))
    assert not machine.has_vnni(("avx2", "avx512f"))


openvino = pytest.importorskip("openvino", reason="--runtime openvino needs the openvino extra")


@pytest.fixture(scope="module")
def ov_and_ort():
    from animalsort.model.load import load

    return load(runtime="openvino", progress=False), load(runtime="onnx", progress=False)


def test_a_module_fixture_never_touches_the_users_cache(ov_and_ort, tmp_path_factory):
    """Set up before any test's own cache: its graphs are the session's, not the user's."""
    base = tmp_path_factory.getbasetemp()
    assert all(loaded.session.path.is_relative_to(base) for loaded in ov_and_ort), ov_and_ort[0].session.path


def test_openvino_fp32_equals_onnx_runtime(ov_and_ort):
    import torch

    from animalsort.model.int8 import views

    ov, ort = ov_and_ort
    assert (ov.runtime, ov.precision) == ("openvino", "fp32")
    assert "f32" in ov.session.applied or "float32" in ov.session.applied  # the hint held, whatever the CPU
    x = torch.from_numpy(views(ov.preprocessing, calibration=False)[:24])
    a, b = ov.infer(x).numpy(), ort.infer(x).numpy()
    assert np.abs(a - b).max() < 1e-4
    assert ov.labels == ort.labels


def test_openvino_bf16_refused_without_native_bf16(monkeypatch, ov_and_ort):
    from animalsort.model import openvino_runtime

    ov, _ = ov_and_ort
    monkeypatch.setattr(openvino_runtime, "cpu_features", lambda: ("avx2",))
    with pytest.raises(RuntimeCheckError, match="needs a CPU with native bf16"):
        openvino_runtime.bf16_gate(ov.session.path, ov.preprocessing, ov.labels, ov.session.metadata)


def test_openvino_bf16_refused_below_its_gate(monkeypatch, ov_and_ort, tmp_path):
    """A gate no precision can pass (above 100%) must refuse; the result is cached per CPU."""
    import shutil

    from animalsort.model import openvino_runtime

    ov, _ = ov_and_ort
    graph = tmp_path / "g.onnx"
    shutil.copy(ov.session.path, graph)
    monkeypatch.setattr(openvino_runtime, "cpu_features", lambda: ("avx2", "avx512f", "avx512_bf16"))
    monkeypatch.setattr(openvino_runtime, "INT8_GATE", 1.01)
    with pytest.raises(
        RuntimeCheckError, match=r"--precision bf16 refused for lite0 in OpenVINO: .* below the 101% gate"
    ):
        openvino_runtime.bf16_gate(graph, ov.preprocessing, ov.labels, ov.session.metadata)
    record = (tmp_path / "g.openvino-bf16.json").read_text()
    assert '"gate": 1.01' in record and '"agreement"' in record


def test_openvino_refuses_what_it_cannot_run():
    from animalsort.errors import DeviceError
    from animalsort.model.load import load

    with pytest.raises(DeviceError, match="--precision fp16 is not supported on the CPU"):
        load(runtime="openvino", precision="fp16", progress=False)


def test_openvino_int8_by_nncf_passes_or_refuses_by_its_gate(monkeypatch, ov_and_ort, tmp_path):
    """NNCF's int8 of the cached graph, gated on the shipped check views; a gate above 100%
    refuses it, and the refusal is remembered (no second quantization)."""
    import shutil

    from animalsort.model import openvino_runtime

    ov, _ = ov_and_ort
    graph = ov.session.path  # the cached graph itself: --precision fast (below) finds this int8 on record
    int8_files = f"{graph.stem}.openvino-int8-*"
    for made in graph.parent.glob(int8_files):
        made.unlink()  # quantized afresh here, whatever ran before
    try:  # whether lite0's int8 passes depends on the CPU (7-bit ranges without VNNI): both outcomes are checked
        xml, agreement = openvino_runtime.quantize_nncf(graph, ov.preprocessing, ov.labels, ov.session.metadata)
    except RuntimeCheckError as exc:
        record = json.loads(next(graph.parent.glob(f"{int8_files}.json")).read_text())
        assert record["passed"] is False and record["agreement"] < record["gate"]
        assert f"{record['agreement']:.1%}" in str(exc)
        assert not list(graph.parent.glob(f"{int8_files}.xml"))  # a refused model is not kept
    else:
        assert xml.is_file() and xml.with_suffix(".bin").is_file() and agreement >= 0.98
        int8 = openvino_runtime.OpenVinoModel(xml, "fp32", metadata=ov.session.metadata)
        from animalsort.model.int8 import views

        assert int8(views(ov.preprocessing, calibration=False)[:4]).shape == (4, len(ov.labels.labels))

    other = tmp_path / "h.onnx"
    shutil.copy(ov.session.path, other)

    def as_is(fp32, xml, pre, *, overflow_fix):  # the fp32 graph as the "int8" one (NNCF ran above: ~8 s)
        import openvino as ov

        ov.save_model(openvino_runtime.core().read_model(str(fp32)), str(xml), compress_to_fp16=False)

    monkeypatch.setattr(openvino_runtime, "_nncf_quantize", as_is)
    monkeypatch.setattr(openvino_runtime, "INT8_GATE", 1.01)  # above even the fp32 graph's 100%
    with pytest.raises(RuntimeCheckError, match="--precision int8 refused for lite0 in OpenVINO"):
        openvino_runtime.quantize_nncf(other, ov.preprocessing, ov.labels, ov.session.metadata)
    monkeypatch.setattr(openvino_runtime, "_nncf_quantize", lambda *a, **k: pytest.fail("quantized again"))
    with pytest.raises(RuntimeCheckError, match="refused"):
        openvino_runtime.quantize_nncf(other, ov.preprocessing, ov.labels, ov.session.metadata)


def test_int8_ranges_follow_the_cpu(monkeypatch, ov_and_ort, tmp_path):
    """ONNX Runtime int8: 7-bit ranges without VNNI (the u8×s8 products would saturate), full
    8-bit with it."""
    import onnxruntime.quantization as q

    from animalsort.model import int8

    ov, _ = ov_and_ort
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["reduce_range"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(q, "quantize_static", spy)
    for features in (("avx2",), ("avx2", "avx512f", "avx512_vnni")):
        monkeypatch.setattr(machine, "cpu_features", lambda f=features: f)
        with pytest.raises(RuntimeError, match="stop here"):
            int8.quantize_file(ov.session.path, tmp_path / "x.onnx", ov.preprocessing)
    assert seen == [True, False]  # 7-bit without VNNI, full 8-bit with it


def test_precision_fast_takes_the_fastest_that_passed_else_fp32_saying_why(monkeypatch):
    from animalsort.model import choice

    fp32 = {"onnx fp32": {"images_per_s": 300.0}, "openvino fp32": {"images_per_s": 320.0}}
    reduced = {
        "openvino bf16": {"images_per_s": 600.0, "agreement": 0.99},
        "openvino int8": {"images_per_s": 450.0, "agreement": 0.985},
        "onnx int8": {"refused": "--precision int8 refused for lite0: 96.6%"},
    }
    monkeypatch.setattr(choice, "measured", lambda s, l, kind, p=False: fp32 if kind == "fp32" else reduced)
    assert choice.fastest_reduced(None, "animals") == ("openvino", "bf16", "")
    reduced["openvino bf16"] = {"refused": "--precision bf16 refused: 97.0%"}
    assert choice.fastest_reduced(None, "animals") == ("openvino", "int8", "")
    reduced["openvino int8"] = {"images_per_s": 310.0, "agreement": 0.99}  # passed, but not faster than fp32
    rt, prec, note = choice.fastest_reduced(None, "animals")
    assert (rt, prec) == ("openvino", "fp32")
    assert "bf16 refused: 97.0%" in note and "openvino int8: not faster than fp32 (310 img/s)" in note


def test_runtime_auto_takes_the_fastest_with_fp32_answers(monkeypatch):
    from animalsort.model import choice

    monkeypatch.setattr(choice, "candidates", lambda kind: [("onnx", "fp32"), ("openvino", "fp32")])
    speeds = {"onnx fp32": {"images_per_s": 300.0}, "openvino fp32": {"images_per_s": 280.0}}
    monkeypatch.setattr(choice, "measured", lambda s, l, kind, p=False: speeds)
    assert choice.fastest_fp32_runtime(None, "animals") == "onnx"
    speeds["openvino fp32"]["images_per_s"] = 350.0
    assert choice.fastest_fp32_runtime(None, "animals") == "openvino"
    monkeypatch.setattr(choice, "candidates", lambda kind: [("onnx", "fp32")])  # no OpenVINO: no measuring
    monkeypatch.setattr(choice, "measured", lambda *a, **k: pytest.fail("measured with one candidate"))
    assert choice.fastest_fp32_runtime(None, "animals") == "onnx"


def test_classify_fast_and_auto_record_what_ran(runner, tmp_path):
    """Whatever this CPU picks: the sidecar says the runtime, the precision and, for a reduced
    precision, the agreement its gate measured; auto's answers are fp32's."""
    import json

    from animalsort.cli import main
    from tests.conftest import read_csv_rows

    examples = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "photos"
    outs = {}
    for precision in ("auto", "fast"):
        out = tmp_path / f"{precision}.csv"
        res = runner.invoke(
            main, ["classify", str(examples), "-o", str(out), "--precision", precision, "--view", "centre"]
        )
        assert res.exit_code == 0, res.output
        meta = json.loads(out.with_name(out.name + ".json").read_text())
        assert meta["runtime"] in ("onnx", "openvino", "torch")
        if precision == "auto":
            assert meta["precision"] == "fp32" and "precision_gate_agreement" not in meta
        elif meta["precision"] != "fp32":
            assert meta["precision_gate_agreement"] >= 0.98
        outs[precision] = read_csv_rows(out)
    ref = tmp_path / "torch.csv"
    args = ["classify", str(examples), "-o", str(ref), "--runtime", "torch", "--precision", "fp32", "--view", "centre"]
    assert runner.invoke(main, args).exit_code == 0
    assert [r["label"] for r in outs["auto"]] == [r["label"] for r in read_csv_rows(ref)]


@pytest.mark.workers
def test_workers_auto(runner, tmp_path):
    import json

    from animalsort.cli import main
    from animalsort.inference.balance import workers_for

    assert workers_for(2.4, 6.2, 2) == 2  # small JPEGs on 2 cores: the model's share is larger
    assert workers_for(12.0, 6.2, 2) == 3  # 12 MP photos: decode-bound, more decoders
    assert workers_for(50.0, 1.0, 16) == 8  # never more than 8
    assert workers_for(0.1, 100.0, 1) == 2  # one core: a decoder stays one batch ahead of the model
    examples = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "photos"
    out = tmp_path / "p.csv"
    res = runner.invoke(main, ["classify", str(examples), "-o", str(out), "--workers", "auto", "--view", "centre"])
    assert res.exit_code == 0, res.output
    chosen = json.loads(out.with_name("p.csv.json").read_text())["workers_auto"]
    assert chosen["workers"] >= 1 and chosen["decode_ms"] > 0 and chosen["model_ms"] > 0 and chosen["limit"] > 0
    res = runner.invoke(main, ["classify", str(examples), "-o", str(out), "--workers", "many"])
    assert res.exit_code == 2 and "'many' is not a number of workers or 'auto'" in res.output
