"""Every PIE-Bench column for one output, as its evaluation code (``evaluation/evaluate.py``'s
default metric list) computes them:

    structure_distance     DINO ViT-B/8 key self-similarity, whole images (`metrics.structure`)
    bg_psnr, bg_lpips, bg_mse, bg_ssim    on both images times 1 − mask (`metrics.background`,
                           `metrics.lpips`)
    clip_whole             CLIPScore (ViT-L/14) of the output against the target prompt
    clip_edited            the same on output × mask (the edited region alone)

A column whose model is not given is None (not computed); a column with nothing to score is NaN,
as PIE-Bench writes "nan" (no background for the ``bg_*`` columns, an empty mask for
``clip_edited``). See docs/metrics.md.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from maskedit.metrics.background import background_metrics
from maskedit.metrics.clip import clip_score, clip_score_region
from maskedit.metrics.lpips import LpipsNet, masked_lpips
from maskedit.metrics.structure import structure_distance

PIE_BENCH_COLUMNS = (
    "structure_distance",
    "bg_psnr",
    "bg_lpips",
    "bg_mse",
    "bg_ssim",
    "clip_whole",
    "clip_edited",
)


def pie_bench_metrics(
    edit: np.ndarray,
    original: np.ndarray,
    mask: np.ndarray,
    target_prompt: str,
    *,
    clip: tuple[Any, Any] | None = None,
    lpips: LpipsNet | None = None,
    dino: Any = None,
    ssim_variant: Literal["pie", "skimage"] = "pie",
    antialias: bool = False,
) -> dict[str, float | None]:
    """PIE-Bench's columns for an HxWx3 uint8 output against the original and the HxW bool edit
    mask (1 = edit region; PIE-Bench's decoded mask, border included).

    ``clip`` is a ``(CLIPModel, CLIPProcessor)`` pair (PIE-Bench: ViT-L/14), ``lpips`` an
    `LpipsNet` (SqueezeNet), ``dino`` a ``ViTModel`` (``facebook/dino-vitb8``); ``antialias`` is the
    structure distance's resize (see `metrics.structure`).
    """
    background = background_metrics(edit, original, mask, variant=ssim_variant)
    row: dict[str, float | None] = dict.fromkeys(PIE_BENCH_COLUMNS)
    row["bg_psnr"] = background["bg_psnr"]
    row["bg_mse"] = background["bg_mse"]
    row["bg_ssim"] = background["bg_ssim"]
    if lpips is not None:
        row["bg_lpips"] = masked_lpips(lpips, edit, original, mask)
    if dino is not None:
        row["structure_distance"] = structure_distance(dino, edit, original, antialias=antialias)
    if clip is not None:
        model, processor = clip
        row["clip_whole"] = clip_score(model, processor, edit, target_prompt)
        binary = mask if mask.dtype == np.bool_ else mask > 0.5
        row["clip_edited"] = (
            clip_score_region(model, processor, edit, binary, target_prompt)
            if binary.any()
            else math.nan
        )
    return row
