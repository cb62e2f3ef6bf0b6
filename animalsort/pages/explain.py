"""``animalsort explain``: Grad-CAM heat maps of where the model looked for a label.

Grad-CAM (Selvaraju et al., 2017) on the last feature map with a spatial extent: channel
weights are the spatially averaged gradients of the label's score, the map is the ReLU of
the weighted channel sum. For an animal label (a group of ImageNet classes) the score is the
log-sum-exp of its members' logits, the group's own logit (``log Σ exp``: the softmax of
the group is exactly the summed member probability that classify reports); for the 1000
ImageNet classes or a fine-tuned head it is the class's logit.

The map covers what the model answered from — the centre crop, or with ``--view frame`` /
``tiles`` what classify's answer came from (``inference.looking``, so the label is the CSV's):
the first look at the whole frame, or the closer look's square when one decided; it is placed
back onto the whole photo (zero outside the square, which is drawn dimmed), so what the model
did not look at is visible too.

Why not the ``grad-cam`` package: it is a source-only release that pulls opencv, scipy,
scikit-learn and ttach for what is here ~40 lines, and it has no notion of a group target
or of our crop geometry, both of which we would write anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from animalsort.atomic import make_folder
from animalsort.errors import OutputError, UsageError
from animalsort.sources import decode, listing, preprocess
from animalsort.sources.views import Box

if TYPE_CHECKING:
    from animalsort.model.runner import LoadedModel

MAX_OVERLAY_SIDE = 1024  # px: overlays (and the heat map returned) are at most this large


@dataclass
class Explanation:
    path: str
    label: str = ""
    confidence: float = 0.0  # of ``label``
    predicted: str = ""  # classify's answer for the photo
    heat: np.ndarray | None = None  # H×W float32 over the (downscaled) photo, sums to 1
    scale: float = 1.0  # heat-map pixels per photo pixel
    crop_box: tuple[float, float, float, float] = (0, 0, 0, 0)  # in photo pixels
    out: Path | None = None
    error: str = ""

    def mass_inside(self, box: tuple[float, float, float, float]) -> float:
        """Share of the heat map inside ``box`` (left, top, right, bottom in photo pixels)."""
        if self.heat is None:
            return 0.0
        l, t, r, b = (round(v * self.scale) for v in box)
        return float(self.heat[max(t, 0) : b, max(l, 0) : r].sum())


def feature_layer(backbone: torch.nn.Module, input_size: int) -> torch.nn.Module:
    """The module whose output is the last feature map with a spatial extent (before global
    pooling): found by one traced forward pass, so it works for any timm or torchvision CNN."""
    outputs: list[torch.nn.Module] = []
    hooks = [
        m.register_forward_hook(
            lambda mod, _, out: (
                outputs.append(mod)
                if isinstance(out, torch.Tensor) and out.dim() == 4 and min(out.shape[2:]) > 1
                else None
            )
        )
        for m in backbone.modules()
        if m is not backbone
    ]
    try:
        with torch.no_grad():
            backbone(torch.zeros(1, 3, input_size, input_size, device=next(backbone.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    if not outputs:
        raise UsageError(f"{type(backbone).__name__} has no spatial feature map to explain")
    return outputs[-1]


class GradCam:
    """Grad-CAM for a loaded model (see :func:`animalsort.model.load`)."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.net = loaded.net.float().eval()
        self.layer = feature_layer(self.net.backbone, loaded.preprocessing.input_size)
        self.pre = preprocess.Preprocessor(loaded.preprocessing)
        members = loaded.labels.members
        self.members = [list(m) for m in members] if members is not None else None

    def label_index(self, label: str) -> int:
        names = self.loaded.labels.labels
        if label not in names:
            raise UsageError(f"--label {label!r} is not one of this model's labels: {', '.join(names)}")
        return names.index(label)

    def __call__(
        self, pixels: np.ndarray, label: str | None = None, animal: bool | None = None, region: Box | None = None
    ) -> tuple[np.ndarray, str, float, str]:
        """(map over the model's input, label explained, its probability, predicted label);
        ``pixels``: the model's uint8 input (a centre crop, a square, or a whole-frame look);
        ``animal``: the first decision when a look made it (``taxonomy.rank``); ``region``: the
        box (fractions of ``pixels``) whose cells gave the answer, pooled as classify pools them."""
        from animalsort.taxonomy import rank

        x = torch.from_numpy(pixels)[None].to(self.loaded.device)
        captured: dict[str, torch.Tensor] = {}
        hook = self.layer.register_forward_hook(lambda _m, _i, out: captured.__setitem__("a", out))
        try:
            with torch.enable_grad():
                logits = self._logits(x, region)
                probs = self.net.probabilities(logits)
                decided = None if animal is None else torch.tensor([animal])
                _, order = rank(probs.detach(), self.loaded.labels, 1, decided)
                predicted = int(order[0, 0])
                j = predicted if label is None else self.label_index(label)
                score = logits[0, self.members[j]].logsumexp(0) if self.members else logits[0, j]
                (grad,) = torch.autograd.grad(score, captured["a"])
        finally:
            hook.remove()
        acts = captured["a"].detach()[0].float()
        weights = grad[0].float().mean(dim=(1, 2))
        cam = torch.relu((weights[:, None, None] * acts).sum(0))
        size = pixels.shape[:2]
        cam = torch.nn.functional.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
        names = self.loaded.labels.labels
        return cam.cpu().numpy(), names[j], float(probs[0, j].detach()), names[predicted]

    def _logits(self, x: torch.Tensor, region: Box | None) -> torch.Tensor:
        """The class logits the answer is made of: of the whole input, or of its cells under
        ``region`` (the mean of their logits: the head is pooling + linear)."""
        from animalsort.inference.looking import under

        if region is None:
            return self.net.logits(x).float()
        _, cells = self.net.look(x)
        return under(cells[0], region).float().mean(dim=0, keepdim=True)


def explain_file(cam: GradCam, path: str | Path, label: str | None = None, view: str = "centre") -> Explanation:
    """Grad-CAM of one photo, placed on the whole (downscaled) photo. The photo is decoded
    exactly as classify decodes it, so label and confidence match the CSV; with ``view``, on
    what classify's answer came from (the whole frame, or a closer look's square)."""
    try:
        image = decode.open_rgb(path, cam.pre.draft_for(view))
        w, h = decode.oriented_size(path)
        pixels, window, animal, region = _answer_input(cam, path, image, view)
    except Exception as exc:
        return Explanation(str(path), error=decode.describe_error(exc))
    crop_map, lab, conf, predicted = cam(pixels, label, animal, region)
    scale = min(1.0, MAX_OVERLAY_SIDE / max(w, h))
    W, H = max(1, round(w * scale)), max(1, round(h * scale))
    f = w / image.width  # the window in the decoded (draft) image's pixels → the photo's
    box = (window[0] * f, window[1] * f, window[2] * f, window[3] * f)
    l, t, r, b = (round(v * scale) for v in box)
    heat = np.zeros((H, W), dtype=np.float32)
    placed = np.asarray(
        Image.fromarray(crop_map.astype(np.float32), mode="F").resize((r - l, b - t), Image.Resampling.BILINEAR)
    )
    heat[max(t, 0) : b, max(l, 0) : r] = placed[max(-t, 0) :, max(-l, 0) :][: H - max(t, 0), : W - max(l, 0)]
    total = float(heat.sum())
    if total > 0:
        heat /= total
    return Explanation(str(path), lab, conf, predicted, heat, scale, box)


def _answer_input(
    cam: GradCam, path: str | Path, image: Image.Image, view: str
) -> tuple[np.ndarray, tuple[float, float, float, float], bool | None, Box | None]:
    """The model input classify's answer came from, where it is in ``image``'s pixels (left,
    top, right, bottom), the look's decision (animal or not; None for the centre crop) and the
    box whose cells answered (None: the whole input): the centre crop; with a view the first
    look at the whole frame, or the square of the closer look that decided (decoded again as
    classify decodes it)."""
    from animalsort.inference.looking import RULES, Labels, closer_look, first_look

    if view == "centre":
        return cam.pre.crop(image), cam.pre.crop_box(*image.size), None, None
    pixels = cam.pre.look(image)
    logits, cells = cam.loaded.look(torch.from_numpy(pixels)[None].to(cam.loaded.device))
    labels, rule = Labels(cam.loaded.labels, logits.shape[-1]), RULES[view]
    look = first_look(logits[0], cells[0], labels, rule, image.size)
    if look.closer:
        crops = [decode.open_rgb(path, cam.pre.closer_draft(sq)) for sq in look.closer]
        squares = [cam.pre.closer(im, sq) for im, sq in zip(crops, look.closer)]
        seen = cam.loaded.look(torch.from_numpy(np.stack(squares)).to(cam.loaded.device))
        closer_look(look, [(seen[0][i], seen[1][i]) for i in range(len(squares))], labels, rule)
        if look.decided_by is not None:
            x, y, bw, bh = look.decided_by
            W, H = image.size
            square = (x * W, y * H, (x + bw) * W, (y + bh) * H)
            return squares[look.closer.index(look.decided_by)], square, True, None
    return pixels, (0.0, 0.0, float(image.width), float(image.height)), look.animal, look.pooled


def overlay(image: Image.Image, e: Explanation, alpha: float = 0.5) -> Image.Image:
    """The photo with the heat map in colour over it; outside the model's crop, dimmed."""
    import matplotlib

    assert e.heat is not None
    H, W = e.heat.shape
    base = np.asarray(image.resize((W, H), Image.Resampling.BILINEAR), dtype=np.float32)
    peak = float(e.heat.max()) or 1.0
    colour = matplotlib.colormaps["jet"](e.heat / peak)[..., :3] * 255.0
    out = (1 - alpha) * base + alpha * colour
    l, t, r, b = (round(v * e.scale) for v in e.crop_box)
    outside = np.ones((H, W), dtype=bool)
    outside[max(t, 0) : b, max(l, 0) : r] = False
    out[outside] = base[outside] * 0.35
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def _unique(path: Path) -> Path:
    """``path``, or ``stem-1.ext``, ``stem-2.ext``…: an explanation never overwrites a file."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def explain_images(
    inputs: list[Path],
    out_dir: Path,
    *,
    model: str | None = None,
    weights: Path | None = None,
    labels: str = "animals",
    label: str | None = None,
    device: str = "auto",
    view: str = "centre",
    progress: bool = True,
) -> list[Explanation]:
    """Explain each image (folders are searched recursively); write one overlay JPEG each
    to ``out_dir`` as ``<name>.<label>.gradcam.jpg``."""
    from animalsort.model import load

    files: list[Path] = []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            files += [p / rel for rel in listing.discover(p)]
        elif p.exists() or p.is_symlink():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    files = list(dict.fromkeys(files))  # each image once, in the order given
    if not files:
        raise UsageError("no images to explain: give image files or folders that hold some")
    loaded = load.load(model, weights, labels=labels, device=device, precision="fp32", progress=progress)
    cam = GradCam(loaded)
    if label is not None:
        cam.label_index(label)  # an unknown label fails before any work
    make_folder(out_dir, "choose another --out")
    results = []
    for f in files:
        e = explain_file(cam, f, label, view)
        if not e.error:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in e.label)
            target = _unique(out_dir / f"{f.stem}.{safe}.gradcam.jpg")
            try:
                overlay(decode.open_rgb(f, MAX_OVERLAY_SIDE), e).save(target, quality=90)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
            e.out = target
        results.append(e)
    return results
