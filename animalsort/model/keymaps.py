"""Named state-dict renames, for weights files published in another library's naming.

``key_map = "lukemelas_to_timm"`` in ``weights.toml`` says which one a file needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from animalsort.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn


_LUKEMELAS_BLOCK = re.compile(r"^_blocks\.(\d+)\.(.+)$")
# Block-level renames. lukemelas numbers BNs after the conv they follow (_bn0 after expand,
# _bn1 after depthwise, _bn2 after project); timm numbers them in order of appearance.
_IR_RENAMES = {  # InvertedResidual: expand → depthwise → project
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DS_RENAMES = {  # DepthwiseSeparable (expand ratio 1): depthwise → project
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_TOP_RENAMES = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def lukemelas_to_timm(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict:
    """Rename an EfficientNet state dict from lukemelas naming to timm's.

    ``_blocks.N`` is flat in lukemelas and ``blocks.<stage>.<index>`` in timm; the stage
    depths are read from the target model, so this works for every EfficientNet(-Lite).
    """
    depths = [len(stage) for stage in model.blocks]  # type: ignore[attr-defined, arg-type]
    where = [(s, i) for s, d in enumerate(depths) for i in range(d)]
    expanding = {
        int(m.group(1)) for k in state if (m := _LUKEMELAS_BLOCK.match(k)) and m.group(2).startswith("_expand_conv")
    }
    out = {}
    for key, value in state.items():
        if m := _LUKEMELAS_BLOCK.match(key):
            n = int(m.group(1))
            module, _, rest = m.group(2).partition(".")
            renames = _IR_RENAMES if n in expanding else _DS_RENAMES
            if n >= len(where) or module not in renames:
                raise WeightsError(f"cannot map {key!r} onto {type(model).__name__}")
            s, i = where[n]
            out[f"blocks.{s}.{i}.{renames[module]}.{rest}"] = value
        else:
            module, _, rest = key.partition(".")
            if module not in _TOP_RENAMES:
                raise WeightsError(f"cannot map {key!r} onto {type(model).__name__}")
            out[f"{_TOP_RENAMES[module]}.{rest}"] = value
    return out


KEY_MAPS: dict[str, Callable[[Mapping[str, torch.Tensor], nn.Module], dict]] = {
    "lukemelas_to_timm": lukemelas_to_timm,
}
