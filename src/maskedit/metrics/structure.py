"""PIE-Bench's structure distance: DINO ViT key self-similarity (Tumanyan et al. 2022, "Splicing
ViT Features"), as PIE-Bench's evaluation code (``evaluation/matrics_calculator.py``) computes it.

For each image: the last block's attention keys ``K`` (T tokens, CLS included, heads
concatenated) of DINO ViT-B/8, their cosine self-similarity ``S = K Kᵀ / max(‖k_i‖ ‖k_j‖, 1e-8)``
(T×T), and the distance is ``mean((S_edit − S_original)²)``: 0 when the two images have the same
structure. PIE-Bench's tables print it ×10³.

The input transform is PIE-Bench's, quirks included: the image is *not* scaled to [0, 1] before
ImageNet normalisation (``(x − mean) / std`` on 0–255 values), and it is resized (bilinear, short
side 224, long side at most 480) as a float tensor by torchvision, which before torchvision 0.17
did not antialias tensors (the code's release) and since does (``antialias=True``).

The model is a transformers ``ViTModel`` of ``facebook/dino-vitb8`` (the hub's DINO weights
converted; the fused qkv projection split into query/key/value), passed in; nothing loads here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from maskedit.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GLOBAL_SIZE = 224  # PIE-Bench's dino_global_patch_size: the short side
MAX_SIZE = 480  # and the cap on the long side
SIM_EPS = 1e-8


def _check_rgb_uint8(name: str, image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape {image.shape}"
        )


def resized_hw(
    h: int, w: int, size: int = GLOBAL_SIZE, max_size: int = MAX_SIZE
) -> tuple[int, int]:
    """torchvision's ``Resize(size, max_size=max_size)`` output size: short side ``size``, long
    side ``int(size · long / short)``, both scaled down if the long side would pass ``max_size``."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def dino_input(image: np.ndarray, *, antialias: bool = False) -> torch.Tensor:
    """PIE-Bench's ``global_transform`` of an HxWx3 uint8 image: a 1×3×h×w float32 tensor.

    The 0–255 values are resized, then ImageNet-normalised as they are (PIE-Bench's quirk).
    """
    _check_rgb_uint8("image", image)
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
    h, w = image.shape[:2]
    size = resized_hw(h, w)
    if size != (h, w):  # torchvision returns an image already at its size untouched
        x = torch.nn.functional.interpolate(
            x, size=size, mode="bilinear", align_corners=False, antialias=antialias
        )
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    return (x - mean) / std


def vit_layers(model) -> torch.nn.ModuleList:
    """A transformers ViT's blocks (``layers`` in transformers ≥ 5, ``encoder.layer`` before)."""
    layers = getattr(model, "layers", None)
    return layers if layers is not None else model.encoder.layer


def _key_projection(layer: torch.nn.Module) -> torch.nn.Module:
    """The key projection of a transformers ViT layer (``k_proj`` in transformers ≥ 5, ``key``
    inside ``attention.attention`` before)."""
    attention = layer.attention
    for owner, name in ((attention, "k_proj"), (getattr(attention, "attention", None), "key")):
        if owner is not None and isinstance(getattr(owner, name, None), torch.nn.Module):
            return getattr(owner, name)
    raise InputError(f"structure distance: {type(layer).__name__} has no key projection")


@torch.no_grad()
def key_self_similarity(model, pixels: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Cosine self-similarity of one layer's keys (default: the last, PIE-Bench's layer 11 of
    ViT-B/8): 1×3×h×w pixels -> (T, T) float32, T = 1 + number of patches."""
    keys: list[torch.Tensor] = []
    block = vit_layers(model)[layer]
    handle = _key_projection(block).register_forward_hook(lambda m, i, out: keys.append(out))
    param = next(model.parameters())
    try:
        model(pixel_values=pixels.to(param.device, param.dtype), interpolate_pos_encoding=True)
    finally:
        handle.remove()
    k = keys[0][0].float()  # (T, D): every head's keys, concatenated in head order
    norm = k.norm(dim=1, keepdim=True)
    return (k @ k.T) / torch.clamp(norm @ norm.T, min=SIM_EPS)


def structure_distance(
    model, edit: np.ndarray, original: np.ndarray, *, antialias: bool = False
) -> float:
    """PIE-Bench's structure distance between two HxWx3 uint8 images, >= 0 (0: same structure;
    NaN for an image so thin that, resized, its short side holds no whole ViT patch).

    ``antialias`` picks the resize of torchvision < 0.17 (False, PIE-Bench's release) or of later
    versions (True); report which one a table uses.
    """
    _check_rgb_uint8("edit", edit)
    _check_rgb_uint8("original", original)
    if edit.shape != original.shape:
        raise InputError(
            f"edit and original must have the same shape, got {edit.shape} and {original.shape}"
        )
    if np.array_equal(edit, original):
        return 0.0
    patch = getattr(model.config, "patch_size", 1)
    if min(resized_hw(*edit.shape[:2])) < patch:  # a thin image resized: no whole patch
        return math.nan
    s_edit = key_self_similarity(model, dino_input(edit, antialias=antialias))
    s_original = key_self_similarity(model, dino_input(original, antialias=antialias))
    return float(torch.mean((s_edit - s_original) ** 2))
