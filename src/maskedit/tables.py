"""A run folder's tables: its case records and metrics.json rows, read back; results.jsonl and
summary.csv rebuilt from them. Reads files only, never imports torch, so the report can use it."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.errors import InputError, MaskeditWarning
from maskedit.outputs import (
    METRICS_FILE,
    atomic_write_text,
    dumps_json,
)
from maskedit.record import BASELINE_CHAIN

RESULTS_FILE = "results.jsonl"  # one row per case x output
SUMMARY_FILE = "summary.csv"  # one row per output (method)
BASELINE = "baseline"
# The rows of unmasked edits: the baseline, and a multi-turn edit's plain-editor chain
UNMASKED_METHODS = (BASELINE, BASELINE_CHAIN)
ANNOTATION, OWN_MASK = "annotation", "own mask"  # the values of a row's `scored_against`
MULTI_TURN = "multi-turn"  # a row's `setting`: a multi-turn edit's final turn

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


def no_cases(out_dir: str | os.PathLike) -> InputError:
    """The error for a run folder without finished cases; one that is itself a case folder (what
    `maskedit edit` writes) is named as such."""
    out_dir = Path(out_dir)
    words = f"run folder '{out_dir}': no finished case folders (with record.json)"
    if (out_dir / "record.json").is_file():
        words += f"; it is one case folder: give the folder that holds it ('{out_dir.parent}')"
    return InputError(words)


def case_dirs(out_dir: str | os.PathLike) -> list[Path]:
    """The finished case folders of a run (those holding record.json), sorted by name.

    Folders starting with "." (the writer's temp folders) are ignored, and so are symbolic
    links (maskedit writes no case folder as one): nothing is scored or written through a link
    into another folder.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"run folder '{out_dir}': not found or not a folder")
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.is_dir()
        and not p.is_symlink()
        and not p.name.startswith(".")
        and (p / "record.json").is_file()
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


def read_metrics(case_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """A case folder's metrics.json rows, checked as `collect_rows` checks them."""
    case_dir = Path(case_dir)
    return _read_metrics(case_dir / METRICS_FILE, case_dir.name)


def read_scoring(case_dir: str | os.PathLike) -> dict[str, Any] | None:
    """What a case folder's metrics.json says it was scored with (`scoring_key`), or None when
    it says nothing (written before the key was kept, or not readable); a key that is there but
    not a mapping (a list, a string, null) is {}: scored with something unknown."""
    try:
        doc = json.loads((Path(case_dir) / METRICS_FILE).read_bytes(), parse_constant=_not_strict)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or "scoring" not in doc:
        return None
    return doc["scoring"] if isinstance(doc["scoring"], dict) else {}


def _not_strict(name: str) -> float:
    """Python's JSON reader takes NaN and Infinity; metrics.json is strict JSON (maskedit writes
    null for a number that is not finite), so either means the file was written elsewhere."""
    raise ValueError(f"{name} is not a number strict JSON has; maskedit writes null")


def _read_metrics(path: Path, case_id: str) -> list[dict[str, Any]]:
    """A metrics.json's rows, each a JSON object with a "method" and numbers (or null) for the
    metric columns; anything else is one `InputError` naming the file."""
    try:
        doc = json.loads(path.read_bytes(), parse_constant=_not_strict)
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
    masks are refused (`scored_against`). A benchmark run whose editing masks come from several
    sources (annotation, click, phrase, ...) gets one row per method and ``mask_source``: each
    source is its own experiment, and the unmasked baseline would count once per source.
    """
    against = scored_against(rows)
    sources = mask_sources(rows)
    summary = []
    for method, source in [(m, s) for m in _method_order(rows) for s in sources]:
        mine = [r for r in rows if r["method"] == method and _source(r, sources) == source]
        if not mine:
            continue
        out: dict[str, Any] = {"method": method, "n": len(mine), "scored_against": against}
        if source is not None:
            out["mask_source"] = source
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


def mask_sources(rows: Iterable[dict[str, Any]]) -> list[str | None]:
    """The editing masks' sources the summary keeps apart, in first-seen order: [None] (one
    group) unless the rows come from more than one."""
    seen = list(dict.fromkeys(r.get("mask_source") for r in rows))
    return seen if len(seen) > 1 else [None]


def _source(row: dict[str, Any], sources: list[str | None]) -> str | None:
    return row.get("mask_source") if sources != [None] else None


def _summary_columns(summary: list[dict[str, Any]]) -> list[str]:
    columns = ["method", "mask_source", "n", "scored_against", "miou"]
    for key in METRIC_KEYS:
        for suffix in ("_mean", "_std", "_n"):
            if any(f"{key}{suffix}" in s for s in summary):
                columns.append(f"{key}{suffix}")
        if key == "bg_psnr" and any("bg_psnr_inf" in s for s in summary):
            columns.append("bg_psnr_inf")
    if not summary:  # no case scored: the header alone, not an empty file
        return [c for c in columns if c != "mask_source"]
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
