from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

from animalsort.weights import load_registry, package_path, sha256_file

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


def test_default_weights_come_from_the_installed_package() -> None:
    spec = load_registry().get("lite0")
    path = package_path(spec)
    assert path is not None and path.name == spec.file
    assert path.stat().st_size == spec.size
    assert sha256_file(path) == spec.sha256


def test_built_wheel_ships_data_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("animalsort-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in ("animalsort/weights.toml", "animalsort/taxonomy.csv", "animalsort/py.typed",
                   "animalsort/cli.py"):
        assert member in names, member
