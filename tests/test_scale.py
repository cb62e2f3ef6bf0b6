"""Scale-out: manifests (--files-from), shards (--shard I/N), merge, and object storage
(s3:// through fsspec/s3fs against a loopback moto server, never the network)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_clip, make_image, read_csv_rows

from animalsort.cli import main
from animalsort.sources.manifests import parse_shard, shard_of

PHOTOS = ["cat.jpg", "dog.jpg", "eagle.jpg", "squirrel.jpg", "mandrill.jpg", "horses.jpg"]


def tree(root: Path) -> Path:
    """A folder with sub-folders, a clip, a broken file and a note (not an image)."""
    for i, name in enumerate(PHOTOS):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / name, sub / name)
    make_image(root / "a.jpg", seed=3)  # "a.jpg" sorts before "a/…" component-wise, after it as text
    make_image(root / "b" / "deep" / "x.png", fmt="PNG", seed=4)
    make_clip(root / "clips" / "catdog.mp4", [(EXAMPLES / "cat.jpg", 1), (EXAMPLES / "dog.jpg", 1)])
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff nope")
    (root / "notes.txt").write_text("not an image")
    return root


def classify(runner: CliRunner, weights: Path, *args: object, code: int = 0) -> str:
    result = runner.invoke(main, ["-q", "classify", *map(str, args), "--weights", str(weights), "-b", "4"])
    assert result.exit_code == code, result.output
    return result.stdout


# --------------------------------------------------------------------------- manifests


def test_files_from_a_list_in_its_order_with_root_stdin_and_resume(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tree(tmp_path / "src")
    listed = ["a/dog.jpg", "# a comment", "", "b/cat.jpg", "gone.jpg", str(src / "a.jpg"), "clips/catdog.mp4"]
    (tmp_path / "list.txt").write_text("\n".join(listed) + "\n")
    out = tmp_path / "m.csv"
    classify(runner, tiny_weights, "--files-from", tmp_path / "list.txt", "--root", src, "-o", out)
    rows = read_csv_rows(out)
    assert [r["path"] for r in rows] == ["a/dog.jpg", "b/cat.jpg", "gone.jpg", str(src / "a.jpg"), "clips/catdog.mp4"]
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok", "ok"] and "not found" in rows[2]["error"]
    assert rows[4]["frame_s"]  # a clip in a manifest is a clip
    meta = json.loads((tmp_path / "m.csv.json").read_text())
    assert meta["src"] == str(src) and meta["listing"] == {"files_from": str(tmp_path / "list.txt"), "root": str(src)}
    # the same list on stdin; a CSV with a path column (this very CSV) as the list
    stdin = runner.invoke(
        main,
        ["-q", "classify", "--files-from", "-", "--root", str(src), "--weights", str(tiny_weights), "-b", "4"],
        input="\n".join(listed) + "\n",
    )
    assert stdin.exit_code == 0 and stdin.stdout == out.read_text(encoding="utf-8").replace("\r\n", "\n")
    again = tmp_path / "again.csv"
    classify(runner, tiny_weights, "--files-from", out, "--root", src, "-o", again)
    assert again.read_bytes() == out.read_bytes()
    # a frames-mode CSV as the list: the clip once, not a path per frame
    frames = tmp_path / "frames.csv"
    classify(runner, tiny_weights, "--files-from", out, "--root", src, "--video-rows", "frames", "-o", frames)
    assert sum(r["path"].startswith("clips/catdog.mp4#t=") for r in read_csv_rows(frames)) == 2
    again = tmp_path / "again2.csv"
    classify(runner, tiny_weights, "--files-from", frames, "--root", src, "-o", again)
    assert again.read_bytes() == out.read_bytes()
    # --resume of a cut manifest run completes it to the same bytes
    data = out.read_bytes()
    (tmp_path / "cut.csv").write_bytes(data[: data.index(b"b/cat.jpg")])
    shutil.copy(tmp_path / "m.csv.json", tmp_path / "cut.csv.json")
    classify(
        runner,
        tiny_weights,
        "--files-from",
        tmp_path / "list.txt",
        "--root",
        src,
        "-o",
        tmp_path / "cut.csv",
        "--resume",
    )
    assert (tmp_path / "cut.csv").read_bytes() == data


def test_files_from_refuses_what_cannot_work(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    (tmp_path / "list.txt").write_text("x.jpg\n")
    both = runner.invoke(main, ["classify", str(tmp_path), "--files-from", str(tmp_path / "list.txt")])
    assert both.exit_code == 2 and "not both" in both.stderr
    root_alone = runner.invoke(main, ["classify", str(tmp_path), "--root", str(tmp_path)])
    assert root_alone.exit_code == 2 and "--root goes with --files-from" in root_alone.stderr
    missing = runner.invoke(main, ["classify", "--files-from", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    empty = runner.invoke(
        main, ["classify", "--files-from", str(tmp_path / "empty.txt"), "--weights", str(tiny_weights)]
    )
    assert empty.exit_code == 2 and "lists no files" in empty.stderr
    nothing = runner.invoke(main, ["classify"])
    assert nothing.exit_code == 2
    assert "give a folder, image files, an s3:// prefix, or --files-from LIST" in nothing.stderr


# --------------------------------------------------------------------------- shards and merge


def test_shard_hash_is_stable_and_parsed() -> None:
    # a shard must be the same on every machine, Python and run (no salted hash()): pinned values
    assert [shard_of(p, 4) for p in ("a.jpg", "b/c.jpg", "ünï.jpg", "s3://b/k.jpg")] == [2, 4, 1, 3]
    assert shard_of("a.jpg", 1_000_003) == 868233
    counts = [0] * 4
    for i in range(10_000):
        counts[shard_of(f"img_{i}.jpg", 4) - 1] += 1
    assert min(counts) > 2_400  # even enough: 2,452 to 2,523
    assert parse_shard("3/8") == (3, 8) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/4", "5/4", "x", "1/0", "-1/2"):
        with pytest.raises(Exception, match="give I/N"):
            parse_shard(bad)


def test_four_shards_merged_equal_one_run(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    src = tree(tmp_path / "src")
    single = tmp_path / "single.csv"
    classify(runner, tiny_weights, src, "-o", single)
    shards = [tmp_path / f"p-{i}.csv" for i in range(1, 5)]
    for i, out in enumerate(shards, 1):
        classify(runner, tiny_weights, src, "--shard", f"{i}/4", "-o", out)
    paths = [{r["path"] for r in read_csv_rows(p)} for p in shards]
    assert all(paths) and sum(map(len, paths)) == len(set().union(*paths)) == len(read_csv_rows(single))
    merged = tmp_path / "merged.csv"
    res = runner.invoke(main, ["merge", *map(str, reversed(shards)), "-o", str(merged)])
    assert res.exit_code == 0, res.output
    assert merged.read_bytes() == single.read_bytes()  # same rows, same order, same bytes
    meta = json.loads((tmp_path / "merged.csv.json").read_text())
    assert meta["options"]["shard"] is None and meta["counts"]["rows"] == len(read_csv_rows(single))
    assert meta["counts"]["ok"] == json.loads((tmp_path / "single.csv.json").read_text())["counts"]["ok"]
    # a shard twice: its rows are written once, counted as duplicates
    twice = runner.invoke(main, ["merge", *map(str, shards), str(shards[0]), "-o", str(tmp_path / "t.csv")])
    assert twice.exit_code == 0 and (tmp_path / "t.csv").read_bytes() == single.read_bytes()
    assert f"{len(paths[0])} rows were in two CSVs (identical): written once" in twice.stderr


def test_an_empty_shard_writes_its_header_and_merges(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    # more shards than files: most shards are empty, and still succeed with a CSV to merge
    src = tmp_path / "one"
    src.mkdir()
    shutil.copy(EXAMPLES / "cat.jpg", src / "cat.jpg")
    shards = [tmp_path / f"p-{i}.csv" for i in range(1, 5)]
    for i, out in enumerate(shards, 1):
        classify(runner, tiny_weights, src, "--shard", f"{i}/4", "-o", out)
    sizes = sorted(len(read_csv_rows(p)) for p in shards)
    assert sizes == [0, 0, 0, 1]
    assert all(json.loads(p.with_name(p.name + ".json").read_text())["counts"]["found"] in (0, 1) for p in shards)
    res = runner.invoke(main, ["merge", *map(str, shards), "-o", str(tmp_path / "all.csv")])
    assert res.exit_code == 0 and "1 row from 4 CSVs" in res.stderr
    assert [r["path"] for r in read_csv_rows(tmp_path / "all.csv")] == ["cat.jpg"]
    # an empty listing is still an error, sharded or not
    (tmp_path / "none").mkdir()
    res = runner.invoke(main, ["classify", str(tmp_path / "none"), "--shard", "1/4", "--weights", str(tiny_weights)])
    assert res.exit_code != 0 and "no image files under" in res.stderr


def test_merge_with_the_manifest_reports_gaps_and_refuses_mixed_runs(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tree(tmp_path / "src")
    listed = sorted((p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()), reverse=True)
    manifest = tmp_path / "list.txt"
    manifest.write_text("\n".join(listed) + "\n")
    single = tmp_path / "single.csv"
    classify(runner, tiny_weights, "--files-from", manifest, "--root", src, "-o", single)
    shards = [tmp_path / f"m-{i}.csv" for i in (1, 2, 3)]
    for i, out in enumerate(shards, 1):
        classify(runner, tiny_weights, "--files-from", manifest, "--root", src, "--shard", f"{i}/3", "-o", out)
    merged = tmp_path / "merged.csv"
    ok = runner.invoke(main, ["merge", *map(str, shards), "--files-from", str(manifest), "-o", str(merged), "--strict"])
    assert ok.exit_code == 0, ok.output
    assert merged.read_bytes() == single.read_bytes()  # in the manifest's order
    # a shard missing: its paths are gaps; --strict fails
    lost = runner.invoke(
        main, ["merge", str(shards[0]), str(shards[1]), "--files-from", str(manifest), "-o", str(tmp_path / "g.csv")]
    )
    missing = len(read_csv_rows(shards[2]))
    assert lost.exit_code == 0 and f"warning: {missing} paths of the manifest in no CSV" in lost.stderr
    strict = runner.invoke(
        main, ["merge", str(shards[0]), "--files-from", str(manifest), "-o", str(tmp_path / "g2.csv"), "--strict"]
    )
    gaps = len(read_csv_rows(single)) - len(read_csv_rows(shards[0]))
    assert strict.exit_code == 1 and f"{gaps} paths of the manifest in no CSV" in strict.stderr
    # a row that differs between two CSVs is a conflict; the classified one wins over an error
    rows = list(csv.reader(io.StringIO(shards[0].read_text(encoding="utf-8"))))
    victim = next(i for i, r in enumerate(rows) if i and r[rows[0].index("status")] == "ok")
    broken = [*rows[victim]]
    broken[1:] = ["" for _ in broken[1:]]
    broken[rows[0].index("status")], broken[rows[0].index("error")] = "error", "made up"
    (tmp_path / "other.csv").write_text(
        "".join(",".join(r) + "\r\n" for r in [rows[0], broken]), encoding="utf-8", newline=""
    )
    shutil.copy(tmp_path / "m-1.csv.json", tmp_path / "other.csv.json")
    conflict = runner.invoke(
        main, ["merge", str(tmp_path / "other.csv"), *map(str, shards), "-o", str(tmp_path / "c.csv"), "--strict"]
    )
    assert conflict.exit_code == 1 and "1 conflicting rows" in conflict.stderr
    assert [r for r in read_csv_rows(tmp_path / "c.csv") if r["path"] == rows[victim][0]][0]["status"] == "ok"
    # runs that cannot be one: other options, other weights; --out over an input
    classify(
        runner,
        tiny_weights,
        "--files-from",
        manifest,
        "--root",
        src,
        "--shard",
        "1/3",
        "-o",
        tmp_path / "k.csv",
        "--top-k",
        "2",
    )
    mixed = runner.invoke(main, ["merge", str(shards[1]), str(tmp_path / "k.csv"), "-o", str(tmp_path / "x.csv")])
    assert mixed.exit_code == 2 and "top_k" in mixed.stderr
    meta = json.loads((tmp_path / "m-2.csv.json").read_text())
    meta["weights_sha256"] = "0" * 64
    (tmp_path / "m-2.csv.json").write_text(json.dumps(meta))
    other = runner.invoke(main, ["merge", str(shards[0]), str(shards[1]), "-o", str(tmp_path / "x.csv")])
    assert other.exit_code == 2 and "weights_sha256" in other.stderr
    kept = shards[0].read_bytes()
    over = runner.invoke(main, ["merge", str(shards[0]), "-o", str(shards[0])])
    assert over.exit_code == 2 and "is one of the CSVs being merged; write the merge elsewhere" in over.stderr
    assert shards[0].read_bytes() == kept


def test_sequences_wait_for_the_merge(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    src = tmp_path / "src"
    for i in range(6):
        make_image(src / f"IMG_{i}.jpg", seed=i)
    refused = runner.invoke(
        main, ["classify", str(src), "--shard", "1/2", "--sequences", "--weights", str(tiny_weights)]
    )
    assert refused.exit_code == 2 and "animalsort merge" in refused.stderr
    single = tmp_path / "single.csv"
    classify(runner, tiny_weights, src, "-o", single, "--sequences")
    for i in (1, 2):
        classify(runner, tiny_weights, src, "--shard", f"{i}/2", "-o", tmp_path / f"s-{i}.csv")
    res = runner.invoke(
        main,
        ["merge", str(tmp_path / "s-1.csv"), str(tmp_path / "s-2.csv"), "-o", str(tmp_path / "m.csv"), "--sequences"],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.csv").read_bytes() == single.read_bytes()  # bursts across shards, grouped once


# --------------------------------------------------------------------------- object storage

pytest.importorskip("s3fs", reason="the cloud extra is not installed (pip install 'animalsort[cloud]')")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """A loopback S3 (moto's server mode) on 127.0.0.1: the endpoint URL."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    srv = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A bucket with photos, a clip, an empty object and a note; the usual AWS environment."""
    import boto3
    import s3fs

    for name, value in {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3", endpoint_url=s3_server)
    bucket = f"trap-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    client.create_bucket(Bucket=bucket)
    src = tree(tmp_path / "upload")
    for p in sorted(src.rglob("*")):
        if p.is_file():
            client.upload_file(str(p), bucket, f"cam/{p.relative_to(src).as_posix()}")
    client.put_object(Bucket=bucket, Key="cam/empty.jpg", Body=b"")
    client.put_object(Bucket=bucket, Key="other/dog.jpg", Body=(EXAMPLES / "dog.jpg").read_bytes())
    yield bucket
    s3fs.S3FileSystem.clear_instance_cache()


def test_classify_an_s3_prefix(runner: CliRunner, tmp_path: Path, tiny_weights: Path, s3: str) -> None:
    out = tmp_path / "s3.csv"
    classify(runner, tiny_weights, f"s3://{s3}/cam", "-o", out)  # read in 2 DataLoader workers (the default here)
    rows = read_csv_rows(out)
    uris = [r["path"] for r in rows]
    assert all(u.startswith(f"s3://{s3}/cam/") for u in uris) and not any("other/" in u for u in uris)
    local = tmp_path / "local.csv"
    classify(runner, tiny_weights, tmp_path / "upload", "-o", local)
    # the same files, in the same (folder-walk) order, with the same answers
    expected = [(f"s3://{s3}/cam/" + r["path"], r["label"], r["confidence"]) for r in read_csv_rows(local)]
    got = [(r["path"], r["label"], r["confidence"]) for r in rows if not r["path"].endswith("empty.jpg")]
    assert got == expected
    empty = next(r for r in rows if r["path"].endswith("empty.jpg"))
    assert empty["status"] == "error" and empty["error"] == "empty file (0 bytes)"
    meta = json.loads((tmp_path / "s3.csv.json").read_text())
    assert meta["src"] == f"s3://{s3}/cam" and meta["not_classified"] == {".txt": 1}
    # --resume, a shard, a manifest of URIs
    data = out.read_bytes()
    out.write_bytes(data[: data.index(b"\r\n", data.index(b"\r\n") + 1) + 2])
    classify(runner, tiny_weights, f"s3://{s3}/cam", "-o", out, "--resume")
    assert out.read_bytes() == data
    (tmp_path / "uris.txt").write_text(f"s3://{s3}/other/dog.jpg\ns3://{s3}/cam/nope.jpg\n")
    classify(runner, tiny_weights, "--files-from", tmp_path / "uris.txt", "-o", tmp_path / "u.csv")
    listed = read_csv_rows(tmp_path / "u.csv")
    assert [r["status"] for r in listed] == ["ok", "error"] and "not found" in listed[1]["error"]
    # sort places local files only
    refused = runner.invoke(main, ["sort", f"s3://{s3}/cam"])
    assert refused.exit_code == 2 and "local files only" in refused.stderr
    (tmp_path / "dest").mkdir()
    dry = runner.invoke(main, ["sort", str(tmp_path / "dest"), "--from", str(out), "--dry-run"])
    assert dry.exit_code == 0 and "plan: 0 files" in dry.stdout
    # finetune --from a bucket's CSV: its photos are downloaded into the labelled folder (no links to S3)
    from animalsort.datasets import links

    made = links.link(out, tmp_path / "labelled", include_confident=0.0)
    photos = [r for r in rows if r["status"] == "ok" and not r["frame_s"]]
    assert made.how == {"download": len(photos)} and made.videos == 1 and not made.missing
    first = photos[0]
    copy = tmp_path / "labelled" / first["label"] / first["path"].split("://", 1)[1]
    assert copy.is_file() and not copy.is_symlink()
    assert copy.read_bytes() == (tmp_path / "upload" / first["path"].split("/cam/", 1)[1]).read_bytes()
    missing = runner.invoke(main, ["classify", f"s3://{s3}/nothing-here", "--weights", str(tiny_weights)])
    assert missing.exit_code == 2 and "nothing there" in missing.stderr


def test_object_storage_without_the_cloud_extra_says_what_to_install(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    def no_s3(*args: object, **kwargs: object) -> None:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3)
    res = runner.invoke(main, ["classify", "s3://bucket/prefix"])
    assert res.exit_code == 2 and "pip install 'animalsort[cloud]'" in res.stderr


@pytest.mark.slow
def test_ray_tasks_read_object_storage(runner: CliRunner, tmp_path: Path, tiny_weights: Path, s3: str) -> None:
    pytest.importorskip("ray", reason="the Ray extra is not installed")
    local, ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    classify(runner, tiny_weights, f"s3://{s3}/cam", "-o", local)
    classify(runner, tiny_weights, f"s3://{s3}/cam", "-o", ray, "--engine", "ray")
    assert ray.read_bytes() == local.read_bytes()


def test_object_storage_errors_are_one_line_with_the_fix(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import s3fs

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask the network for an instance role
    s3fs.S3FileSystem.clear_instance_cache()
    res = runner.invoke(main, ["classify", "s3://bucket/prefix"])
    s3fs.S3FileSystem.clear_instance_cache()
    assert res.exit_code == 2, res.output  # a usage-style error, not a traceback (exit 1)
    assert "cannot list it: no credentials" in res.stderr and "AWS_ACCESS_KEY_ID" in res.stderr
