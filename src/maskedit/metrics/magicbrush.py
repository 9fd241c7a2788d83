"""MagicBrush's metrics against the ground-truth edit, as its ``evaluation/image_eval.py`` has them.

- L1, L2: ``mean |y − gt|`` and ``mean (y − gt)²`` (MSE, not RMSE) over all values on [0, 1],
  after resizing the output to the ground truth's size (PIL, bicubic: Pillow's default).
- CLIP-I: cosine of the CLIP ViT-B/32 image embeddings of output and ground truth.
- CLIP-T: cosine of the output's CLIP image embedding and the local caption's text embedding.
- DINO: cosine of the DINO ViT-S/16 CLS features (the final-norm CLS token, not a pooler) of output
  and ground truth.

Images go through the preprocessing of the benchmark's own models, on PIL images: OpenAI CLIP's
(resize the short side to the model's input size, bicubic; centre crop; CLIP mean/std) and DINO's
(short side 256, bicubic; centre crop 224; ImageNet mean/std), with torchvision's size and crop
rounding. Raw cosines in [−1, 1], no clamp. Models (transformers ``CLIPModel`` / ``ViTModel``) are
passed in; nothing loads here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskedit.errors import InputError
from maskedit.metrics.clip import _as_tensor, clip_text_features
from maskedit.metrics.structure import IMAGENET_MEAN, IMAGENET_STD

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's normalisation
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DINO_RESIZE, DINO_CROP = 256, 224


def _check_rgb_uint8(name: str, image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape {image.shape}"
        )


def _to_gt_size(edit: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _check_rgb_uint8("edit", edit)
    _check_rgb_uint8("gt", gt)
    if edit.shape != gt.shape:
        size = (gt.shape[1], gt.shape[0])
        edit = np.asarray(Image.fromarray(edit).resize(size, Image.Resampling.BICUBIC))
    return edit.astype(np.float64) / 255.0, gt.astype(np.float64) / 255.0


def l1_distance(edit: np.ndarray, gt: np.ndarray) -> float:
    """MagicBrush L1: ``mean |y − gt|`` on [0, 1], HxWx3 uint8 in (y resized to gt's size)."""
    a, b = _to_gt_size(edit, gt)
    return float(np.mean(np.abs(a - b)))


def l2_distance(edit: np.ndarray, gt: np.ndarray) -> float:
    """MagicBrush L2: ``mean (y − gt)²`` on [0, 1] (``nn.MSELoss``), y resized to gt's size."""
    a, b = _to_gt_size(edit, gt)
    return float(np.mean((a - b) ** 2))


def resize_center_crop(
    image: np.ndarray,
    resize: int,
    crop: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """torchvision's ``Resize(resize, bicubic) → CenterCrop(crop) → ToTensor → Normalize`` on the
    PIL image of an HxWx3 uint8 array: a 1×3×crop×crop float32 tensor."""
    _check_rgb_uint8("image", image)
    pil = Image.fromarray(image)
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    if crop > min(new_w, new_h):
        raise InputError(
            f"resize_center_crop: crop {crop} is larger than the resized {new_w}×{new_h}"
        )
    top = int(round((new_h - crop) / 2.0))
    left = int(round((new_w - crop) / 2.0))
    pixels = np.asarray(pil, dtype=np.uint8)[top : top + crop, left : left + crop]
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float() / 255
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return ((x - m) / s)[None]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


@torch.no_grad()
def clip_image_embedding(model, image: np.ndarray) -> torch.Tensor:
    """OpenAI CLIP's ``encode_image`` with its own preprocessing: (D,) float32, not normalised."""
    size = int(model.config.vision_config.image_size)
    param = next(model.parameters())
    pixels = resize_center_crop(image, size, size, CLIP_MEAN, CLIP_STD)
    out = model.get_image_features(pixel_values=pixels.to(param.device, param.dtype))
    return _as_tensor(out)[0].float()


def clip_i(model, edit: np.ndarray, gt: np.ndarray) -> float:
    """MagicBrush CLIP-I: cosine of the CLIP image embeddings of output and ground truth."""
    return _cosine(clip_image_embedding(model, edit), clip_image_embedding(model, gt))


def clip_t(model, processor, edit: np.ndarray, caption: str) -> float:
    """MagicBrush CLIP-T: cosine of the output's CLIP image embedding and the caption's."""
    text = clip_text_features(model, processor, [caption])[0]
    return _cosine(clip_image_embedding(model, edit), text)


@torch.no_grad()
def dino_cls(model, image: np.ndarray) -> torch.Tensor:
    """DINO's ``model(x)``: the CLS token after the final norm, (D,) float32."""
    param = next(model.parameters())
    pixels = resize_center_crop(image, DINO_RESIZE, DINO_CROP, IMAGENET_MEAN, IMAGENET_STD)
    out = model(pixel_values=pixels.to(param.device, param.dtype), interpolate_pos_encoding=True)
    return out.last_hidden_state[0, 0].float()


def dino_similarity(model, edit: np.ndarray, gt: np.ndarray) -> float:
    """MagicBrush DINO: cosine of the DINO ViT-S/16 CLS features of output and ground truth."""
    return _cosine(dino_cls(model, edit), dino_cls(model, gt))


def magicbrush_metrics(
    edit: np.ndarray,
    gt: np.ndarray,
    caption: str | None,
    *,
    clip: tuple[Any, Any] | None = None,
    dino: Any = None,
) -> dict[str, float | None]:
    """Every MagicBrush column for one output: ``l1``, ``l2``, ``clip_i``, ``clip_t``, ``dino``.

    ``clip`` is a ``(CLIPModel, CLIPProcessor)`` pair (ViT-B/32), ``dino`` a ``ViTModel``
    (``facebook/dino-vits16``). A missing model, or a missing caption for CLIP-T, gives None: a
    column that was not computed, never a number.
    """
    row: dict[str, float | None] = {
        "l1": l1_distance(edit, gt),
        "l2": l2_distance(edit, gt),
        "clip_i": None,
        "clip_t": None,
        "dino": None,
    }
    if clip is not None:
        model, processor = clip
        row["clip_i"] = clip_i(model, edit, gt)
        if caption:
            row["clip_t"] = clip_t(model, processor, edit, caption)
    if dino is not None:
        row["dino"] = dino_similarity(model=dino, edit=edit, gt=gt)
    return row
