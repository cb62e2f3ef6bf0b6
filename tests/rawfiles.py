"""Real RAW files for the tests: CFA (Bayer, RGGB) DNGs written with tifffile from a photo, with an
embedded JPEG preview or none, stored as the sensor reads them (optionally turned, with the
DNG Orientation that turns them upright again). LibRaw reads them as it reads a camera's DNG."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

#: XYZ (D65) → linear sRGB: as the DNG ColorMatrix1, camera RGB is linear sRGB.
XYZ_TO_SRGB = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
WHITE = 4095  # 12-bit sensor


def make_dng(path: Path, photo: Path, preview: str | None = "jpeg", turned: bool = False) -> Path:
    """``photo`` as a DNG at ``path``: preview ``jpeg`` (a JPEG in IFD0, the raw in a SubIFD)
    or None; ``turned``: the sensor data is the photo turned a quarter to the left, with
    Orientation 6 (turn right to view), as a camera held upright writes it."""
    import tifffile

    upright = np.asarray(Image.open(photo).convert("RGB"))
    sensor = np.rot90(upright, k=1) if turned else upright
    h, w = sensor.shape[0] - sensor.shape[0] % 2, sensor.shape[1] - sensor.shape[1] % 2
    linear = (sensor[:h, :w].astype(np.float32) / 255.0) ** 2.2
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0] * WHITE
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1] * WHITE
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1] * WHITE
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2] * WHITE
    matrix = []
    for v in XYZ_TO_SRGB:
        f = Fraction(v).limit_denominator(10000)
        matrix += [f.numerator, f.denominator]
    main = [
        (50706, 1, 4, (1, 4, 0, 0)),  # DNGVersion
        (50708, 2, 0, "animalsort test camera"),  # UniqueCameraModel
        (50721, 10, 9, matrix),  # ColorMatrix1
        (50778, 3, 1, 21),  # CalibrationIlluminant1: D65
        (50728, 5, 3, [1, 1, 1, 1, 1, 1]),  # AsShotNeutral
        (274, 3, 1, 6 if turned else 1),  # Orientation
    ]
    raw = [(33421, 3, 2, (2, 2)), (33422, 1, 4, (0, 1, 1, 2)), (50717, 4, 1, WHITE), (50714, 4, 1, 0)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tif:
        if preview == "jpeg":  # one strip: LibRaw hands the whole JPEG over as the preview
            pixels = np.ascontiguousarray(sensor)
            tif.write(
                pixels,
                photometric="rgb",
                compression="jpeg",
                rowsperstrip=pixels.shape[0],
                subfiletype=1,
                extratags=main,
                subifds=1,
            )
            tif.write(cfa, photometric=32803, subfiletype=0, extratags=raw)
        else:
            tif.write(cfa, photometric=32803, subfiletype=0, extratags=main + raw)
    return path
