"""Score finished runs from the images on disk: per-case metrics.json, results.jsonl, summary.csv.

What ``maskedit eval DIR`` does. A run folder holds one folder per case (see `maskedit.outputs`):
``original.png``, ``mask.png``, ``baseline.png``, one image per method (``record.json``'s
``"methods"`` maps each method to its file) and ``record.json``; a case may also hold
``reference_mask.png`` (a dataset's annotation, or a mask file given beside an automatic mask) and
``ground_truth.png`` (MagicBrush's target image). Every output is scored, the unmasked baseline
included, against the original and one binary mask, ``alpha > 0.5``: the reference when the case
has one (as the benchmarks score), else the case's own mask.png. Each row says which in
``scored_against`` (``"annotation"`` or ``"own mask"``); a table that would mix the two is refused.

- locality (seed study, corrected): ``iou`` of the binarised change map with the mask,
  ``leakage`` (share of the change outside the mask), ``change_threshold`` (the threshold used);
- background (PIE-Bench): ``bg_mse``, ``bg_psnr``, ``bg_ssim`` on both images times ``1 - mask``,
  ``bg_lpips`` when an LPIPS network is given; ``structure_distance`` (DINO ViT-B/8) when given;
- CLIP (when a model is given): ``clip_cosine`` (seed study: image vs instruction), ``clip_score``
  and ``clip_score_region`` (torchmetrics / PIE-Bench, against the target caption when there is one,
  else the instruction) and ``clip_directional`` (when source and target captions both exist);
- against a ground truth (MagicBrush): ``l1``, ``l2``, ``clip_i`` and ``clip_t`` (CLIP given; the
  local caption), ``dino`` (DINO ViT-S/16 given).

A column whose model is not given is absent from the row, never a made-up number.
Rows are strict JSON: a metric that is not a finite number is stored as ``None`` (null).
``bg_psnr`` is ``None`` with ``bg_mse == 0`` when the backgrounds are identical (PSNR = +inf, what
an exact composite gives), and ``None`` with ``bg_mse`` also ``None`` when the mask covers the
whole image (no background: NaN). Summaries average the numbers that exist and count the rest.

``results.jsonl`` and ``summary.csv`` are derived files, rebuilt from every case folder's
``metrics.json`` each time, so a resumed run never duplicates rows. This module imports neither
torch nor the CLIP code until a case is scored, so the report can read tables without torch.
docs/evaluation.md has the columns; docs/metrics.md the formulas.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.errors import InputError, MaskeditWarning
from maskedit.outputs import write_case_metrics
from maskedit.tables import (
    ANNOTATION,
    BASELINE,
    OWN_MASK,
    case_dirs,
    collect_rows,
    read_record,
    write_tables,
)

if TYPE_CHECKING:
    from maskedit.record import EditResult

REFERENCE_MASK_FILE = "reference_mask.png"  # what a case is scored against, when it has one
GROUND_TRUTH_FILE = "ground_truth.png"  # a dataset's target image (MagicBrush)


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
    binarised at ``> 0.5``. ``threshold`` replaces the study's adaptive change threshold
    ``max(10, mean(change))`` (0-255 scale). ``clip`` is a ``(CLIPModel, CLIPProcessor)`` pair;
    without it the CLIP columns are left out. ``captions`` holds optional ``"source"`` /
    ``"target"`` / ``"local"`` captions (PIE-Bench prompts, MagicBrush descriptions).
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
    mask = scoring > 0.5 if scoring.dtype != np.bool_ else scoring
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
            "iou": iou(binarize_change(change, threshold=t), mask),
            "leakage": leakage(change, mask),
            "change_threshold": float(t),
            **{key: _finite_or_none(value) for key, value in background.items()},
        }
        row.update(_backbone_columns(image, original, mask, backbones))
        if clip is not None:
            model, processor = clip
            row["clip_cosine"] = clip_cosine(model, processor, image, instruction)
            row["clip_score"] = clip_score(model, processor, image, score_text)
            row["clip_score_region"] = clip_score_region(model, processor, image, mask, score_text)
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

        out["structure_distance"] = structure_distance(backbones.structure, image, original)
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


def score_result(
    result: EditResult,
    case_id: str,
    *,
    captions: Mapping[str, str | None] | None = None,
    ground_truth: np.ndarray | None = None,
    benchmark: Mapping[str, Any] | None = None,
    clip: tuple[Any, Any] | None = None,
    threshold: float | None = None,
    backbones: Backbones | None = None,
) -> list[dict[str, Any]]:
    """The metrics rows of a fresh edit, as `score_case_dir` gives them from its folder later:
    baseline first, each with ``case_id`` and the case's extra columns."""
    outputs = dict(result.outputs)
    if result.baseline is not None:
        outputs = {BASELINE: result.baseline, **outputs}
    rows = score_outputs(
        result.original,
        result.alpha,
        outputs,
        result.instruction,
        captions=captions,
        clip=clip,
        threshold=threshold,
        reference=result.reference,
        ground_truth=ground_truth,
        backbones=backbones,
    )
    extra = _case_columns(clip, benchmark)
    if "reference_iou" in result.mask_info:  # the editing mask against the reference
        extra["mask_iou"] = result.mask_info["reference_iou"]
    return [{"case_id": case_id, **row, **extra} for row in rows]


def _case_columns(
    clip: tuple[Any, Any] | None, benchmark: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The columns every row of a case repeats: the CLIP model, the benchmark and mask source."""
    extra: dict[str, Any] = {"clip_model": clip_name(clip)} if clip is not None else {}
    if benchmark:
        extra["benchmark"] = benchmark.get("name")
        extra["mask_source"] = benchmark.get("mask_source")
        if benchmark.get("id"):
            extra["benchmark_id"] = benchmark["id"]
    return extra


def score_case_dir(
    case_dir: str | os.PathLike,
    *,
    clip: tuple[Any, Any] | None = None,
    threshold: float | None = None,
    captions: Mapping[str, str | None] | None = None,
    backbones: Backbones | None = None,
) -> list[dict[str, Any]]:
    """Score one case folder's baseline and every method from its images; writes nothing.

    Rows come baseline first, then the methods in ``record.json`` order; each carries
    ``"case_id"``. ``captions`` overrides the record's ``"captions"`` (e.g. from a dataset's
    ``captions.json``). A ``reference_mask.png`` is what the rows are scored against; a
    ``ground_truth.png`` adds MagicBrush's columns.
    """
    from maskedit.images import read_image, read_mask

    case_dir = Path(case_dir)
    record = read_record(case_dir)
    case_id = record.get("case_id")
    case_id = case_id if isinstance(case_id, str) and case_id else case_dir.name
    original = read_image(case_dir / "original.png")
    alpha = read_mask(case_dir / "mask.png", original.shape[:2])
    reference = None
    if (case_dir / REFERENCE_MASK_FILE).is_file():
        reference = read_mask(case_dir / REFERENCE_MASK_FILE, original.shape[:2])
    truth = None
    if (case_dir / GROUND_TRUTH_FILE).is_file():
        truth = read_image(case_dir / GROUND_TRUTH_FILE)
    files = dict(record["methods"])
    if (case_dir / "baseline.png").is_file():  # absent when a run skipped the baseline
        files = {BASELINE: "baseline.png", **files}
    outputs = {}
    for name, file in files.items():
        image = read_image(case_dir / file)
        if image.shape != original.shape:
            raise InputError(
                f"'{case_dir / file}': size {image.shape[1]}x{image.shape[0]} differs from "
                f"original.png's {original.shape[1]}x{original.shape[0]}"
            )
        outputs[name] = image
    if captions is None:
        captions = record.get("captions") if isinstance(record.get("captions"), dict) else None
    if captions:  # only text is a caption
        captions = {k: v for k, v in captions.items() if isinstance(v, str)} or None
    instruction = record.get("instruction")
    rows = score_outputs(
        original,
        alpha,
        outputs,
        instruction if isinstance(instruction, str) else "",
        captions=captions,
        clip=clip,
        threshold=threshold,
        reference=reference,
        ground_truth=truth,
        backbones=backbones,
    )
    benchmark = record.get("benchmark")
    extra = _case_columns(clip, benchmark if isinstance(benchmark, dict) else None)
    if reference is not None:  # the editing mask (as shaped) against the reference
        from maskedit.metrics import iou

        extra["mask_iou"] = round(iou(alpha > 0.5, reference > 0.5), 6)
    return [{"case_id": case_id, **row, **extra} for row in rows]


def clip_name(clip: tuple[Any, Any]) -> str:
    """The CLIP model's hub id or folder, so tables say which CLIP scored them (not comparable)."""
    name = getattr(getattr(clip[0], "config", None), "_name_or_path", "") or ""
    return name or "unnamed (random or in-code model)"


def evaluate_dir(
    out_dir: str | os.PathLike,
    *,
    clip: tuple[Any, Any] | None = None,
    threshold: float | None = None,
    captions: Mapping[str, Mapping[str, str | None]] | None = None,
    backbones: Backbones | None = None,
) -> list[dict[str, Any]]:
    """``maskedit eval DIR``: score every finished case from its images, write each case's
    metrics.json, then rebuild results.jsonl and summary.csv. Returns the rows.

    ``captions`` maps case id -> ``{"source", "target"}`` (a dataset's ``captions.json``) and
    overrides what the records hold; ``backbones`` adds the LPIPS and DINO columns.
    """
    out_dir = Path(out_dir)
    dirs = case_dirs(out_dir)
    if not dirs:
        raise InputError(f"run folder '{out_dir}': no finished case folders (with record.json)")
    scored = 0
    for case_dir in dirs:
        try:
            case_captions = None
            if captions is not None:
                case_id = read_record(case_dir).get("case_id")
                case_captions = captions.get(case_id if isinstance(case_id, str) else case_dir.name)
            rows = score_case_dir(
                case_dir,
                clip=clip,
                threshold=threshold,
                captions=case_captions,
                backbones=backbones,
            )
        except InputError as err:  # a damaged case folder is named and skipped
            warnings.warn(f"case '{case_dir.name}' skipped: {err}", MaskeditWarning, 2)
            continue
        write_case_metrics(case_dir, rows)
        scored += 1
    if not scored:
        raise InputError(f"run folder '{out_dir}': no case could be scored (see the warnings)")
    rows = collect_rows(out_dir)
    write_tables(out_dir, rows)
    return rows
