"""``--decode gpu``: a batch's raw JPEGs decoded with nvJPEG on the CUDA device, oriented,
resized and cropped there; a file the device rejects is decoded by PIL instead.
"""

from __future__ import annotations

import io

import torch

from animalsort.inference.batches import Batch
from animalsort.sources.decode import describe_error
from animalsort.sources.preprocess import Preprocessing, Preprocessor

# --------------------------------------------------------------------------- device-side JPEG decoding


def _orient(x: torch.Tensor, orientation: int) -> torch.Tensor:
    """EXIF orientation on a (…, H, W) tensor, as PIL's ImageOps.exif_transpose does."""
    if orientation == 2:
        return x.flip(-1)
    if orientation == 3:
        return x.flip(-2, -1)
    if orientation == 4:
        return x.flip(-2)
    if orientation == 5:
        return x.transpose(-2, -1)
    if orientation == 6:
        return torch.rot90(x, k=-1, dims=(-2, -1))
    if orientation == 7:
        return x.flip(-2, -1).transpose(-2, -1)
    if orientation == 8:
        return torch.rot90(x, k=1, dims=(-2, -1))
    return x


def _resize_crop(img: torch.Tensor, orientation: int, pre: Preprocessing) -> torch.Tensor:
    """C×H×W uint8 → size×size×3 uint8: the same geometry as :class:`Preprocessor`."""
    import torch.nn.functional as F

    x = _orient(img.unsqueeze(0).float(), orientation)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    size, resize = pre.input_size, pre.resize_size
    rw, rh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    mode = "bicubic" if pre.interpolation == "bicubic" else "bilinear"
    x = F.interpolate(x, size=(rh, rw), mode=mode, antialias=True, align_corners=False)
    top, left = round((rh - size) / 2), round((rw - size) / 2)
    x = x[..., top : top + size, left : left + size]
    return x.clamp_(0, 255).round_().to(torch.uint8)[0].permute(1, 2, 0)


def decode_on_device(batch: Batch, images: torch.Tensor, pre: Preprocessing, chunk: int = 64) -> None:
    """Fill ``images`` (on its device) with the batch's raw JPEGs, decoded there (nvJPEG on
    CUDA). A file the device decoder rejects is decoded by PIL instead; if that fails too,
    its row becomes an error. ``batch.rows.ok`` / ``batch.rows.errors`` are updated in place."""
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec; they still work.
    warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities", category=DeprecationWarning)
    assert batch.raw is not None and batch.orientation is not None
    todo = [i for i, r in enumerate(batch.raw) if r is not None and batch.rows.ok[i]]
    for start in range(0, len(todo), chunk):
        idx = todo[start : start + chunk]
        try:
            decoded = decode_jpeg([batch.raw[i] for i in idx], mode=ImageReadMode.RGB, device=images.device)
        except RuntimeError:
            decoded = [None] * len(idx)  # one bad file fails the call: isolate it below
        for i, img in zip(idx, decoded):
            try:
                if img is None:
                    img = decode_jpeg(batch.raw[i], mode=ImageReadMode.RGB, device=images.device)
                images[i] = _resize_crop(img, batch.orientation[i], pre)
            except RuntimeError:
                try:  # fall back to the CPU decoder, which also names the problem precisely
                    cpu = Preprocessor(pre)(io.BytesIO(batch.raw[i].numpy().tobytes()))
                    images[i] = torch.from_numpy(cpu).to(images.device)
                except Exception as exc:
                    batch.rows.ok[i] = False
                    batch.rows.errors[i] = describe_error(exc)
