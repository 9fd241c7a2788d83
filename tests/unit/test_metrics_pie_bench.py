"""Every PIE-Bench column for one output: the functions it is built from, the CLIP columns as
PIE-Bench's `calculate_clip_similarity` feeds torchmetrics, and None for a model not given."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_backbones import tiny_dino, tiny_lpips

from maskedit.metrics import (
    PIE_BENCH_COLUMNS,
    background_metrics,
    masked_lpips,
    pie_bench_metrics,
    structure_distance,
)
from maskedit.tiny import build_tiny_clip

TOL = 1e-5


@pytest.fixture(scope="module")
def models():
    return build_tiny_clip(seed=0), tiny_lpips(seed=0), tiny_dino(patch_size=32, seed=0)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    edit = np.clip(original.astype(int) + rng.integers(-30, 31, original.shape), 0, 255).astype(
        np.uint8
    )
    mask = np.zeros((64, 64), bool)
    mask[16:48, 8:40] = True
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True  # PIE-Bench's decoded border
    return edit, original, mask


class _FeaturesAsTensors(torch.nn.Module):
    """torchmetrics 1.9 + transformers >= 5: unwrap `get_*_features` (see test_metrics_clip)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs):
        out = self.model.get_image_features(*args, **kwargs)
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_text_features(self, *args, **kwargs):
        out = self.model.get_text_features(*args, **kwargs)
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def test_row_is_built_from_the_column_functions(models, case):
    clip, lpips, dino = models
    edit, original, mask = case
    row = pie_bench_metrics(edit, original, mask, "a cat", clip=clip, lpips=lpips, dino=dino)
    assert tuple(row) == PIE_BENCH_COLUMNS
    background = background_metrics(edit, original, mask)
    assert row["bg_mse"] == background["bg_mse"] and row["bg_psnr"] == background["bg_psnr"]
    assert row["bg_ssim"] == background["bg_ssim"]
    assert row["bg_lpips"] == masked_lpips(lpips, edit, original, mask) > 0
    assert row["structure_distance"] == structure_distance(dino, edit, original) > 0


@pytest.mark.parametrize("text", ["a red shirt", "a playful robot dog"])
def test_clip_columns_are_pie_bench_calculate_clip_similarity(models, case, text):
    """cure-lab/PnPInversion evaluation/matrics_calculator.py: `np.uint8(img * mask)` (mask HxWx3,
    0/1) as a 3xHxW tensor into torchmetrics' CLIPScore; no mask for the whole image."""
    multimodal = pytest.importorskip("torchmetrics.multimodal")
    (model, processor), _, _ = models
    edit, original, mask = case
    metric = multimodal.CLIPScore(model_name_or_path=lambda: (_FeaturesAsTensors(model), processor))
    mask3 = mask[:, :, np.newaxis].repeat([3], axis=2).astype(np.float64)
    whole = metric(torch.tensor(edit).permute(2, 0, 1), text).item()
    edited = metric(torch.tensor(np.uint8(edit * mask3)).permute(2, 0, 1), text).item()
    row = pie_bench_metrics(edit, original, mask, text, clip=(model, processor))
    assert abs(row["clip_whole"] - whole) <= TOL and abs(row["clip_edited"] - edited) <= TOL
    assert row["clip_whole"] != row["clip_edited"]


def test_models_not_given_leave_their_columns_none(case):
    edit, original, mask = case
    row = pie_bench_metrics(edit, original, mask, "a cat")
    for key in ("structure_distance", "bg_lpips", "clip_whole", "clip_edited"):
        assert row[key] is None, key
    assert row["bg_mse"] > 0 and math.isfinite(row["bg_psnr"])


def test_nothing_to_score_is_nan(models, case):
    clip, lpips, _ = models
    edit, original, _ = case
    full = pie_bench_metrics(
        edit, original, np.ones((64, 64), bool), "a cat", clip=clip, lpips=lpips
    )
    assert all(math.isnan(full[k]) for k in ("bg_mse", "bg_psnr", "bg_ssim", "bg_lpips"))
    empty = pie_bench_metrics(edit, original, np.zeros((64, 64), bool), "a cat", clip=clip)
    assert math.isnan(empty["clip_edited"]) and empty["clip_whole"] >= 0
