"""Video clips (#17): sampled frames through the photos' batches, one row per clip (or per
frame), broken clips as error rows, resume, sort and report. Clips are made here with PyAV
from the example photos (H.264, 320×240, 10 fps)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_clip, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.sources.video import Sampling, frame_at, read_frames


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder: a photo, a clip of 3 s of the cat then 3 s of the dog, a corrupt clip."""
    src = tmp_path_factory.mktemp("clips") / "card"
    src.mkdir()
    shutil.copy(EXAMPLES / "eagle.jpg", src / "eagle.jpg")
    make_clip(src / "catdog.mp4", [(EXAMPLES / "cat.jpg", 3), (EXAMPLES / "dog.jpg", 3)])
    (src / "corrupt.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(range(256)) * 8)
    return src


def run(runner: CliRunner, *args: object) -> object:
    return runner.invoke(main, [*map(str, args)])


def test_sampling_times() -> None:
    s = Sampling(every=1.0, max_frames=60)
    assert s.times(6.0) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert s.times(5.5) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert s.times(0.3) == [0.0]  # a clip shorter than the step still gets its first frame
    assert s.times(None) is None  # unknown length: sampled as it plays
    long = s.times(600.0)  # 10 minutes: 60 frames, evenly spread
    assert long is not None and len(long) == 60 and long[1] == 10.0 and long[-1] == 590.0
    assert Sampling(every=0.5, max_frames=60).times(2.0) == [0.0, 0.5, 1.0, 1.5]


def test_clip_is_one_row_labelled_from_its_frames(runner: CliRunner, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    result = run(runner, "classify", clips, "-o", out)
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in read_csv_rows(out)}
    assert list(rows) == ["catdog.mp4", "corrupt.mov", "eagle.jpg"]
    clip = rows["catdog.mp4"]
    assert clip["status"] == "ok" and clip["label"] in ("cat", "dog")
    other = "dog" if clip["label"] == "cat" else "cat"
    assert clip["label_2"] == other  # the other half of the clip is its second answer
    best = float(clip["frame_s"])
    assert best < 3 if clip["label"] == "cat" else best >= 3  # the best frame is in the label's half
    assert float(clip["confidence"]) > 0.8
    assert rows["eagle.jpg"]["frame_s"] == "" and rows["eagle.jpg"]["label"] == "bird"
    assert rows["corrupt.mov"]["status"] == "error"
    assert rows["corrupt.mov"]["error"].startswith("unreadable video: ")
    side = json.loads(out.with_name("p.csv.json").read_text())
    assert side["counts"] == {"found": 3, "ok": 2, "failed": 1, "resumed": 0, "videos": 1, "frames": 6}
    assert side["video"]["every_s"] == 1.0 and side["video"]["decoder"].startswith("PyAV")
    assert "1 of them video clips: 6 frames classified" in result.stderr
    assert run(runner, "classify", clips, "-o", tmp_path / "s.csv", "--strict").exit_code == 1


def test_frames_mode_writes_a_row_per_sampled_frame(runner: CliRunner, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    result = run(runner, "classify", clips, "-o", out, "--video-rows", "frames", "-j", 0)
    assert result.exit_code == 0, result.output
    rows = [r for r in read_csv_rows(out) if r["path"].startswith("catdog.mp4")]
    assert [r["path"] for r in rows] == [f"catdog.mp4#t={t}.00" for t in range(6)]
    assert [r["frame_s"] for r in rows] == [f"{t}.00" for t in range(6)]
    assert [r["label"] for r in rows] == ["cat"] * 3 + ["dog"] * 3
    # sampling every 2 s, at most 2 frames: evenly spread over the 6 s instead
    sparse = tmp_path / "sparse.csv"
    args = ["--video-rows", "frames", "--video-every", 2, "--video-max-frames", 2]
    assert run(runner, "classify", clips / "catdog.mp4", "-o", sparse, *args).exit_code == 0
    assert [r["path"] for r in read_csv_rows(sparse)] == ["catdog.mp4#t=0.00", "catdog.mp4#t=3.00"]


def test_resume_redoes_a_clip_whose_frame_rows_were_cut(runner: CliRunner, clips: Path, tmp_path: Path) -> None:
    full = tmp_path / "full.csv"
    args = ["--video-rows", "frames", "-b", 2]
    assert run(runner, "classify", clips, "-o", full, *args).exit_code == 0
    lines = full.read_bytes().split(b"\r\n")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"\r\n".join(lines[:4]) + b"\r\n")  # header + 3 of the clip's 6 frame rows
    result = run(runner, "classify", clips, "-o", cut, "--resume", *args)
    assert result.exit_code == 0, result.output
    assert cut.read_bytes() == full.read_bytes()
    assert json.loads(cut.with_name("cut.csv.json").read_text())["counts"]["resumed"] == 0  # the clip was redone


def test_no_videos_skips_clips(runner: CliRunner, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    result = run(runner, "classify", clips, "-o", out, "--no-videos")
    assert result.exit_code == 0, result.output
    assert [r["path"] for r in read_csv_rows(out)] == ["eagle.jpg"]
    assert "skipped 2 files: .mov 1, .mp4 1: not images" in result.stderr


def test_frames_are_upright_and_damage_keeps_what_decoded(tmp_path: Path) -> None:
    im = Image.new("RGB", (320, 240), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 160, 240))  # left half red
    # a phone's portrait clip: stored landscape, with a display matrix turning it 90° clockwise
    clip = make_clip(tmp_path / "portrait.mp4", [(im, 1)], rotation=-90)
    (t, frame), *_ = read_frames(clip, Sampling())
    assert t == 0.0 and frame.size == (240, 320)  # upright: portrait
    assert frame.getpixel((120, 20))[0] > 200 and frame.getpixel((120, 300))[2] > 200  # red on top
    assert frame_at(clip, 0.5).size == (240, 320)
    # a clip cut short (a camera's battery died): the frames before the cut still count. Matroska
    # writes its header first, as a recorder's stream does (an MP4's index is at its end).
    clip = make_clip(tmp_path / "long.mkv", [(p, 1) for p in sorted(EXAMPLES.iterdir())[:8]])  # a scene a second
    assert len(list(read_frames(clip, Sampling()))) == 8
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    kept = [t for t, _ in read_frames(clip, Sampling())]
    assert 1 <= len(kept) < 8 and kept[0] == 0.0


def test_skipping_unreferenced_frames_takes_the_same_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from animalsort.sources import video

    # a 30 fps pan (libx264: B-frames, every other one unreferenced), sampled every 31 frames so
    # that samples fall on frames the decoder may skip
    big = Image.open(EXAMPLES / "horses.jpg").convert("RGB").resize((640, 360))
    clip = make_clip(
        tmp_path / "pan.mp4", [(big.crop((3 * k, 0, 3 * k + 320, 240)), 1 / 30) for k in range(100)], fps=30
    )
    sampling = Sampling(every=31 / 30)

    def frames() -> list[tuple[float, bytes]]:
        return [(round(t, 3), im.tobytes()) for t, im in read_frames(clip, sampling)]

    fast = frames()
    assert [t for t, _ in fast] == [0.0, 1.033, 2.067, 3.1]
    original = video._Skipping.__init__

    def too_late(self: video._Skipping, stream: object) -> None:  # switch back only at the sample itself
        original(self, stream)
        self.near = 0.0

    monkeypatch.setattr(video._Skipping, "__init__", too_late)
    assert frames() != fast  # skipping up to the sample would take a later frame: the check can fail
    monkeypatch.setattr(video._Skipping, "update", lambda self, ahead: None)
    assert frames() == fast  # decoding every frame takes exactly the frames skipping took


def test_sort_moves_a_clip_as_one_file_and_report_shows_its_best_frame(
    runner: CliRunner, clips: Path, tmp_path: Path
) -> None:
    src = tmp_path / "card"
    shutil.copytree(clips, src)
    preds = tmp_path / "p.csv"
    assert run(runner, "classify", src, "-o", preds).exit_code == 0
    clip = {r["path"]: r for r in read_csv_rows(preds)}["catdog.mp4"]
    report = tmp_path / "r.html"
    assert run(runner, "report", preds, "-o", report).exit_code == 0
    block = json.loads(report.read_text().split('id="report-data">', 1)[1].split("</script>", 1)[0])
    cards = {row[0]: row for row in block["rows"]}
    assert cards["catdog.mp4"][1] == f"card/catdog.mp4#t={clip['frame_s']}"  # opens the clip at its best frame
    assert cards["catdog.mp4"][2].startswith("data:image/jpeg;base64,")  # the best frame, embedded
    assert cards["eagle.jpg"][2] is None
    # frame rows cannot be sorted: the clip stays, and says why
    frames = tmp_path / "f.csv"
    assert run(runner, "classify", src, "-o", frames, "--video-rows", "frames").exit_code == 0
    result = run(runner, "sort", src, "--from", frames, "--dest", tmp_path / "x", "--dry-run", "-v")
    assert "left in place: catdog.mp4: classified frame by frame" in result.stderr
    result = run(runner, "sort", src, "--move", "--from", preds)
    assert result.exit_code == 0, result.output
    assert (src / clip["label"] / "catdog.mp4").read_bytes() == (clips / "catdog.mp4").read_bytes()
    assert (src / "corrupt.mov").is_file()  # an unreadable clip stays where it is
