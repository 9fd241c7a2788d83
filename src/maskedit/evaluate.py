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

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.errors import InputError, MaskeditError, MaskeditWarning
from maskedit.outputs import (
    METRICS_FILE,
    atomic_write_text,
    dumps_json,
    write_case_metrics,
)

if TYPE_CHECKING:
    from maskedit.record import EditResult

RESULTS_FILE = "results.jsonl"  # one row per case x output
SUMMARY_FILE = "summary.csv"  # one row per output (method)
BASELINE = "baseline"
REFERENCE_MASK_FILE = "reference_mask.png"  # what a case is scored against, when it has one
GROUND_TRUTH_FILE = "ground_truth.png"  # a dataset's target image (MagicBrush)
ANNOTATION, OWN_MASK = "annotation", "own mask"  # the values of a row's `scored_against`

# The numeric columns, in the order tables show them.
METRIC_KEYS = (
    "iou",
    "leakage",
    "change_threshold",
    "bg_mse",
    "bg_psnr",
    "bg_ssim",
    "bg_lpips",
    "structure_distance",
    "clip_cosine",
    "clip_score",
    "clip_score_region",
    "clip_directional",
    "l1",
    "l2",
    "clip_i",
    "clip_t",
    "dino",
)


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


def read_record(case_dir: str | os.PathLike) -> dict[str, Any]:
    """A case folder's record.json, with its ``"methods"`` checked (name -> image file).

    Every way it can be damaged (truncated, NUL bytes, not an object, a file outside the case
    folder) is one `InputError` naming the file.
    """
    case_dir = Path(case_dir)
    path = case_dir / "record.json"
    if not path.is_file():
        raise InputError(f"case folder '{case_dir}': no record.json (not a finished case)")
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:  # ValueError: bad JSON or UTF-8
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise InputError(f"'{path}': not valid JSON ({detail})") from None
    if not isinstance(record, dict):
        raise InputError(f"'{path}': expected a JSON object, got a {type(record).__name__}")
    methods = record.get("methods") or {record.get("method") or "blended": "blended.png"}
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise InputError(f"'{path}': 'methods' must map method names to file names")
    if BASELINE in methods:
        raise InputError(f"'{path}': a method may not be called '{BASELINE}'")
    for file in methods.values():  # an absolute path or '..' would read a file from elsewhere
        if file in ("", ".", "..") or "/" in file or "\\" in file or "\0" in file:
            raise InputError(f"'{path}': {file!r} is not a file name inside the case folder")
    record["methods"] = methods
    return record


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


def case_dirs(out_dir: str | os.PathLike) -> list[Path]:
    """The finished case folders of a run (those holding record.json), sorted by name.

    Folders starting with "." (the writer's temp folders) are ignored.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"run folder '{out_dir}': not found or not a folder")
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "record.json").is_file()
    )


def collect_rows(
    out_dir: str | os.PathLike, case_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Every case folder's metrics.json rows: by case id, then baseline, then methods in order.

    Cases without metrics.json (not evaluated yet) are skipped; `case_ids` keeps only those
    folders (a run's tables cover the cases of its manifest).
    """
    rows = []
    wanted = None if case_ids is None else set(case_ids)
    for case_dir in case_dirs(out_dir):
        if wanted is not None and case_dir.name not in wanted:
            continue
        path = case_dir / METRICS_FILE
        if not path.is_file():
            continue
        try:
            case_rows = _read_metrics(path, case_dir.name)
        except InputError as err:  # one damaged file does not hide every other case
            warnings.warn(f"{err}; its case is left out of the tables", MaskeditWarning, 2)
            continue
        rows.append((str(case_rows[0]["case_id"]) if case_rows else case_dir.name, case_rows))
    rows.sort(key=lambda item: item[0])
    return [row for _, case_rows in rows for row in case_rows]


def _read_metrics(path: Path, case_id: str) -> list[dict[str, Any]]:
    """A metrics.json's rows, each a JSON object with a "method" and numbers (or null) for the
    metric columns; anything else is one `InputError` naming the file."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise InputError(f"'{path}': not valid JSON ({detail})") from None
    case_rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(case_rows, list):
        raise InputError(f"'{path}': expected {{\"rows\": [...]}}; run maskedit eval again")
    for row in case_rows:
        if not isinstance(row, dict) or not isinstance(row.get("method"), str):
            raise InputError(f"'{path}': a row without a \"method\"; run maskedit eval again")
        for key in METRIC_KEYS:
            value = row.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InputError(f"'{path}': {key} is {value!r}, not a number")
        if not isinstance(row.get("case_id"), str):
            row["case_id"] = case_id
    return case_rows


def _method_order(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Baseline first, then the methods in the order they first appear."""
    order: list[str] = []
    for row in rows:
        if row["method"] not in order:
            order.append(row["method"])
    return sorted(order, key=lambda m: m != BASELINE)  # stable: keeps first-seen order otherwise


def scored_against(rows: Iterable[dict[str, Any]]) -> str | None:
    """The one mask the rows were scored against (``"annotation"`` or ``"own mask"``; rows from
    before the column existed count as own mask), None for no rows. Rows scored against both
    cannot share a table: their background numbers mean different things."""
    counts: dict[str, set[str]] = {}
    for i, row in enumerate(rows):
        case = str(row.get("case_id", f"#{i}"))  # rows straight from score_outputs have no id
        counts.setdefault(row.get("scored_against") or OWN_MASK, set()).add(case)
    if len(counts) > 1:
        raise InputError(
            f"results mix {len(counts.get(ANNOTATION, ()))} case(s) scored against the "
            f"annotation and {len(counts.get(OWN_MASK, ()))} against their own mask; one table "
            "cannot compare them: run and evaluate them in separate folders"
        )
    return next(iter(counts), None)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: ``n`` cases, ``scored_against``, and for every metric present
    ``<m>_mean``, ``<m>_std`` (population std, ddof=0) and ``<m>_n`` (cases with a number), plus
    ``miou``.

    ``miou`` is the mean over cases of the per-case IoU (one IoU per case; the seed study called a
    single case's IoU "mIoU"). Metrics stored as None are left out of mean and std: for
    ``bg_psnr`` those are counted in ``bg_psnr_inf`` (identical background, ``bg_mse == 0``) and
    the rest have no background at all (mask covering the image). Rows scored against different
    masks are refused (`scored_against`).
    """
    against = scored_against(rows)
    summary = []
    for method in _method_order(rows):
        mine = [r for r in rows if r["method"] == method]
        out: dict[str, Any] = {"method": method, "n": len(mine), "scored_against": against}
        for key in METRIC_KEYS:
            if not any(key in r for r in mine):
                continue
            values = np.array([r[key] for r in mine if r.get(key) is not None], dtype=np.float64)
            out[f"{key}_mean"] = float(values.mean()) if values.size else None
            out[f"{key}_std"] = float(values.std()) if values.size else None
            out[f"{key}_n"] = int(values.size)
            if key == "iou":
                out["miou"] = out["iou_mean"]
            if key == "bg_psnr":
                out["bg_psnr_inf"] = sum(
                    1 for r in mine if r.get("bg_psnr") is None and r.get("bg_mse") == 0
                )
        summary.append(out)
    return summary


def _summary_columns(summary: list[dict[str, Any]]) -> list[str]:
    columns = ["method", "n", "scored_against", "miou"]
    for key in METRIC_KEYS:
        for suffix in ("_mean", "_std", "_n"):
            if any(f"{key}{suffix}" in s for s in summary):
                columns.append(f"{key}{suffix}")
        if key == "bg_psnr" and any("bg_psnr_inf" in s for s in summary):
            columns.append("bg_psnr_inf")
    return [c for c in columns if any(c in s for s in summary)]


def write_tables(out_dir: str | os.PathLike, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Rewrite ``results.jsonl`` (one row per case x output) and ``summary.csv`` (one row per
    method), atomically. Both are rebuilt from ``rows`` every time: never appended to."""
    out_dir = Path(out_dir)
    results = out_dir / RESULTS_FILE
    atomic_write_text(results, "".join(dumps_json(row) + "\n" for row in rows))
    summary = summarise(rows)
    columns = _summary_columns(summary)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in summary:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    summary_path = out_dir / SUMMARY_FILE
    atomic_write_text(summary_path, buf.getvalue())
    return results, summary_path


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


# ---------------------------------------------------------------------------------------------
# the metric models a run or an evaluation needs

LPIPS_BENCHMARKS = STRUCTURE_BENCHMARKS = frozenset({"pie-bench"})  # whose tables have them
DINO_BENCHMARKS = frozenset({"magicbrush"})


def benchmarks_of(dirs: Iterable[str | os.PathLike]) -> set[str]:
    """The benchmarks the case folders come from (their records' ``benchmark.name``)."""
    names = set()
    for case_dir in dirs:
        try:
            tag = read_record(case_dir).get("benchmark")
        except MaskeditError:  # a damaged record: scoring names and skips that case
            continue
        if isinstance(tag, dict) and tag.get("name"):
            names.add(str(tag["name"]))
    return names


def load_backbones(
    lpips: str = "auto",
    structure: str = "auto",
    dino: str = "auto",
    *,
    benchmarks: Iterable[str] = (),
    tiny: bool = False,
    device: str | None = None,
) -> Backbones:
    """The LPIPS and DINO networks the metrics need, each chosen like ``--clip``.

    "none": not loaded; "tiny": random, built in code; "auto": loaded only when one of
    ``benchmarks`` reports the column (LPIPS and the structure distance for PIE-Bench, DINO for
    MagicBrush), tiny for tiny runs, else the benchmark's own checkpoint, skipped with one
    warning when its weights are missing; anything else is a folder (LPIPS) or a hub id / folder
    (DINO) that must load.
    """
    from maskedit import models

    wanted = set(benchmarks)
    dev = models.pick_device(device)

    def pick(choice: str, needed: frozenset[str], build_tiny, load_real, default):
        if choice == "none" or (choice == "auto" and not wanted & needed):
            return None
        if choice == "tiny" or (choice == "auto" and tiny):
            return build_tiny().to(dev)
        return load_real(default if choice == "auto" else choice, dev, required=choice != "auto")

    from maskedit.tiny.metrics import build_tiny_dino, build_tiny_lpips

    return Backbones(
        lpips=pick(lpips, LPIPS_BENCHMARKS, build_tiny_lpips, models.load_lpips, None),
        structure=pick(
            structure,
            STRUCTURE_BENCHMARKS,
            lambda: build_tiny_dino(seed=1),
            models.load_dino,
            models.DEFAULT_DINO_STRUCTURE_ID,
        ),
        dino=pick(
            dino,
            DINO_BENCHMARKS,
            build_tiny_dino,
            models.load_dino,
            models.DEFAULT_DINO_MAGICBRUSH_ID,
        ),
    )


def default_clip_id(benchmarks: Iterable[str]) -> str | None:
    """The CLIP ``--clip auto`` loads for real models: PIE-Bench's ViT-L/14 when every case is
    PIE-Bench's, else None (maskedit's default, ViT-B/32, which MagicBrush also uses)."""
    from maskedit.models import DEFAULT_CLIP_PIE_ID

    names = set(benchmarks)
    return DEFAULT_CLIP_PIE_ID if names == {"pie-bench"} else None


def load_metric_models(
    clip: str = "auto",
    lpips: str = "auto",
    structure: str = "auto",
    dino: str = "auto",
    *,
    benchmarks: Iterable[str] = (),
    tiny: bool = False,
    device: str | None = None,
) -> tuple[tuple[Any, Any] | None, Backbones]:
    """The CLIP pair (``--clip``; "auto" is PIE-Bench's ViT-L/14 for a PIE-Bench run) and the
    `Backbones` (`load_backbones`) a run or an evaluation of ``benchmarks``' cases scores with."""
    from maskedit.models import clip_for_metrics

    names = set(benchmarks)
    pair = clip_for_metrics(clip, tiny=tiny, device=device, default=default_clip_id(names))
    return pair, load_backbones(lpips, structure, dino, benchmarks=names, tiny=tiny, device=device)
