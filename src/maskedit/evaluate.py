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
whole image (no background: NaN); ``clip_score_region`` is ``None`` when the mask is empty (no
edited region). Summaries average the numbers that exist and count the rest.

``results.jsonl`` and ``summary.csv`` are derived files, rebuilt from every case folder's
``metrics.json`` each time, so a resumed run never duplicates rows. This module imports neither
torch nor the CLIP code until a case is scored, so the report can read tables without torch.
docs/evaluation.md has the columns; docs/metrics.md the formulas.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.errors import InputError, MaskeditWarning
from maskedit.outputs import METRICS_FILE, write_case_metrics
from maskedit.record import GROUND_TRUTH_FILE, HISTORY_FILE
from maskedit.scoring import Backbones, Scorers, case_columns, score_outputs, scoring_key
from maskedit.tables import (
    BASELINE,
    case_dirs,
    collect_rows,
    no_cases,
    read_record,
    write_tables,
)

if TYPE_CHECKING:
    from maskedit.record import EditResult

REFERENCE_MASK_FILE = "reference_mask.png"  # what a case is scored against, when it has one


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
    extra = case_columns(clip, benchmark)
    if "reference_iou" in result.mask_info:  # the editing mask against the reference
        extra["mask_iou"] = result.mask_info["reference_iou"]
    return [{"case_id": case_id, **row, **extra} for row in rows]


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
    extra = case_columns(clip, benchmark if isinstance(benchmark, dict) else None)
    if reference is not None:  # the editing mask (as shaped) against the reference
        from maskedit.metrics import reference_iou

        extra["mask_iou"] = round(reference_iou(alpha, reference), 6)
    return [{"case_id": case_id, **row, **extra} for row in rows]


def _benchmark_name(case_dir: Path) -> str | None:
    """The benchmark a case folder's record names, or None (no benchmark, or no record yet:
    reading it again below says what is wrong)."""
    try:
        benchmark = read_record(case_dir).get("benchmark")
    except InputError:
        return None
    return benchmark.get("name") if isinstance(benchmark, dict) else None


def _forget_scores(case_dir: Path) -> bool:
    """Remove the metrics.json of a case that no longer scores (an output damaged since), so
    that no report or table counts what its files no longer show, and the next run edits it
    again. Only in a folder whose record is maskedit's. Whether one was removed."""
    try:
        read_record(case_dir)
        (case_dir / METRICS_FILE).unlink()
    except (InputError, FileNotFoundError):
        return False
    return True


def evaluate_dir(
    out_dir: str | os.PathLike,
    *,
    clip: tuple[Any, Any] | None = None,
    threshold: float | None = None,
    captions: Mapping[str, Mapping[str, str | None]] | None = None,
    backbones: Backbones | None = None,
    clips: Mapping[str, tuple[Any, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """``maskedit eval DIR``: score every finished case from its images, write each case's
    metrics.json, then rebuild results.jsonl and summary.csv from the cases scored now (a damaged
    case is named, skipped and left out: its old rows are not this scoring's). Returns the rows.
    A multi-turn case is scored as its run scored it: every turn's folder, then the edit as a
    whole.

    ``captions`` maps case id -> ``{"source", "target"}`` (a dataset's ``captions.json``) and
    overrides what the records hold; ``backbones`` adds the LPIPS and DINO columns; ``clips``
    gives a benchmark's cases their own CLIP (`Scorers.clips`).
    """
    from maskedit.turns import TurnsEdit  # torch: only when scoring

    out_dir = Path(out_dir)
    dirs = case_dirs(out_dir)
    if not dirs:
        raise no_cases(out_dir)
    scored: list[str] = []  # the folders scored now: only their rows make the tables
    run_scorers = Scorers(clip, backbones, threshold, clips)
    for case_dir in dirs:
        try:
            scorers = run_scorers.for_benchmark(_benchmark_name(case_dir))
            if (case_dir / HISTORY_FILE).is_file():  # a multi-turn case: each turn, then the edit
                TurnsEdit.open(case_dir).rescore(scorers)
                scored.append(case_dir.name)
                continue
            case_captions = None
            if captions is not None:
                case_id = read_record(case_dir).get("case_id")
                case_captions = captions.get(case_id if isinstance(case_id, str) else case_dir.name)
            rows = score_case_dir(
                case_dir,
                clip=scorers.clip,
                threshold=threshold,
                captions=case_captions,
                backbones=backbones,
            )
        except InputError as err:  # a damaged case folder is named and skipped
            gone = _forget_scores(case_dir)
            then = "; its old scores are removed: 'maskedit run' edits it again" if gone else ""
            warnings.warn(f"case '{case_dir.name}' skipped: {err}{then}", MaskeditWarning, 2)
            continue
        write_case_metrics(case_dir, rows, scoring_key(scorers))
        scored.append(case_dir.name)
    if not scored:
        raise InputError(f"run folder '{out_dir}': no case could be scored (see the warnings)")
    rows = collect_rows(out_dir, case_ids=scored)  # a skipped case's old metrics.json: not now
    write_tables(out_dir, rows)
    return rows
