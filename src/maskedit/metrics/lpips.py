"""LPIPS (Zhang et al. 2018) as PIE-Bench reports it: background LPIPS on images times 1 - mask.

PIE-Bench's evaluation code calls torchmetrics' ``LearnedPerceptualImagePatchSimilarity
(net_type="squeeze")`` on ``2 x - 1`` of the masked [0, 1] images (see `metrics.background`). The
distance is

    LPIPS(x, y) = Σ_l mean_hw( w_l · (x̂_l − ŷ_l)² ),   x̂_l = f_l(s(x)) / sqrt(ε + ‖f_l(s(x))‖²)

with ``s`` the fixed per-channel scaling layer, ``f_l`` the backbone's activations at layer ``l``
(unit-normalised over channels, ε = 1e-8) and ``w_l ≥ 0`` the learned 1×1 linear layer. The
backbone and the linear layers are an `LpipsNet` passed in (loaded by
`maskedit.models.metric_nets.load_lpips`); nothing here loads weights. See docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from maskedit.metrics.background import (
    _check_inputs,
    _has_background,
    _same_background,
    masked_background,
)

# LPIPS's scaling layer: inputs in [-1, 1] are shifted and scaled per channel before the backbone
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-8  # torchmetrics' unit normalisation; the lpips package adds 1e-10 to the norm
# SqueezeNet 1.1 (torchvision's `features`): LPIPS reads the output of these slices
SQUEEZE_TAPS = (2, 5, 8, 10, 11, 12, 13)  # exclusive ends of the slices [0:2], [2:5], ...
SQUEEZE_CHANNELS = (64, 128, 256, 384, 384, 512, 512)
MIN_SIDE = 17  # SqueezeNet 1.1's pools leave nothing of a smaller side: no LPIPS (NaN)


class Fire(nn.Module):
    """SqueezeNet's fire module (attribute names as torchvision's, so its weights load as is)."""

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            1,
        )


def squeezenet1_1_features() -> nn.Sequential:
    """SqueezeNet 1.1's convolutional trunk, module for module torchvision's ``features``."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64),
        Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128),
        Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192),
        Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256),
    )


class LpipsNet(nn.Module):
    """A backbone (``features``, read after the modules ending at each of ``taps``) plus one
    bias-free 1×1 linear layer per tap (``lins``), as LPIPS uses them."""

    name_or_path = ""  # where its weights came from (`maskedit.models.metric_nets.load_lpips`)

    def __init__(self, features: nn.Sequential, taps: Sequence[int], channels: Sequence[int]):
        super().__init__()
        if len(taps) != len(channels):
            raise ValueError(f"LpipsNet: {len(taps)} taps but {len(channels)} channel counts")
        self.features = features
        self.taps = tuple(int(t) for t in taps)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in channels)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None], False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None], False)

    @classmethod
    def squeeze(cls) -> LpipsNet:
        """The PIE-Bench configuration (SqueezeNet 1.1, 7 taps), with untrained weights."""
        return cls(squeezenet1_1_features(), SQUEEZE_TAPS, SQUEEZE_CHANNELS)

    def layer_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's activations at each tap for a scaled N×3×H×W input."""
        out, start = [], 0
        for end in self.taps:
            for module in self.features[start:end]:
                x = module(x)
            out.append(x)
            start = end
        return out


def _unit(features: torch.Tensor) -> torch.Tensor:
    return features / torch.sqrt(NORM_EPS + torch.sum(features**2, dim=1, keepdim=True))


@torch.no_grad()
def lpips_distance(net: LpipsNet, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS of two N×3×H×W float batches in [-1, 1]: an (N,) tensor, 0 for identical images."""
    if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
        raise ValueError(f"lpips_distance: expected two N×3×H×W batches, got {a.shape}, {b.shape}")
    fa = net.layer_features((a - net.shift) / net.scale)
    fb = net.layer_features((b - net.shift) / net.scale)
    total = torch.zeros(a.shape[0], device=a.device, dtype=a.dtype)
    for lin, x, y in zip(net.lins, fa, fb, strict=True):
        total = total + lin((_unit(x) - _unit(y)) ** 2).mean(dim=(1, 2, 3))
    return total


def _to_signed(image01: np.ndarray, net: LpipsNet) -> torch.Tensor:
    """HxWx3 float on [0, 1] -> 1×3×H×W on [-1, 1], float32 (PIE-Bench's dtype), net's device."""
    param = next(net.parameters())
    t = torch.from_numpy(np.ascontiguousarray(image01.transpose(2, 0, 1), dtype=np.float32))[None]
    return (t * 2 - 1).to(param.device, param.dtype)


def lpips_score(net: LpipsNet, edit: np.ndarray, original: np.ndarray) -> float:
    """LPIPS of two whole HxWx3 uint8 images (PIE-Bench's unmasked ``lpips``)."""
    full = np.zeros(edit.shape[:2], bool)
    _check_inputs(edit, original, full)
    if np.array_equal(edit, original):
        return 0.0
    if min(edit.shape[:2]) < MIN_SIDE:
        return math.nan
    return float(
        lpips_distance(net, _to_signed(edit / 255.0, net), _to_signed(original / 255.0, net))
    )


def masked_lpips(net: LpipsNet, edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """PIE-Bench's ``lpips_unedit_part``: LPIPS of both images times ``1 - mask`` on [0, 1].

    ``mask`` is HxW bool or alpha in [0, 1], 1 = edit allowed. The masked-out pixels are 0 in
    both images (-1 after ``2 x - 1``), as in PIE-Bench. NaN when the mask covers the whole image
    (PIE-Bench writes "nan") or a side is under `MIN_SIDE` pixels (the network cannot see it);
    0.0 when the backgrounds are identical (LPIPS of equal inputs is 0 exactly, so the network
    is not run).
    """
    _check_inputs(edit, original, mask)
    if not _has_background(mask):
        return math.nan
    if _same_background(edit, original, mask):
        return 0.0
    if min(edit.shape[:2]) < MIN_SIDE:
        return math.nan
    a, b = masked_background(edit, original, mask)
    return float(lpips_distance(net, _to_signed(a, net), _to_signed(b, net)))
