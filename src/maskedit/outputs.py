"""Write one case folder atomically: build it in a temp folder beside it, then rename.

An interrupted run leaves no half case; a finished case is never overwritten unless asked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.errors import OutputError
from maskedit.grid import make_grid, mask_overlay
from maskedit.images import alpha_to_png_array, write_png
from maskedit.record import OUTPUT_FILES, EditResult, method_files

METRICS_FILE = "metrics.json"  # per case folder
METRICS_SCHEMA = 1


def _title(result: EditResult) -> str:
    s = result.settings
    guidance = f"guidance {s.text_cfg:g}"
    if s.image_cfg is not None:
        guidance = f"text {s.text_cfg:g}, image {s.image_cfg:g}"
    editor = result.models.get("editor", "ip2p")
    return f"\u201c{result.instruction}\u201d  {editor}, seed {s.seed}, {s.steps} steps, {guidance}"


def grid_for(result: EditResult) -> np.ndarray:  # noqa: F821 - numpy array
    p = result.prompts
    detected = result.mask_info.get("target", {}).get("boxes") or ()
    overlay = mask_overlay(
        result.original, result.alpha, p.points if p else (), p.box if p else None, detected
    )
    if result.sam is not None:
        mask_caption = f"mask (SAM, score {result.sam.scores[result.sam.best]:.2f})"
    else:
        mask_caption = f"mask ({result.mask_source})"
    if "target" in result.mask_info:
        t = result.mask_info["target"]
        mask_caption = f"mask ({t['backend']}: '{t['phrase']}', best {t['best_score']:.2f})"
    tiny = result.models.get("kind") == "tiny"
    panels = [("original", result.original), (mask_caption, overlay)]
    if result.baseline is not None:
        panels.append(("baseline (IP2P, unmasked)", result.baseline))
    panels += [(f"blended ({method})", image) for method, image in result.outputs.items()]
    return make_grid(
        panels,
        title=_title(result),
        banner=result.models.get("note", "") if tiny else "",
    )


def check_out_dir(out_dir: Path, force: bool = False) -> None:
    """Refuse to clobber: an existing file, or a folder holding a finished case without --force."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out '{out_dir}': exists and is a file, expected a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutputError(
            f"--out '{out_dir}': folder exists and is not empty; pass --force to replace it"
        )
    parent = out_dir.parent if out_dir.parent != Path("") else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise OutputError(f"--out '{out_dir}': '{probe}' is not writable")


def write_case(
    result: EditResult,
    out_dir: str | os.PathLike,
    case_id: str | None = None,
    force: bool = False,
    *,
    extra: dict | None = None,
    metrics: list[dict] | None = None,
    images: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write the images, the grid, record.json (plus `extra` keys) and, when given, the metrics
    rows (metrics.json) and further images (file name -> H×W×3 uint8, e.g. a dataset's
    ``ground_truth.png``) into `out_dir`, all or nothing."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir, force)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': cannot create its folder ({err.strerror})") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        files = OUTPUT_FILES
        write_png(tmp / files["original"], result.original)
        write_png(tmp / files["mask"], alpha_to_png_array(result.alpha))
        if result.reference is not None:
            write_png(tmp / "reference_mask.png", alpha_to_png_array(result.reference))
        if result.baseline is not None:
            write_png(tmp / files["baseline"], result.baseline)
        write_png(tmp / files["blended"], result.blended)
        if len(result.outputs) > 1:
            for method, name in method_files(list(result.outputs)).items():
                write_png(tmp / name, result.outputs[method])
        write_png(tmp / files["grid"], grid_for(result))
        for name, image in (images or {}).items():
            write_png(tmp / name, image)
        record = {**result.to_record(case_id), **(extra or {})}
        if metrics is not None:
            write_case_metrics(tmp, metrics)
        (tmp / files["record"]).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():  # only reached with force: swap the old folder out, then remove it
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except OSError as err:  # disk full, permissions, quota: nothing half-written stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write '{out_dir}': {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to ``path`` via a temp file in the same folder and ``os.replace``.

    Readers see the old file or the new one, never half of one. The file is made world-readable
    (0644): these are reports and tables to share, and ``mkstemp`` would leave them 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps_json(obj: Any, **kwargs: Any) -> str:
    # allow_nan=False: a stray inf/NaN is a bug here, not a number to write as invalid JSON
    return json.dumps(obj, allow_nan=False, ensure_ascii=False, **kwargs)


def write_case_metrics(case_dir: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write ``metrics.json``, ``{"schema": 1, "rows": [...]}``, into the case folder atomically."""
    path = Path(case_dir) / METRICS_FILE
    atomic_write_text(path, dumps_json({"schema": METRICS_SCHEMA, "rows": rows}, indent=2) + "\n")
    return path
