from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "photos"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def _fresh_cache(factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, onnx_cache: Path) -> None:
    """Never the user's cache or a mirror from the environment. Exported ONNX graphs (keyed by
    the weights' sha256, so one test cannot see another's by mistake) are shared across the
    session: exporting lite0 takes ~15 s, once."""
    cache = factory.mktemp("cache")
    (cache / "onnx").symlink_to(onnx_cache, target_is_directory=True)
    monkeypatch.setenv("ANIMALSORT_CACHE_DIR", str(cache))
    monkeypatch.delenv("ANIMALSORT_MIRROR", raising=False)
    monkeypatch.delenv("ANIMALSORT_ALLOW_HTTP", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory, _onnx_cache: Path) -> Iterator[None]:
    """For the session- and module-scoped fixtures: pytest sets them up before a test's own
    ``_isolated_cache``, so without this they read and wrote the user's cache."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fresh_cache(tmp_path_factory, monkeypatch, _onnx_cache)
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _onnx_cache: Path
) -> None:
    """A cache of each test's own (the ONNX graphs shared)."""
    _fresh_cache(tmp_path_factory, monkeypatch, _onnx_cache)


@pytest.fixture(autouse=True)
def _decode_in_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--workers auto`` (the default) decodes in the test's own process: its probe still runs
    and is recorded, but answers 0 workers. Starting and stopping decode processes cost ~0.3 s
    per classify, in some 200 of them; tests of the workers are marked ``workers`` and pass
    ``--workers N`` or run auto's own answer."""
    if request.node.get_closest_marker("workers") is None:
        from animalsort.inference import balance

        monkeypatch.setattr(balance, "workers_for", lambda decode_ms, model_ms, cores: 0)


@pytest.fixture(autouse=True)
def _short_speed_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model-only timings (``LoadedModel.images_per_s``: what ``--runtime auto`` measures once per
    new model, and ``bench``'s ceilings) run for 0.05 s, not 1–5 s: no test asserts a speed or
    which runtime the measurement picks, and a suite that makes a dozen models paid ~30 s for them."""
    from animalsort.model.runner import LoadedModel

    timed = LoadedModel.images_per_s
    monkeypatch.setattr(LoadedModel, "images_per_s", lambda self, images, seconds: timed(self, images, 0.05))


def make_image(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 50, 50),
    fmt: str | None = None,
    seed: int = 0,
    **save: object,
) -> Path:
    """A small image with some structure (a noisy gradient) so models see more than a flat colour."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    base = np.zeros((h, w, 3), dtype=np.float32) + np.array(color, dtype=np.float32)
    base += np.linspace(0, 40, w, dtype=np.float32)[None, :, None]
    base += rng.normal(0, 20, size=(h, w, 3)).astype(np.float32)
    img = Image.fromarray(base.clip(0, 255).astype("uint8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **save)
    return path


def make_clip(
    path: Path,
    segments: list[tuple[object, float]],
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    rotation: int | None = None,
) -> Path:
    """An H.264 clip written with PyAV: each (image file or PIL image, seconds) in turn.
    ``rotation``: a display matrix (degrees counterclockwise), as phones write for portrait."""
    import av
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image, seconds in segments:
            im = image if isinstance(image, Image.Image) else Image.open(image)
            rgb = im.convert("RGB").resize(size)
            for _ in range(round(seconds * fps)):
                for packet in stream.encode(av.VideoFrame.from_image(rgb)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def needs_shared_data() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (SHARED_DATA / "animals-dev").is_dir(),
        reason=f"real-photo set not found at {SHARED_DATA} (it sits beside the checkout in CI)",
    )


os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-initialised timm test_efficientnet at 32 px, saved as an animalsort checkpoint."""
    from tiny_model import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny.pt", ["alpha", "beta", "gamma"])


def one_cat_csv(folder: Path) -> Path:
    """``folder/p.csv``: a classify CSV of one photo, ``src/a.jpg`` labelled cat at 0.9, with its
    sidecar naming ``folder/src`` (the smallest CSV the CSV-reading commands accept)."""
    from animalsort.formats.predictions import header

    src = folder / "src"
    make_image(src / "a.jpg")
    path = folder / "p.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header(1), ["a.jpg", "cat", "0.9000", "ok", "", ""]])
    path.with_name("p.csv.json").write_text(json.dumps({"src": str(src)}))
    return path
