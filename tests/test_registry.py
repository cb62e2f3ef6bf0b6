from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from animalsort.hashes import sha256_file
from animalsort.model.fetch import package_path
from animalsort.model.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]


def test_registry_schema() -> None:
    reg = load_registry()
    assert reg.default in reg.models
    for name, spec in reg.models.items():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), name
        assert spec.size > 0
        assert spec.url or spec.package, f"{name}: no source"
        if spec.url:
            assert spec.url.startswith("https://"), name
        assert spec.arch.split(":")[0] in ("timm", "torchvision"), name
        pre = spec.preprocessing
        assert pre.input_size > 0 and 0 < pre.crop_pct <= 1
        assert pre.interpolation in ("bicubic", "bilinear")
        assert len(pre.mean) == 3 and len(pre.std) == 3
        assert spec.license


@pytest.mark.parametrize("name", ["lite0", "lite1", "lite2"])
def test_offline_weights_come_from_the_installed_packages(name: str) -> None:
    spec = load_registry().get(name)
    path = package_path(spec)
    assert path is not None and path.name == spec.file
    assert path.stat().st_size == spec.size
    assert sha256_file(path) == spec.sha256


def test_finetune_starts_from_its_own_default() -> None:
    reg = load_registry()
    assert (reg.default, reg.finetune_base) == ("lite0", "lite1")


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_lite1_lite2_load_strictly_and_name_obvious_photos(name: str) -> None:
    """The packaged lite1/lite2 weights load into timm's architecture with every tensor used
    (keymaps.lukemelas_to_timm) and name the example photos' animals."""
    import numpy as np
    import torch

    from animalsort.model.load import load
    from animalsort.sources.preprocess import Preprocessor

    loaded = load(name, labels="animals", runtime="torch", progress=False)
    pre = Preprocessor(loaded.preprocessing)
    photos = ROOT / "examples" / "photos"
    images = torch.from_numpy(np.stack([pre(photos / f"{n}.jpg") for n in ("cat", "dog")]))
    probs = loaded.infer(images)
    labels = [loaded.labels.labels[i] for i in probs.argmax(1).tolist()]
    assert labels == ["cat", "dog"]


@pytest.mark.slow
def test_built_wheel_ships_the_registry_and_loads_it_when_installed(tmp_path: Path) -> None:
    """weights.toml lives at the top of the project and travels inside the wheel (#15)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("animalsort-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "animalsort/weights.toml",
        "animalsort/taxonomy.csv",
        "animalsort/py.typed",
        "animalsort/cli/__init__.py",
    ):
        assert member in names, member
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    code = (
        "import animalsort\nfrom animalsort.model import registry\n"
        "print(animalsort.__file__); print(registry.registry_path()); print(len(registry.load_registry().models))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    module, registry, count = out.stdout.split()
    assert Path(module).is_relative_to(target) and Path(registry) == target / "animalsort" / "weights.toml"
    assert int(count) == len(load_registry().models) > 1
