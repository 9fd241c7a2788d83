"""CLIP scores: image-text agreement (seed study, PIE-Bench, MagicBrush) and directional similarity.

The CLIP model and its processor are passed in (a transformers ``CLIPModel`` and ``CLIPProcessor``,
loaded elsewhere); nothing here loads weights. Images go through the processor exactly as
torchmetrics' ``CLIPScore`` sends them (a 3xHxW uint8 tensor each), so ``clip_score`` reproduces
torchmetrics' number for the same model. See docs/metrics.md for formulas and protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from maskedit.errors import InputError

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPProcessor

# Unit embeddings of a real edit differ by ~0.1-1; batching noise in float32 is ~1e-6.
NO_CHANGE_NORM = 1e-4


def _check_rgb_uint8(name: str, image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape {image.shape}"
        )


def _as_tensor(features) -> torch.Tensor:
    # transformers >= 5 returns a BaseModelOutputWithPooling whose pooler_output is the projected
    # embedding; 4.x returned the tensor itself
    return features if isinstance(features, torch.Tensor) else features.pooler_output


def _unit(features: torch.Tensor) -> torch.Tensor:
    features = features.float()
    return features / features.norm(p=2, dim=-1, keepdim=True)


@torch.no_grad()
def clip_image_features(
    model: CLIPModel, processor: CLIPProcessor, images: Sequence[np.ndarray]
) -> torch.Tensor:
    """L2-normalised CLIP image embeddings: N HxWx3 uint8 images -> (N, D) float32 tensor.

    The tensor is on the model's device.
    """
    for i, image in enumerate(images):
        _check_rgb_uint8(f"images[{i}]", image)
    param = next(model.parameters())
    # 3xHxW uint8 tensors, as torchmetrics and PIE-Bench pass them: same resize, same pixel values
    # (np.require copies read-only arrays, e.g. PIL-backed ones, which torch warns about)
    chw = [torch.from_numpy(np.require(im, requirements="CW")).permute(2, 0, 1) for im in images]
    pixel_values = processor(images=chw, return_tensors="pt")["pixel_values"]
    out = model.get_image_features(pixel_values=pixel_values.to(param.device, param.dtype))
    return _unit(_as_tensor(out))


@torch.no_grad()
def clip_text_features(
    model: CLIPModel, processor: CLIPProcessor, texts: Sequence[str]
) -> torch.Tensor:
    """L2-normalised CLIP text embeddings: N strings -> (N, D) float32 tensor on the model's device.

    Captions longer than the tokenizer's limit (77 tokens for CLIP) are truncated, keeping the
    end-of-text token the embedding is read from.
    """
    device = next(model.parameters()).device
    tokens = processor(text=list(texts), return_tensors="pt", padding=True, truncation=True)
    out = model.get_text_features(
        input_ids=tokens["input_ids"].to(device), attention_mask=tokens["attention_mask"].to(device)
    )
    return _unit(_as_tensor(out))


def _cosine(model: CLIPModel, processor: CLIPProcessor, image: np.ndarray, text: str):
    image_features = clip_image_features(model, processor, [image])
    text_features = clip_text_features(model, processor, [text])
    return (image_features * text_features).sum(dim=-1)[0]


def clip_cosine(model: CLIPModel, processor: CLIPProcessor, image: np.ndarray, text: str) -> float:
    """Raw cosine between the CLIP embeddings of an HxWx3 uint8 image and a text, in [-1, 1].

    The seed study's "CLIP score" (ViT-B/32, against the instruction).
    """
    return float(_cosine(model, processor, image, text))


def clip_score(model: CLIPModel, processor: CLIPProcessor, image: np.ndarray, text: str) -> float:
    """torchmetrics' CLIPScore, ``100 * max(cos, 0)``, in [0, 100] (PIE-Bench "CLIP whole")."""
    return float(torch.clamp(100 * _cosine(model, processor, image, text), min=0))


def clip_score_region(
    model: CLIPModel, processor: CLIPProcessor, image: np.ndarray, mask: np.ndarray, text: str
) -> float:
    """``clip_score`` of ``image * mask`` (pixels outside the HxW bool mask set to black).

    PIE-Bench's "CLIP edited": the edited region alone, against the target prompt.
    """
    _check_rgb_uint8("image", image)
    if mask.dtype != np.bool_ or mask.shape != image.shape[:2]:
        raise InputError(
            f"mask: expected an HxW bool array of shape {image.shape[:2]}, got {mask.dtype} of "
            f"shape {mask.shape}"
        )
    return clip_score(model, processor, image * mask[..., None], text)


def clip_directional(
    model: CLIPModel,
    processor: CLIPProcessor,
    image_in: np.ndarray,
    image_out: np.ndarray,
    caption_in: str,
    caption_out: str,
) -> float:
    """CLIP directional similarity (Gal et al. 2022; used by InstructPix2Pix), in [-1, 1].

    ``cos(E_img(out) - E_img(in), E_txt(caption_out) - E_txt(caption_in))`` on L2-normalised
    embeddings: does the image change the way the caption changes? An unchanged image (or caption)
    has no direction and scores 0.0: a difference shorter than ``NO_CHANGE_NORM`` is float32 noise
    (two identical images in one batch do not embed bit for bit alike), not a direction.
    """
    images = clip_image_features(model, processor, [image_in, image_out])
    texts = clip_text_features(model, processor, [caption_in, caption_out])
    d_image, d_text = images[1] - images[0], texts[1] - texts[0]
    if d_image.norm() < NO_CHANGE_NORM or d_text.norm() < NO_CHANGE_NORM:
        return 0.0
    return float(torch.nn.functional.cosine_similarity(d_image, d_text, dim=0))
