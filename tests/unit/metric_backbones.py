"""Small random metric backbones built in code: a DINO-shaped ViT and LPIPS's SqueezeNet.

Weights are drawn under ``torch.random.fork_rng`` from a seed, so the same seed gives the same
network and the caller's global RNG is untouched.
"""

from __future__ import annotations

import torch

from maskedit.metrics.lpips import LpipsNet


def tiny_dino(patch_size: int = 16, image_size: int = 224, seed: int = 0):
    """A transformers ``ViTModel`` shaped like DINO's (qkv bias, LayerNorm eps 1e-6, no pooler):
    width 32, 2 layers, 4 heads."""
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=image_size,
        patch_size=patch_size,
        qkv_bias=True,
        layer_norm_eps=1e-6,
        initializer_range=0.08,  # wider than ViT's 0.02: keys that tell patches apart
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ViTModel(config, add_pooling_layer=False).eval()
        # random LayerNorm affines and biases too, so no term of the computation is trivially 1 or 0
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith("weight"):
                p.data.copy_(1.0 + 0.5 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.data.copy_(0.02 * torch.randn_like(p))
    return model


def tiny_lpips(seed: int = 0) -> LpipsNet:
    """LPIPS's SqueezeNet 1.1 with random weights and random non-negative linear layers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = LpipsNet.squeeze()
        for lin in net.lins:
            lin.weight.data.uniform_(0.0, 1.0)
    return net.eval()


def squeezenet_state_dict(net: LpipsNet) -> dict[str, torch.Tensor]:
    """The trunk's weights under torchvision's key names (``features.<i>...``), as it saves them."""
    return {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
