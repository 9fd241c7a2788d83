"""Metrics: pure functions from arrays (and, for CLIP, a model passed in) to floats.

- `change`: the seed study's locality metrics (change map, IoU, mIoU, leakage), the mask's area
  and the largest change outside it.
- `background`: PIE-Bench background preservation (MSE, PSNR, SSIM on images times 1 - mask).
- `clip`: CLIP cosine / CLIPScore / edited-region CLIPScore / directional similarity.
- `lpips`: LPIPS (SqueezeNet, PIE-Bench's background LPIPS) over a backbone passed in.
- `structure`: PIE-Bench's structure distance (DINO ViT-B/8 key self-similarity).
- `magicbrush`: MagicBrush's L1, L2, CLIP-I, CLIP-T and DINO against the ground truth.
- `pie_bench`: every PIE-Bench column for one output.

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
    reference_iou,
)
from maskedit.metrics.clip import (
    clip_cosine,
    clip_directional,
    clip_image_features,
    clip_score,
    clip_score_region,
    clip_text_features,
)
from maskedit.metrics.lpips import LpipsNet, lpips_distance, lpips_score, masked_lpips
from maskedit.metrics.magicbrush import (
    clip_i,
    clip_t,
    dino_similarity,
    l1_distance,
    l2_distance,
    magicbrush_metrics,
)
from maskedit.metrics.pie_bench import PIE_BENCH_COLUMNS, pie_bench_metrics
from maskedit.metrics.structure import key_self_similarity, structure_distance

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
    "reference_iou",
    "LpipsNet",
    "lpips_distance",
    "lpips_score",
    "masked_lpips",
    "clip_i",
    "clip_t",
    "dino_similarity",
    "l1_distance",
    "l2_distance",
    "magicbrush_metrics",
    "PIE_BENCH_COLUMNS",
    "pie_bench_metrics",
    "key_self_similarity",
    "structure_distance",
]
