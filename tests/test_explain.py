"""explain: Grad-CAM puts the heat on the animal, for the default, registry and fine-tuned models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.model import build, load
from animalsort.pages import explain


@pytest.fixture(scope="module")
def lite0_cam() -> explain.GradCam:
    return explain.GradCam(load.load(None, None, precision="fp32", device="cpu", progress=False))


def _pasted(
    tmp_path: Path, photo: str, box_size: tuple[int, int], at: tuple[int, int], canvas: tuple[int, int] = (640, 480)
) -> tuple[Path, tuple[int, int, int, int]]:
    """A real animal photo pasted onto a blank canvas; returns the file and the pasted box."""
    animal = Image.open(EXAMPLES / photo).convert("RGB")
    animal.thumbnail(box_size)
    image = Image.new("RGB", canvas, (255, 255, 255))
    image.paste(animal, at)
    path = tmp_path / f"{Path(photo).stem}_at_{at[0]}_{at[1]}.png"
    image.save(path)
    return path, (at[0], at[1], at[0] + animal.width, at[1] + animal.height)


@pytest.mark.parametrize(
    ("photo", "label", "at"),
    [
        ("cat.jpg", "cat", (60, 100)),
        ("dog.jpg", "dog", (60, 100)),
        ("dog.jpg", "dog", (300, 240)),
        ("eagle.jpg", "bird", (60, 100)),
    ],
)
def test_heat_map_mass_is_on_the_pasted_animal(
    lite0_cam: explain.GradCam, tmp_path: Path, photo: str, label: str, at: tuple[int, int]
) -> None:
    path, box = _pasted(tmp_path, photo, (240, 200), at)
    e = explain.explain_file(lite0_cam, path)
    assert e.label == label and e.predicted == label
    area = (box[2] - box[0]) * (box[3] - box[1]) / (640 * 480)
    inside = e.mass_inside(box)
    print(f"{photo} at {at}: {inside:.3f} of the heat inside a box of {area:.1%} of the image")
    assert inside >= 0.6
    assert abs(float(e.heat.sum()) - 1.0) < 1e-3


def test_cli_overlay_matches_classify_and_never_overwrites(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("cat.jpg", "dog.jpg"):
        (src / name).write_bytes((EXAMPLES / name).read_bytes())
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff nope")
    csv = tmp_path / "p.csv"
    assert runner.invoke(main, ["-q", "classify", str(src), "-o", str(csv)]).exit_code == 0
    expected = {r["path"]: (r["label"], r["confidence"]) for r in read_csv_rows(csv)}
    out = tmp_path / "why"
    res = runner.invoke(main, ["explain", str(src), "--out", str(out)])
    assert res.exit_code == 1 and "broken.jpg: error: not a readable image" in res.stderr
    assert "1 of 3 images could not be read" in res.output
    for line in res.stdout.splitlines():  # "SRC/cat.jpg: cat 0.9113 → OUT/cat.cat.gradcam.jpg"
        path, rest = line.split(": ", 1)
        label, conf = rest.split()[:2]
        assert (label, conf) == expected[Path(path).name]
        overlay = Path(rest.split("→ ")[1])
        assert overlay.parent == out and Image.open(overlay).size == Image.open(path).size
    res = runner.invoke(main, ["explain", str(src / "cat.jpg"), "--out", str(out), "--label", "dog"])
    assert res.exit_code == 0 and "(predicted cat)" in res.output
    res = runner.invoke(main, ["explain", str(src / "cat.jpg"), "--out", str(out), "--label", "dog"])
    assert sorted(p.name for p in out.glob("cat.*")) == [
        "cat.cat.gradcam.jpg",
        "cat.dog.gradcam-1.jpg",
        "cat.dog.gradcam.jpg",
    ]
    bad = runner.invoke(main, ["explain", str(src / "cat.jpg"), "--out", str(out), "--label", "unicorn"])
    assert bad.exit_code == 2 and "'unicorn' is not one of this model's labels" in bad.output
    missing = runner.invoke(main, ["explain", str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.mark.parametrize(
    "arch",
    [
        "torchvision:resnet18",
        "torchvision:mobilenet_v3_large",
        "torchvision:convnext_tiny",
        "timm:tf_efficientnet_lite0",
    ],
)
def test_feature_layer_is_the_last_spatial_map(arch: str) -> None:
    net = build.build_arch(arch, 10).eval()
    layer = explain.feature_layer(net, 224)
    seen = []
    hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    with torch.no_grad():
        net(torch.zeros(1, 3, 224, 224))
    hook.remove()
    assert seen[-1][2:] == (7, 7)


def test_registry_architecture_and_finetuned_checkpoint(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    # a registry model (random weights: the registry's files cannot be downloaded offline)
    torch.manual_seed(0)
    state = tmp_path / "resnet18-random.pt"
    torch.save(build.build_arch("torchvision:resnet18", 1000).state_dict(), state)
    res = runner.invoke(
        main,
        [
            "explain",
            str(EXAMPLES / "cat.jpg"),
            "--model",
            "resnet18",
            "--weights",
            str(state),
            "--out",
            str(tmp_path / "a"),
            "--labels",
            "imagenet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "a").glob("cat.*.gradcam.jpg"))) == 1
    # a fine-tuned checkpoint with its own labels
    res = runner.invoke(
        main,
        [
            "explain",
            str(EXAMPLES / "dog.jpg"),
            "--weights",
            str(tiny_weights),
            "--out",
            str(tmp_path / "b"),
            "--label",
            "beta",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "dog.beta.gradcam.jpg").is_file()
