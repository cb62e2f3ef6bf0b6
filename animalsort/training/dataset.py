"""The training dataset of full mode: a labelled split's files → augmented uint8 tensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animalsort.datasets.labelled import Sample
from animalsort.sources.decode import open_rgb
from animalsort.sources.preprocess import Preprocessor
from animalsort.sources.views import Box


class LabelledImages(torch.utils.data.Dataset):
    """(uint8 H×W×3 image, label, ok) for a list of samples; ``augment`` maps a PIL image to
    an augmented PIL image of the model's input size (training), else the eval transform of
    ``views[i]`` (one of AUGMENTATIONS; "orig" for every sample when not given)."""

    def __init__(
        self,
        root: Path,
        samples: list[Sample],
        preprocessor: Preprocessor,
        augment: Callable[[Image.Image], Image.Image] | None = None,
        views: list[str] | None = None,
        windows: list[Box | None] | None = None,
    ):
        self.root = Path(root)
        self.samples = samples
        self.preprocessor = preprocessor
        self.augment = augment
        self.views = views
        self.windows = windows  # per sample: the window of the frame ``views[i]`` varies (None: the centre crop)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        s = self.samples[i]
        size = self.preprocessor.pre.input_size
        path = self.root / s.path
        try:
            if self.augment is None:
                view = self.views[i] if self.views is not None else "orig"
                arr = self.preprocessor(path, view, self.windows[i] if self.windows is not None else None)
            else:
                arr = np.array(self.augment(open_rgb(path, self.preprocessor.pre.resize_size)), dtype=np.uint8)
            return torch.from_numpy(arr), s.label, True
        except Exception:
            return torch.zeros(size, size, 3, dtype=torch.uint8), s.label, False
