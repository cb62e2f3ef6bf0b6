"""Downloads against a loopback server: resume, retries, hashes, locks, cache, import."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from httpserver import Behaviour, serve

from animalsort.cli import main
from animalsort.errors import ChecksumError, DownloadError, WeightsError
from animalsort.model import fetch, registry
from animalsort.model.build import build_arch
from animalsort.sources import preprocess

BODY = random.Random(0).randbytes(300_000)  # the same in the subprocesses below
SHA = hashlib.sha256(BODY).hexdigest()
URL_PATH = "/models/tiny-abc123.pth"


def spec(**kw: object) -> registry.WeightsSpec:
    base = registry.WeightsSpec(
        name="tiny",
        arch="timm:resnet18",
        file="tiny-abc123.pth",
        sha256=SHA,
        size=len(BODY),
        preprocessing=preprocess.Preprocessing(),
        url="https://weights.example.org" + URL_PATH,
    )
    return replace(base, **kw)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with serve() as s:
        s.files[URL_PATH] = BODY
        monkeypatch.setenv("ANIMALSORT_MIRROR", s.url)
        monkeypatch.setenv("ANIMALSORT_ALLOW_HTTP", "1")  # the loopback server speaks plain http
        yield s


def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(fetch.time, "sleep", slept.append)
    return slept


def cache_files() -> list[str]:
    d = fetch.cache_dir() / "weights"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_mirror_replaces_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMALSORT_MIRROR", "http://127.0.0.1:8000/mirror/")
    assert fetch.mirrored("https://download.pytorch.org/models/x.pth") == "http://127.0.0.1:8000/mirror/models/x.pth"
    monkeypatch.delenv("ANIMALSORT_MIRROR")
    assert fetch.mirrored("https://a.org/x.pth") == "https://a.org/x.pth"


def test_normal_download(server) -> None:
    path = fetch.fetch(spec(), progress=False)
    assert path == fetch.cached_path(spec()) and path.read_bytes() == BODY
    assert len(server.requests) == 1 and "range" not in server.requests[0]
    assert cache_files() == ["tiny-abc123.pth", "tiny-abc123.pth.lock"]


def test_interrupted_download_resumes_with_range(server, monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _no_sleep(monkeypatch)
    server.script = [Behaviour(cut_after=100_000)]
    path = fetch.fetch(spec(), progress=False)
    assert path.read_bytes() == BODY
    assert len(server.requests) == 2
    start = int(server.requests[1]["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= 100_000  # what had reached the disk before the cut
    assert slept == [0.5]


def test_server_ignoring_range_restarts_cleanly(server, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_sleep(monkeypatch)
    server.honour_range = False
    server.script = [Behaviour(cut_after=50_000)]
    assert fetch.fetch(spec(), progress=False).read_bytes() == BODY


def test_corrupted_body_is_refused_and_nothing_is_kept(server) -> None:
    bad = bytearray(BODY)
    bad[1234] ^= 0xFF
    server.script = [Behaviour(body=bytes(bad))]
    with pytest.raises(ChecksumError) as err:
        fetch.fetch(spec(), progress=False)
    msg = str(err.value)
    assert SHA in msg and hashlib.sha256(bad).hexdigest() in msg
    assert server.url + URL_PATH in msg
    assert cache_files() == ["tiny-abc123.pth.lock"]  # no file, no partial download


def test_404_fails_at_once(server, monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _no_sleep(monkeypatch)
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch.fetch(spec(url="https://weights.example.org/missing.pth"), progress=False)
    assert len(server.requests) == 1 and slept == []


def test_500_then_200_is_retried(server, monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _no_sleep(monkeypatch)
    server.script = [Behaviour(status=500), Behaviour(status=503)]
    assert fetch.fetch(spec(), progress=False).read_bytes() == BODY
    assert len(server.requests) == 3 and slept == [0.5, 1.0]


def test_gives_up_after_retries(server, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_sleep(monkeypatch)
    server.script = [Behaviour(status=500)] * 10
    with pytest.raises(DownloadError, match="failed after 5 retries: HTTP 500"):
        fetch.fetch(spec(), progress=False)
    assert len(server.requests) == 6


def test_connection_refused_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_sleep(monkeypatch)
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("ANIMALSORT_MIRROR", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ANIMALSORT_ALLOW_HTTP", "1")
    with pytest.raises(DownloadError, match="failed after 2 retries"):
        fetch.fetch(spec(), progress=False, retries=2)


def test_cached_file_is_served_without_network(server) -> None:
    fetch.fetch(spec(), progress=False)
    n = len(server.requests)
    os.environ["ANIMALSORT_MIRROR"] = "http://127.0.0.1:9"  # would fail if contacted
    assert fetch.fetch(spec(), progress=False).read_bytes() == BODY
    assert len(server.requests) == n


def test_cached_file_with_wrong_hash_is_downloaded_again(server) -> None:
    path = fetch.cached_path(spec())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * len(BODY))
    assert fetch.fetch(spec(), progress=False).read_bytes() == BODY
    assert len(server.requests) == 1


def test_plain_http_is_refused_without_opt_in() -> None:
    with pytest.raises(DownloadError, match="refusing to download over plain http"):
        fetch.fetch(spec(url="http://weights.example.org/x.pth"), progress=False)
    with pytest.raises(DownloadError, match="refusing to download over plain ftp"):
        fetch.fetch(spec(url="ftp://weights.example.org/x.pth"), progress=False, allow_http=True)


def test_two_processes_share_the_cache_safely(server, tmp_path: Path) -> None:
    server.script = [Behaviour(delay=0.5), Behaviour(delay=0.5)]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from test_weights import spec; from animalsort.model.fetch import fetch; "
        "p = fetch(spec(), progress=False); print(p)"
    )
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(Path(__file__).parent)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert fetch.cached_path(spec()).read_bytes() == BODY
    assert len(server.requests) == 1  # the second process found the file under the lock


def test_models_import_verifies_and_places(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry.Registry(default="tiny", models={"tiny": spec()})
    monkeypatch.setattr(registry, "load_registry", lambda: reg)
    good, bad = tmp_path / "good.pth", tmp_path / "bad.pth"
    good.write_bytes(BODY)
    bad.write_bytes(BODY[:-1] + b"\x00")
    result = runner.invoke(main, ["models", "import", "tiny", str(bad)])
    assert result.exit_code == 1 and "sha256 mismatch" in result.stderr and SHA in result.stderr
    assert not fetch.cached_path(spec()).exists()
    result = runner.invoke(main, ["models", "import", "tiny", str(good)])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).read_bytes() == BODY
    assert runner.invoke(main, ["models", "path", "tiny"]).stdout.strip() == result.stdout.strip()
    listing = runner.invoke(main, ["models", "list"]).stdout
    assert "tiny (default)" in listing and "cached" in listing


def test_models_download_and_path(runner: CliRunner, server, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry.Registry(default="tiny", models={"tiny": spec()})
    monkeypatch.setattr(registry, "load_registry", lambda: reg)
    missing = runner.invoke(main, ["models", "path", "tiny"])
    assert missing.exit_code == 1 and "run `animalsort models download tiny`" in missing.stderr
    result = runner.invoke(main, ["-q", "models", "download", "tiny"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).read_bytes() == BODY
    unknown = runner.invoke(main, ["models", "download", "nope"])
    assert unknown.exit_code == 2 and "available models: tiny" in unknown.stderr


def test_models_list_shows_the_registry(runner: CliRunner) -> None:
    out = runner.invoke(main, ["models", "list"]).stdout
    assert out.splitlines()[0].split() == ["name", "arch", "top-1", "size", "local", "license"]
    assert "lite0 (default)" in out and "package" in out
    for name in ("mobilenet_v3_large", "efficientnet_b0", "resnet50", "convnext_tiny", "efficientnet_v2_s"):
        assert name in out


@pytest.mark.parametrize("name", sorted(registry.load_registry().models))
def test_every_registry_architecture_builds(name: str) -> None:
    import torch

    s = registry.load_registry().get(name)
    net = build_arch(s.arch, s.num_classes).eval()
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1000)


def test_a_registry_file_loads_through_the_same_path(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A torchvision-style state dict served by the mirror loads into its architecture."""
    import torch

    from animalsort.model import load

    net = build_arch("torchvision:mobilenet_v3_small", 1000)
    f = tmp_path / "mnv3.pth"
    torch.save(net.state_dict(), f)
    data = f.read_bytes()
    server.files["/m/mnv3.pth"] = data
    s = registry.WeightsSpec(
        name="mnv3",
        arch="torchvision:mobilenet_v3_small",
        file="mnv3.pth",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        preprocessing=preprocess.Preprocessing(),
        url="https://x.org/m/mnv3.pth",
    )
    monkeypatch.setattr(registry, "load_registry", lambda: registry.Registry("mnv3", {"mnv3": s}))
    loaded = load.load("mnv3", labels="animals", device="cpu", precision="fp32", progress=False)
    assert loaded.sha256 == s.sha256 and len(loaded.labels.labels) == 37
    explicit = load.load("mnv3", weights=f, labels="imagenet", device="cpu", progress=False)
    assert explicit.name == "mnv3.pth" and explicit.sha256 == s.sha256
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch weights file"):
        load.load("mnv3", weights=garbage, device="cpu", progress=False)


@pytest.mark.parametrize("junk", [b"junk\n", b"hello world, not weights at all"])
def test_a_file_that_is_not_weights_is_one_clear_error(runner: CliRunner, tmp_path: Path, junk: bytes) -> None:
    """#39: some bytes parse as pickle opcodes and failed inside torch's unpickler (KeyError: a
    traceback); classify and finetune --weights say what the file is not."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(junk)
    result = runner.invoke(main, ["classify", str(EXAMPLES / "cat.jpg"), "--weights", str(bad)])
    assert result.exit_code == 1 and f"cannot read weights file {bad}: not a PyTorch weights file" in result.stderr
    assert not isinstance(result.exception, (KeyError, ValueError, IndexError))
