"""Small random metric backbones built in code: a DINO-shaped ViT and LPIPS's SqueezeNet.

The builders live in `maskedit.tiny.metrics` (``--models tiny`` runs use them too); weights are
drawn from a seed, so the same seed gives the same network and the caller's RNG is untouched.
"""

from __future__ import annotations

import torch

from maskedit.metrics.lpips import LpipsNet
from maskedit.tiny.metrics import build_tiny_dino as tiny_dino
from maskedit.tiny.metrics import build_tiny_lpips as tiny_lpips

__all__ = ["squeezenet_state_dict", "tiny_dino", "tiny_lpips"]


def squeezenet_state_dict(net: LpipsNet) -> dict[str, torch.Tensor]:
    """The trunk's weights under torchvision's key names (``features.<i>...``), as it saves them."""
    return {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
