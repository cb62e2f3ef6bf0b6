"""classify --engine ray on a local 2-CPU Ray cluster: the local engine's CSV, byte for byte."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_clip

from animalsort.cli import main

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'animalsort[ray]')")


@pytest.mark.slow
def test_ray_engine_csv_equals_local_engine_and_resumes(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES, src / "photos")
    (src / "broken").mkdir()
    (src / "broken" / "zero.jpg").write_bytes(b"")
    (src / "broken" / "random.jpg").write_bytes(b"\x00\x01" * 700)
    cat = (EXAMPLES / "cat.jpg").read_bytes()
    (src / "broken" / "truncated.jpg").write_bytes(cat[: len(cat) // 2])
    # clips are decoded in Ray's tasks too (#17): one good, one corrupt
    make_clip(src / "clips" / "catdog.mp4", [(EXAMPLES / "cat.jpg", 2), (EXAMPLES / "dog.jpg", 2)])
    (src / "clips" / "corrupt.mp4").write_bytes(b"\x00" * 300)
    local, ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert runner.invoke(main, ["-q", "classify", str(src), "-o", str(local), "-b", "4"]).exit_code == 0
    result = runner.invoke(main, ["-q", "classify", str(src), "-o", str(ray), "-b", "4", "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert ray.read_bytes() == local.read_bytes()
    assert ray.read_bytes().count(b"\n") == 17  # header + 11 photos + 3 broken + 2 clips
    assert b"clips/catdog.mp4,cat," in ray.read_bytes() or b"clips/catdog.mp4,dog," in ray.read_bytes()
    # --resume on the Ray engine completes a cut CSV to the same bytes
    data = local.read_bytes()
    lines = data.split(b"\r\n")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"\r\n".join(lines[:7]) + b"\r\n" + lines[7][:9])
    result = runner.invoke(main, ["-q", "classify", str(src), "-o", str(cut), "-b", "4", "--engine", "ray", "--resume"])
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == data


@pytest.mark.slow
def test_ray_engine_answers_with_the_same_label_lists(runner: CliRunner, tmp_path: Path) -> None:
    local, ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    lists = ["--exclude", "zebra,bird", "--view", "centre", "-b", "4"]
    assert runner.invoke(main, ["-q", "classify", str(EXAMPLES), "-o", str(local), *lists]).exit_code == 0
    result = runner.invoke(main, ["-q", "classify", str(EXAMPLES), "-o", str(ray), *lists, "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert ray.read_bytes() == local.read_bytes()
    assert b"zebra" not in ray.read_bytes() and b"bird" not in ray.read_bytes()


def test_engine_ray_without_ray_says_what_to_install(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = runner.invoke(main, ["classify", str(EXAMPLES), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'animalsort[ray]'" in result.stderr


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_node_cluster_places_actors_on_both_nodes(runner: CliRunner, tmp_path: Path) -> None:
    """`ray start --head` and a second `ray start --address …` (own ports, --num-cpus 1) on this
    machine: the inference actors run on both nodes (Ray's state API says where) and the CSV
    is the local engine's, byte for byte."""
    import os
    import secrets
    import subprocess
    import tempfile
    import time

    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed beside this Python")
    pytest.importorskip("ray.util.state", reason="Ray's state API needs ray[default]")

    src = tmp_path / "src"
    shutil.copytree(EXAMPLES, src)
    local = tmp_path / "local.csv"
    assert runner.invoke(main, ["-q", "classify", str(src), "-o", str(local), "-b", "2"]).exit_code == 0

    gcs, dashboard, manager, objects = _free_ports(4)
    # as a real cluster runs: token authentication, one token shared by the nodes, the driver and
    # the state API's client (each its own process: Ray reads the mode when it is imported)
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
    }
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    common = ["--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", f"--port={gcs}", "--num-cpus=2", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--temp-dir={temp}", *common],
        env=env, stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    nodes = [head]
    api = f"http://127.0.0.1:{dashboard}"

    def state(kind: str) -> list[dict[str, str]]:
        """Ray's state API (list_nodes / list_actors), asked from a process with the cluster's token."""
        code = (
            "import json, sys\nfrom ray.util.state import list_actors, list_nodes\n"
            f"items = list_{kind}(address={api!r}, limit=1000)\n"
            "json.dump([{'node_id': i.node_id, 'state': i.state, 'class_name': getattr(i, 'class_name', '')} "
            "for i in items], sys.stdout)\n"
        )
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        if run.returncode:
            raise RuntimeError(run.stderr[-500:])
        return json.loads(run.stdout)

    try:

        def wait(what: str, check: object, seconds: float = 90) -> None:
            deadline, last = time.monotonic() + seconds, None
            while time.monotonic() < deadline:
                try:
                    if check():  # type: ignore[operator]
                        return
                except Exception as exc:  # not up yet
                    last = exc
                time.sleep(1)
            logs = (tmp_path / "head.log").read_text()[-2000:]
            pytest.fail(f"timed out waiting for {what} (last error: {last!r}); the head's log ends:\n{logs}")

        wait("the head node", lambda: len(state("nodes")) == 1)
        worker = subprocess.Popen(
            [str(ray_cli), "start", f"--address=127.0.0.1:{gcs}", "--num-cpus=1", f"--node-manager-port={manager}",
             f"--object-manager-port={objects}", *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        nodes.append(worker)
        wait("the second node", lambda: sum(n["state"] == "ALIVE" for n in state("nodes")) == 2)
        ray_csv = tmp_path / "ray.csv"
        run = subprocess.run(
            [sys.executable, "-m", "animalsort", "-q", "classify", str(src), "-o", str(ray_csv), "-b", "2",
             "--engine", "ray", "--ray-address", f"127.0.0.1:{gcs}", "--ray-actors", "2"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert ray_csv.read_bytes() == local.read_bytes()

        all_nodes = {n["node_id"] for n in state("nodes")}
        placed: list[str] = []

        def infer_actors() -> bool:
            placed[:] = [a["node_id"] for a in state("actors") if "_Infer" in a["class_name"]]
            return len(placed) >= 2

        wait("the inference actors in the state API", infer_actors, 30)
        assert set(placed) == all_nodes  # one model on each node
    finally:
        for p in reversed(nodes):
            p.terminate()
        for p in nodes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(temp, ignore_errors=True)
