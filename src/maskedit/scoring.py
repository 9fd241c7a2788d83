"""An edit's rows of metrics from its images in memory: each output against the original and
one mask (locality, background, CLIP), and beside a ground truth (MagicBrush). Arrays and the
metric models in, rows out; the folders and tables are `maskedit.evaluate`'s and
`maskedit.tables`'."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from maskedit.errors import InputError
from maskedit.images import stored_alpha
from maskedit.tables import ANNOTATION, OWN_MASK


@dataclass(frozen=True)
class Backbones:
    """The metric networks beyond CLIP, each optional: a missing one leaves its column out.

    ``lpips``: an `maskedit.metrics.LpipsNet` (PIE-Bench's background LPIPS); ``structure``: a DINO
    ViT-B/8 ``ViTModel`` (PIE-Bench's structure distance); ``dino``: a DINO ViT-S/16 ``ViTModel``
    (MagicBrush's DINO against the ground truth).
    """

    lpips: Any = None
    structure: Any = None
    dino: Any = None


@dataclass(frozen=True)
class Scorers:
    """What every case of a run is scored with: the CLIP pair (None: no CLIP columns), the
    `Backbones` and the change-map threshold (None: max(10, mean)). `clips`: a benchmark's own
    CLIP pair, for its cases, where it is not `clip` (PIE-Bench's ViT-L/14 in a run that also
    holds other cases); `for_benchmark` picks a case's."""

    clip: tuple[Any, Any] | None = None
    backbones: Backbones | None = None
    threshold: float | None = None
    clips: Mapping[str, tuple[Any, Any] | None] | None = None

    def for_benchmark(self, name: str | None) -> Scorers:
        """What a case of benchmark `name` (None: none) is scored with."""
        if not self.clips or name not in self.clips:
            return self
        return replace(self, clip=self.clips[name], clips=None)


def _finite_or_none(value: float) -> float | None:
    """A float for JSON, or None for inf/NaN (strict JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _check_rgb(name: str, image: np.ndarray, shape: tuple[int, ...] | None = None) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape {image.shape}"
        )
    if shape is not None and image.shape != shape:
        raise InputError(f"{name}: expected shape {shape} (the original's), got {image.shape}")


UNNAMED_CLIP = "unnamed (random or in-code model)"  # what `clip_name` calls the tiny CLIP
# Which formulas scored a case, kept in its scoring key: raised when a metric's formula changes,
# so that finished cases are scored again. 2: PIE-Bench's SSIM leaves out 5 pixels at each edge.
# 3: a soft mask is binarised as mask.png stores it (a feathered edge's 0.5 is inside).
FORMULAS = 3


def clip_name(clip: tuple[Any, Any]) -> str:
    """The CLIP model's hub id or folder, so tables say which CLIP scored them (not comparable)."""
    return _name_or_path(clip[0]) or UNNAMED_CLIP


def scoring_key(scorers: Scorers) -> dict[str, Any]:
    """What a case's metrics.json was scored with, kept in it: the metrics' `FORMULAS`, the
    change threshold and the name of each metric network (None: its columns were left out). A
    finished case whose key differs from the run's is scored again from its folder, not edited
    again."""
    backbones = scorers.backbones or Backbones()
    return {
        "formulas": FORMULAS,
        "threshold": scorers.threshold,
        "clip": clip_name(scorers.clip) if scorers.clip is not None else None,
        **{name: _net_name(getattr(backbones, name)) for name in ("lpips", "structure", "dino")},
    }


def _net_name(net: Any) -> str | None:
    """A metric network's hub id or folder, else its class (random, built in code)."""
    if net is None:
        return None
    return _name_or_path(net) or type(net).__name__


def _name_or_path(net: Any) -> str:
    """Where a transformers model (or maskedit's LPIPS) was loaded from ("" for one built in
    code)."""
    config = getattr(net, "config", None)
    return getattr(config, "_name_or_path", "") or getattr(net, "name_or_path", "") or ""


def same_scoring(kept: Mapping[str, Any] | None, now: Mapping[str, Any]) -> bool:
    """Whether a folder's kept scoring key agrees with `now` on every entry `now` has: before
    loading, a network "auto" picks cannot be named (`maskedit.case_plan.named_scoring` leaves
    it out). A kept key without one of those entries (cut, damaged: `read_scoring` gives {} for
    a value that is not a mapping) agrees with none; no key (None: scored before keys were kept,
    with older formulas) neither."""
    if kept is None:
        return False
    return all(name in kept and kept[name] == value for name, value in now.items())


def case_columns(
    clip: tuple[Any, Any] | None, benchmark: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The columns every row of a case repeats: the CLIP model, the benchmark and mask source
    (a one-turn case's and a multi-turn edit's alike)."""
    extra: dict[str, Any] = {"clip_model": clip_name(clip)} if clip is not None else {}
    if benchmark:
        extra["benchmark"] = benchmark.get("name")
        extra["mask_source"] = benchmark.get("mask_source")
        if benchmark.get("id"):
            extra["benchmark_id"] = benchmark["id"]
    return extra


def score_outputs(
    original: np.ndarray,
    alpha: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    instruction: str,
    *,
    captions: Mapping[str, str | None] | None = None,
    clip: tuple[Any, Any] | None = None,
    threshold: float | None = None,
    reference: np.ndarray | None = None,
    ground_truth: np.ndarray | None = None,
    backbones: Backbones | None = None,
) -> list[dict[str, Any]]:
    """One row of metrics per output, in the order of ``outputs``.

    ``original`` and every output are HxWx3 uint8; ``alpha`` is the case's own HxW mask in [0, 1]
    (bool accepted). ``reference`` (HxW, same forms) is the mask the benchmark scores against:
    when given, every metric that needs a region uses it instead of ``alpha``. The mask used is
    binarised at ``> 0.5`` as mask.png stores it (8 bits: `maskedit.images.stored_alpha`), so
    a fresh edit scores as `maskedit eval` scores its folder. ``threshold`` replaces the study's
    adaptive change threshold ``max(10, mean(change))`` (0-255 scale). ``clip`` is a
    ``(CLIPModel, CLIPProcessor)`` pair; without it the CLIP columns are left out. ``captions``
    holds optional ``"source"`` / ``"target"`` / ``"local"`` captions (PIE-Bench prompts,
    MagicBrush descriptions).
    ``ground_truth`` (HxWx3 uint8, any size) adds MagicBrush's columns; ``backbones`` the LPIPS
    and DINO ones.
    """
    from maskedit.metrics import (  # here, not at the top: the CLIP metrics import torch
        background_metrics,
        binarize_change,
        change_map,
        clip_cosine,
        clip_directional,
        clip_score,
        clip_score_region,
        iou,
        leakage,
    )
    from maskedit.metrics.change import STUDY_CHANGE_FLOOR

    _check_rgb("original", original)
    if alpha.shape != original.shape[:2]:
        raise InputError(f"alpha: expected shape {original.shape[:2]}, got {alpha.shape}")
    if reference is not None and reference.shape != original.shape[:2]:
        raise InputError(
            f"reference mask: expected shape {original.shape[:2]}, got {reference.shape}"
        )
    scoring = alpha if reference is None else reference
    mask = stored_alpha(scoring) > 0.5 if scoring.dtype != np.bool_ else scoring
    if ground_truth is not None:
        _check_rgb("ground truth", ground_truth)
    backbones = backbones or Backbones()
    captions = captions or {}
    source, target = captions.get("source"), captions.get("target")
    score_text = target or instruction
    rows = []
    for name, image in outputs.items():
        _check_rgb(f"output '{name}'", image, original.shape)
        change = change_map(image, original)
        t = max(STUDY_CHANGE_FLOOR, float(change.mean())) if threshold is None else threshold
        background = background_metrics(image, original, mask)  # masked images built once
        row: dict[str, Any] = {
            "method": name,
            "scored_against": OWN_MASK if reference is None else ANNOTATION,
            # no region: nothing to overlap (an unchanged output would score a perfect 1.0)
            "iou": iou(binarize_change(change, threshold=t), mask) if mask.any() else None,
            "leakage": leakage(change, mask),
            "change_threshold": float(t),
            **{key: _finite_or_none(value) for key, value in background.items()},
        }
        row.update(_backbone_columns(image, original, mask, backbones))
        if clip is not None:
            model, processor = clip
            row["clip_cosine"] = clip_cosine(model, processor, image, instruction)
            row["clip_score"] = clip_score(model, processor, image, score_text)
            # an empty region leaves an all-black image: no score (PIE-Bench writes "nan")
            row["clip_score_region"] = (
                clip_score_region(model, processor, image, mask, score_text) if mask.any() else None
            )
            row["clip_score_text"] = "target" if target else "instruction"
            if source and target:
                row["clip_directional"] = clip_directional(
                    model, processor, original, image, source, target
                )
        if ground_truth is not None:
            row.update(_ground_truth_columns(image, ground_truth, captions, clip, backbones))
        rows.append(row)
    return rows


def _backbone_columns(
    image: np.ndarray, original: np.ndarray, mask: np.ndarray, backbones: Backbones
) -> dict[str, float | None]:
    """PIE-Bench's LPIPS (background) and structure distance (whole images), when loaded."""
    out: dict[str, float | None] = {}
    if backbones.lpips is not None:
        from maskedit.metrics import masked_lpips

        out["bg_lpips"] = _finite_or_none(masked_lpips(backbones.lpips, image, original, mask))
    if backbones.structure is not None:
        from maskedit.metrics import structure_distance

        distance = structure_distance(backbones.structure, image, original)
        out["structure_distance"] = _finite_or_none(distance)
    return out


def _ground_truth_columns(
    image: np.ndarray,
    ground_truth: np.ndarray,
    captions: Mapping[str, str | None],
    clip: tuple[Any, Any] | None,
    backbones: Backbones,
) -> dict[str, float]:
    """MagicBrush's columns against its ground truth; those it could not compute are left out."""
    from maskedit.metrics import magicbrush_metrics

    scores = magicbrush_metrics(
        image, ground_truth, captions.get("local"), clip=clip, dino=backbones.dino
    )
    return {key: value for key, value in scores.items() if value is not None}
