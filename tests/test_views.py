"""--view: how much of a frame the model looks at. ``frame`` and ``tiles`` look at the whole
frame once at its own aspect ratio, then closer where a candidate is small or uncertain; the
box is where the animal is; an animal at the edge of a wide frame, or small in a corner, is
found where the centre crop misses it; an empty frame stays empty; a resumed run keeps the
view and the method it started with; every runtime gives the same answers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.inference.looking import (
    RULES,
    Labels,
    LookRule,
    animal_boxes,
    closer_look,
    closer_squares,
    first_look,
    tiles_by_evidence,
    upsampled,
)
from animalsort.sources.views import MAX_ASPECT, STRIDE, closer_box, first_look_size, look_side
from animalsort.taxonomy import animal_labels, imagenet_table, label_set

# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("size", [(1920, 1080), (1600, 1200), (1080, 1920), (1000, 1000), (6000, 1000), (641, 480)])
def test_a_first_look_keeps_the_frame_s_aspect_on_the_stride_grid(size: tuple[int, int]) -> None:
    w, h = size
    tw, th = first_look_size(w, h, 224)
    assert min(tw, th) == 224 and tw % STRIDE == 0 and th % STRIDE == 0
    assert (tw >= th) == (w >= h)
    aspect = max(w, h) / min(w, h)
    if aspect <= MAX_ASPECT:  # within half a cell of the frame's own aspect
        assert abs(max(tw, th) - 224 * aspect) <= STRIDE / 2
    else:  # a panorama: squeezed to the longest first look
        assert max(tw, th) == round(224 * MAX_ASPECT / STRIDE) * STRIDE
    assert look_side(224) == 224 and look_side(240) == 256 and look_side(260) == 256


@pytest.mark.parametrize("box", [(0.0, 0.0, 0.05, 0.05), (0.9, 0.8, 0.1, 0.2), (0.4, 0.4, 0.2, 0.2), (0, 0, 1, 1)])
def test_a_closer_look_is_a_square_around_the_box_inside_the_frame(box: tuple[float, float, float, float]) -> None:
    w, h = 1920, 1080
    x, y, bw, bh = closer_box(box, w, h, context=2.0, least=0.3, most=0.6)
    assert 0 <= x and 0 <= y and x + bw <= 1 + 1e-9 and y + bh <= 1 + 1e-9
    assert bw * w == pytest.approx(bh * h)  # square in pixels, as the model's input
    side = bw * w
    assert 0.3 * h - 1e-6 <= side <= 0.6 * h + 1e-6
    wanted = 2.0 * max(box[2] * w, box[3] * h)
    assert side == pytest.approx(min(max(wanted, 0.3 * h), 0.6 * h))
    cx, cy = (box[0] + box[2] / 2) * w, (box[1] + box[3] / 2) * h  # the box's centre is inside the square
    assert x * w - 1e-6 <= cx <= (x + bw) * w + 1e-6 and y * h - 1e-6 <= cy <= (y + bh) * h + 1e-6


# --------------------------------------------------------------------------- the rule, on made-up cells

LABELS = animal_labels()
GROUPS = Labels(LABELS, 1000)
TABBY = next(r.index for r in imagenet_table() if r.imagenet_class == "tabby")
VALLEY = next(r.index for r in imagenet_table() if r.label == "no_animal")


def cells(h: int, w: int, spots: dict[tuple[int, int], float], base: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(frame logits, h × w × 1000 cells): every cell says 'valley' by ``base``; a spot says
    'tabby' by its value. The frame's logits are the cells' mean (a pooling + linear head)."""
    z = np.zeros((h, w, 1000), dtype=np.float32)
    z[..., VALLEY] = base
    for (y, x), v in spots.items():
        z[y, x, TABBY] = v
    return z.mean(axis=(0, 1)), z


RULE = LookRule(seen=5.0, sure=0.5, big=0.5, agree=0.6, keep=99.0, contexts=(2.0,), least=0.3, most=0.6, budget=1)


def test_an_empty_frame_has_no_candidate_and_no_box() -> None:
    logits, z = cells(7, 12, {})
    look = first_look(logits, z, GROUPS, RULE, (1920, 1080))
    assert not look.animal and look.box is None and look.closer == [] and look.animal_score < RULE.seen


def test_a_small_animal_gets_a_box_where_it_is_and_a_closer_look() -> None:
    logits, z = cells(7, 12, {(1, 10): 14.0})  # one cell near the top right
    look = first_look(logits, z, GROUPS, RULE, (1920, 1080))
    others = len(LABELS.members[LABELS.no_animal]) - 1  # valley's fellow non-animal classes, at 0
    assert look.animal and look.animal_score == pytest.approx(14.0 - np.log(np.exp(4.0) + others), abs=0.01)
    x, y, bw, bh = look.box
    assert x <= (10 + 0.5) / 12 <= x + bw and y <= 1.5 / 7 <= y + bh  # the cell's centre is in the box
    assert bw < 0.2 and bh < 0.3  # and the box is about one cell, not the frame
    # the frame alone is not sure of it (one cell of 84): a closer look around the box
    assert len(look.closer) == 1
    square = look.closer[0]
    assert square[0] <= x and x + bw <= square[0] + square[2] + 1e-9


def test_a_closer_look_decides_and_its_box_is_drawn_on_its_own_map() -> None:
    logits, z = cells(7, 12, {(1, 10): 14.0})
    look = first_look(logits, z, GROUPS, RULE, (1920, 1080))
    seen_cat = cells(7, 7, {(y, x): 60.0 for y in (2, 3, 4) for x in (2, 3, 4)}, base=1.0)  # a cat, up close
    answered = closer_look(look, [seen_cat], GROUPS, RULE)
    assert answered.animal and answered.decided_by == look.closer[0] and answered.looked_closer == 1
    assert answered.probs[LABELS.labels.index("cat")] > 0.5  # the closer look's answer
    sx, sy, sw, sh = answered.decided_by
    x, y, bw, bh = answered.box
    assert sx <= x and x + bw <= sx + sw + 1e-9 and bw < 0.6 * sw  # inside the square, about the animal (3/7)
    nothing = cells(7, 7, {}, base=1.0)
    look = first_look(logits, z, GROUPS, RULE, (1920, 1080))
    refused = closer_look(look, [nothing], GROUPS, RULE)
    assert not refused.animal and refused.box is None  # a closer look that sees nothing: no animal
    kept = closer_look(first_look(logits, z, GROUPS, RULE, (1920, 1080)), [nothing], GROUPS, replace(RULE, keep=9.0))
    assert not kept.animal  # the frame's own answer is 'valley': a high peak alone does not make it an animal


def test_a_frame_sure_of_its_animal_needs_no_closer_look() -> None:
    spots = {(y, x): 12.0 for y in range(7) for x in range(2, 10)}  # the animal fills most of the frame
    logits, z = cells(7, 12, spots)
    look = first_look(logits, z, GROUPS, RULE, (1920, 1080))
    assert look.animal and look.closer == [] and look.decided_by is None
    assert look.box[2] > 0.5 and look.box[3] > 0.8


def test_separate_animals_get_separate_boxes() -> None:
    logits, z = cells(7, 12, {(1, 1): 14.0, (5, 10): 13.0})
    boxes = first_look(logits, z, GROUPS, RULE, (1920, 1080)).boxes
    assert len(boxes) == 2
    (x1, _, w1, _), (x2, _, _, _) = boxes
    assert x1 + w1 < x2  # the stronger one first, then the other, apart


def test_labels_without_no_animal_answer_with_the_frame_and_box_their_label() -> None:
    own = label_set("animals", ("wolf", "fox", "hare"))
    logits = np.array([0.0, 3.0, 0.0], dtype=np.float32)
    z = np.zeros((4, 6, 3), dtype=np.float32)
    z[1:3, 4:6, 1] = 6.0
    look = first_look(logits, z, Labels(own, 3), RULE, (600, 400))
    assert look.animal and look.animal_score is None and look.closer == []
    assert int(look.probs.argmax()) == 1 and look.box[0] >= 0.5  # fox, on the right


def test_tiles_look_where_the_evidence_is_first_and_cover_the_frame() -> None:
    grid = np.zeros((7, 12))
    grid[6, 0] = 9.0  # bottom left
    squares = tiles_by_evidence(grid, (1920, 1080), 0.4)
    x, y, w, h = squares[0]
    assert x == 0.0 and y + h == pytest.approx(1.0) and w * 1920 == pytest.approx(0.4 * 1080)
    points = [(px / 40, py / 40) for px in range(40) for py in range(40)]
    assert all(any(a <= p <= a + c and b <= q <= b + d for a, b, c, d in squares) for p, q in points)
    budget = replace(RULE, budget=3, tile=0.4)
    chosen = closer_squares([(0.9, 0.1, 0.05, 0.05)], (1920, 1080), budget, grid)
    assert len(chosen) == 3 and chosen[1] == squares[0]  # the candidate's square, then the strongest tiles


def test_upsampling_keeps_the_cells_where_they_are() -> None:
    grid = np.zeros((3, 4))
    grid[1, 2] = 1.0
    up = upsampled(grid, 4)
    assert up.shape == (12, 16) and np.unravel_index(up.argmax(), up.shape) in {(5, 9), (5, 10), (6, 9), (6, 10)}
    assert animal_boxes(grid, 0.5, np.inf, most=1)[0][0] == pytest.approx(2 / 4, abs=1 / 8)


def test_the_shipped_rules_are_ordered_as_their_names_say() -> None:
    frame, tiles = RULES["frame"], RULES["tiles"]
    assert tiles.budget > frame.budget and tiles.seen <= frame.seen  # tiles looks closer more often
    assert 0 < frame.least <= frame.most <= 1 and min(frame.contexts) >= 1


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1920×1080 plain frame with a cat at its left edge, one with a small cat in its top
    right corner (6% of the frame), and the plain frame alone; ``boxes.json``: the true boxes."""
    folder = tmp_path_factory.mktemp("trap")
    background = Image.new("RGB", (1920, 1080), (120, 140, 110))
    with Image.open(EXAMPLES / "cat.jpg") as im:
        cat = im.convert("RGB")
    big = cat.copy()
    big.thumbnail((620, 620))
    frame = background.copy()
    frame.paste(big, (0, 1080 - big.height))
    frame.save(folder / "left_cat.jpg", quality=92)
    small = cat.copy()
    small.thumbnail((420, 420))
    frame = background.copy()
    frame.paste(small, (1920 - small.width - 20, 30))
    frame.save(folder / "small_cat.jpg", quality=92)
    background.save(folder / "empty.jpg", quality=92)
    truth = {
        "left_cat.jpg": (0.0, (1080 - big.height) / 1080, big.width / 1920, big.height / 1080),
        "small_cat.jpg": ((1920 - small.width - 20) / 1920, 30 / 1080, small.width / 1920, small.height / 1080),
    }
    (tmp_path_factory.getbasetemp() / "trap-boxes.json").write_text(json.dumps(truth))
    return folder


def classify(runner: CliRunner, folder: Path, out: Path, view: str, *extra: str) -> dict[str, dict[str, str]]:
    args = ["classify", str(folder), "-o", str(out), "--view", view, "--precision", "fp32", *extra]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return {r["path"]: r for r in read_csv_rows(out)}


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def box(row: dict[str, str]) -> tuple[float, ...]:
    return tuple(float(row[c]) for c in ("box_x", "box_y", "box_w", "box_h"))


def test_the_frame_finds_what_the_centre_crop_misses_and_boxes_the_animal(
    runner: CliRunner, trap: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = json.loads((tmp_path_factory.getbasetemp() / "trap-boxes.json").read_text())
    centre = classify(runner, trap, tmp_path / "centre.csv", "centre")
    assert "box_x" not in centre["empty.jpg"] and "animal_score" not in centre["empty.jpg"]  # today's columns
    assert centre["left_cat.jpg"]["label"] != "cat" and centre["small_cat.jpg"]["label"] != "cat"
    frame = classify(runner, trap, tmp_path / "frame.csv", "frame")
    tiles = classify(runner, trap, tmp_path / "tiles.csv", "tiles")
    for rows in (frame, tiles):
        assert rows["left_cat.jpg"]["label"] == "cat"
        assert iou(box(rows["left_cat.jpg"]), truth["left_cat.jpg"]) >= 0.5  # the animal, not a window
        assert rows["empty.jpg"]["label"] == "no_animal" and rows["empty.jpg"]["box_x"] == ""
        assert float(rows["empty.jpg"]["animal_score"]) < float(rows["left_cat.jpg"]["animal_score"])
    assert tiles["small_cat.jpg"]["label"] == "cat"
    assert iou(box(tiles["small_cat.jpg"]), truth["small_cat.jpg"]) >= 0.3
    for rows in (frame, tiles):  # the confidence is the reported label's own probability, first of the row
        for row in rows.values():
            assert float(row["confidence"]) >= 0 and row["label"] != row["label_2"]
    sidecar = json.loads((tmp_path / "tiles.csv.json").read_text())
    assert sidecar["options"]["view"] == "tiles" and sidecar["look"]["rule"] == RULES["tiles"].record()
    assert 1.0 <= sidecar["windows_per_file"] <= 1 + RULES["tiles"].budget


def test_resume_keeps_the_view_and_the_method_it_started_with(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    classify(runner, trap, out, "frame")
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "tiles"])
    assert result.exit_code == 2
    assert "classified with --view frame, this run has --view tiles" in result.stderr
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "centre"])
    assert result.exit_code == 2 and "--view frame" in result.stderr
    before = out.read_bytes()
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "frame"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == before  # everything was done: the same file
    sidecar = out.with_name("p.csv.json")
    record = json.loads(sidecar.read_text())
    record["look"]["rule"]["seen"] += 1  # as a run with other constants (or the older windows) wrote it
    sidecar.write_text(json.dumps(record))
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "frame"])
    assert result.exit_code == 2 and "answered by another method" in result.stderr
    del record["look"]
    sidecar.write_text(json.dumps(record))
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--resume", "--view", "frame"])
    assert result.exit_code == 2 and "square windows, before the whole-frame look" in result.stderr


def test_every_runtime_gives_the_same_answers(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    """torch, ONNX Runtime and OpenVINO (fp32) look at the frames alike: same labels and boxes,
    confidences within rounding."""
    pytest.importorskip("openvino")
    seen = {
        rt: classify(runner, EXAMPLES, tmp_path / f"{rt}.csv", "frame", "--runtime", rt, "--workers", "0")
        for rt in ("torch", "onnx", "openvino")
    }
    for rt in ("onnx", "openvino"):
        for path, row in seen["torch"].items():
            other = seen[rt][path]
            assert other["label"] == row["label"], (rt, path)
            for col in ("confidence", "box_x", "box_y", "box_w", "box_h", "animal_score"):
                if row[col]:
                    assert float(other[col]) == pytest.approx(float(row[col]), abs=0.02), (rt, path, col)


def test_gpu_decoding_needs_the_centre_view(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    result = runner.invoke(main, ["classify", str(trap), "-o", str(tmp_path / "o.csv"), "--decode", "gpu"])
    assert result.exit_code == 2 and "--decode gpu decodes the centre window only" in result.stderr


def test_int8_is_refused_for_the_whole_frame_view(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    args = ["classify", str(trap), "-o", str(tmp_path / "o.csv"), "--precision", "int8", "--runtime", "onnx"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and "--precision int8 runs --view centre only" in result.stderr


def test_finetune_trains_on_the_square_where_the_animal_is(tmp_path: Path) -> None:
    """finetune --view frame: each photo's features are of a square around the animal the
    pretrained model's first look finds (the left of the frame for a cat at the left edge, the
    right for a dog at the right); --view centre keeps the centre crop."""
    import torch

    from animalsort.datasets.labelled import labelled_splits
    from animalsort.model.device import pick_device
    from animalsort.training import features
    from animalsort.training.base import base_weights, load_base

    background = Image.new("RGB", (1920, 1080), (120, 140, 110))
    for label, photo, left in (("cats", "cat.jpg", True), ("dogs", "dog.jpg", False)):
        with Image.open(EXAMPLES / photo) as im:
            animal = im.convert("RGB")
        animal.thumbnail((620, 620))
        for i in range(2):
            frame = background.copy()
            x = 10 * i if left else 1920 - animal.width - 10 * i
            frame.paste(animal, (x, 1080 - animal.height - 40 * i))
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            frame.save(tmp_path / "data" / label / f"{i}.jpg", quality=92)
    splits = labelled_splits(tmp_path / "data", val_split=0.0)
    base = load_base(base_weights(None, None, progress=False))
    # in torch: the square is the subject, and lite1's features graph (~10 s to export) would serve this test alone
    common = dict(views=("orig",), device=pick_device("cpu"), precision="fp32", runtime="torch", batch_size=8)
    samples = splits.train + splits.val
    framed = features.extract(
        base, tmp_path / "data", samples, tmp_path / "f.pt", window_mode="frame", workers=0, progress=False, **common
    )
    for s in samples:
        square = framed.windows[s.path]
        assert square is not None, s.path
        centre_x = square[0] + square[2] / 2
        assert (centre_x < 0.5) == s.path.startswith("cats"), (s.path, square)
    centred = features.extract(base, tmp_path / "data", samples, tmp_path / "f.pt", workers=0, progress=False, **common)
    assert centred.windows == {} and centred.computed == len(samples)  # its own cache entries
    assert not torch.equal(framed.x, centred.x)


def test_the_look_graph_carries_tf_same_padding_in_its_convolutions(tmp_path: Path) -> None:
    """EfficientNet-lite's stride-2 layers pad the TF way, from the input's size; exported with
    symbolic sizes that was a separate Pad ONNX Runtime cannot fold (a quarter of a look's time).
    On the STRIDE grid the padding is fixed: the exported graph has none and the same outputs."""
    import onnx
    import torch
    from timm.layers import Conv2dSame

    from animalsort.model.onnx_graph import OnnxModel, _grid_padded

    torch.manual_seed(0)
    net = torch.nn.Sequential(Conv2dSame(3, 8, 3, stride=2), torch.nn.ReLU(), Conv2dSame(8, 8, 5, stride=2, groups=8))
    padded = _grid_padded(net).eval()
    path = tmp_path / "g.onnx"
    axes = {"x": {0: "n", 2: "h", 3: "w"}}
    x = torch.rand(1, 3, 64, 96)
    torch.onnx.export(padded, (x,), path, dynamo=False, input_names=["x"], dynamic_axes=axes, opset_version=18)
    assert "Pad" not in {n.op_type for n in onnx.load(str(path)).graph.node}
    session = OnnxModel(path).session
    for shape in [(2, 3, 64, 96), (1, 3, 224, 288), (1, 3, 32, 32)]:
        x = torch.rand(shape)
        with torch.inference_mode():
            want = net(x).numpy()
        assert np.abs(session.run(None, {"x": x.numpy()})[0] - want).max() < 1e-5
