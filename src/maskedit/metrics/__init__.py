"""Metrics: pure functions from arrays (and, for CLIP, a model passed in) to floats.

- `change`: the seed study's locality metrics (change map, IoU, mIoU, leakage), the mask's area
  and the largest change outside it.
- `background`: PIE-Bench background preservation (MSE, PSNR, SSIM on images times 1 - mask).
- `clip`: CLIP cosine / CLIPScore / edited-region CLIPScore / directional similarity.

docs/metrics.md documents every formula and the protocol it comes from.
"""

from maskedit.metrics.background import (
    background_metrics,
    masked_background,
    masked_mse,
    masked_psnr,
    masked_ssim,
)
from maskedit.metrics.change import (
    area_fraction,
    binarize_change,
    change_map,
    iou,
    leakage,
    max_change_outside,
    miou,
)
from maskedit.metrics.clip import (
    clip_cosine,
    clip_directional,
    clip_image_features,
    clip_score,
    clip_score_region,
    clip_text_features,
)

__all__ = [
    "area_fraction",
    "binarize_change",
    "change_map",
    "clip_cosine",
    "clip_directional",
    "clip_image_features",
    "clip_score",
    "clip_score_region",
    "clip_text_features",
    "iou",
    "leakage",
    "max_change_outside",
    "background_metrics",
    "masked_background",
    "masked_mse",
    "masked_psnr",
    "masked_ssim",
    "miou",
]
