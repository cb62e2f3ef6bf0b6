from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import EXAMPLES

from animalsort.errors import DeviceError, UsageError, WeightsError
from animalsort.model import build, checkpoints, device, load
from animalsort.model.fetch import package_path
from animalsort.model.keymaps import lukemelas_to_timm
from animalsort.model.registry import load_registry


def test_lukemelas_weights_load_strictly_into_timm() -> None:
    spec = load_registry().get("lite0")
    state = checkpoints.load_state(package_path(spec))
    net = build.build_arch(spec.arch, 1000)
    renamed = lukemelas_to_timm(state, net)
    assert set(renamed) == set(net.state_dict())  # no missing, no unexpected keys
    for key, value in renamed.items():
        assert value.shape == net.state_dict()[key].shape, key
    build.load_weights(net, state, "lukemelas_to_timm")


def test_key_map_rejects_foreign_keys() -> None:
    net = build.build_arch("timm:tf_efficientnet_lite0", 10)
    with pytest.raises(WeightsError, match="cannot map"):
        lukemelas_to_timm({"_something.weight": torch.zeros(1)}, net)


def test_load_weights_reports_mismatch() -> None:
    net = build.build_arch("timm:tf_efficientnet_lite0", 10)
    with pytest.raises(WeightsError, match="missing"):
        build.load_weights(net, {"bogus": torch.zeros(1)})


def test_unknown_arch() -> None:
    with pytest.raises(UsageError, match="unknown architecture"):
        build.build_arch("keras:resnet", 10)


def test_pickle_payload_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):  # what a malicious checkpoint would carry
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload()}, path)
    with pytest.raises(WeightsError, match=r"refusing to load .*\(print\)"):
        checkpoints.load_state(path)


def test_classifier_normalises_on_device_and_outputs_label_probabilities() -> None:
    loaded = load.load(labels="animals", device="cpu", precision="fp32", progress=False)
    x = torch.full((2, 224, 224, 3), 128, dtype=torch.uint8)
    with torch.inference_mode():
        p = loaded.net(x)
    assert p.shape == (2, len(loaded.labels.labels))
    assert torch.allclose(p.sum(dim=1), torch.ones(2), atol=1e-4)


def test_default_model_recognises_a_real_cat() -> None:
    from animalsort.sources.preprocess import Preprocessor

    loaded = load.load(labels="imagenet", device="cpu", precision="fp32", progress=False)
    img = Preprocessor(loaded.preprocessing)(EXAMPLES / "cat.jpg")
    with torch.inference_mode():
        p = loaded.net(torch.from_numpy(np.ascontiguousarray(img))[None])
    top5 = [loaded.labels.labels[i] for i in p.topk(5).indices[0]]
    assert {"tabby", "tiger cat", "Egyptian cat"} & set(top5[:2]), top5


def test_device_and_precision_choice() -> None:
    assert device.pick_device("cpu").type == "cpu"  # the rules themselves: tests/test_decision.py
    with pytest.raises(UsageError):
        device.pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_gpu() -> None:

    with pytest.raises(DeviceError, match="no CUDA GPU"):
        device.pick_device("cuda")
