"""Tiny metric backbones with random weights: a DINO-shaped ViT and LPIPS's SqueezeNet.

For `--models tiny` runs and tests of the benchmark columns (structure distance, background
LPIPS, MagicBrush DINO). Their numbers are noise: they check that images flow through the metrics,
never how good an edit is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maskedit.tiny.clip import TOWER
from maskedit.tiny.seeding import seeded

if TYPE_CHECKING:
    from transformers import ViTModel

    from maskedit.metrics.lpips import LpipsNet


def build_tiny_dino(patch_size: int = 16, image_size: int = 224, seed: int = 0) -> ViTModel:
    """A transformers ``ViTModel`` shaped like DINO's (qkv bias, LayerNorm eps 1e-6, no pooler):
    width 32, 2 layers, 4 heads. Random LayerNorm affines and biases too, so no term of the
    computation is trivially 1 or 0."""
    import torch
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(
        **TOWER,
        image_size=image_size,
        patch_size=patch_size,
        qkv_bias=True,
        layer_norm_eps=1e-6,
        initializer_range=0.08,  # wider than ViT's 0.02: keys that tell patches apart
    )
    with seeded(seed):
        model = ViTModel(config, add_pooling_layer=False).eval()
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith("weight"):
                p.data.copy_(1.0 + 0.5 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.data.copy_(0.02 * torch.randn_like(p))
    return model


def build_tiny_lpips(seed: int = 0) -> LpipsNet:
    """LPIPS's SqueezeNet 1.1 with random weights and random non-negative linear layers."""
    from maskedit.metrics.lpips import LpipsNet

    with seeded(seed):
        net = LpipsNet.squeeze()
        for lin in net.lins:
            lin.weight.data.uniform_(0.0, 1.0)
    return net.eval()
