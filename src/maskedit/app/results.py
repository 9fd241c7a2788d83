"""A finished edit on the page: its metrics (the library's, by name) and its case folder.

Every edit is written with `write_case` into a per-session folder of one workspace; the page's
prompts go into record.json as its `"app"` section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maskedit.record import OUTPUT_FILES

if TYPE_CHECKING:
    from maskedit.record import EditResult

OUTSIDE = "max |blended − original| outside mask"
# The files the page offers for download, in this order.
DOWNLOADS = ("original", "mask", "baseline", "blended", "grid", "record")


def mask_area_fraction(result: EditResult) -> float:
    """Fraction of the image where the edit is allowed (alpha > 0)."""
    from maskedit.metrics.change import area_fraction  # `maskedit.metrics` imports torch

    return area_fraction(result.alpha)


def max_change_outside_mask(result: EditResult) -> float:
    """max |blended − original| over pixels with alpha == 0, in 8-bit levels; must be 0."""
    from maskedit.metrics.change import max_change_outside

    return max_change_outside(result.blended, result.original, result.alpha)


# Name → function of the EditResult: a metric on the page is one entry more.
METRICS: dict[str, Callable[[EditResult], float]] = {
    "mask area fraction": mask_area_fraction,
    OUTSIDE: max_change_outside_mask,
}


def compute_metrics(
    result: EditResult, metrics: dict[str, Callable[[EditResult], float]] = METRICS
) -> dict[str, float]:
    """Every metric of one edit, by name."""
    return {name: fn(result) for name, fn in metrics.items()}


def metrics_markdown(values: dict[str, float]) -> str:
    """A two-column Markdown table, plus the verdict on the outside-the-mask invariant."""
    lines = ["| metric | value |", "| --- | --- |"]
    lines += [f"| {name.replace('|', '&#124;')} | {value:.4g} |" for name, value in values.items()]
    outside = values.get(OUTSIDE)
    if outside == 0:
        lines.append("\n✓ outside the mask the result equals the input, bit for bit")
    elif outside is not None:
        lines.append(f"\n✗ the result differs from the input outside the mask (by {outside:g})")
    return "\n".join(lines)


def session_dir(root: Path, session_hash: str | None) -> Path:
    """root/session-<id>; the id keeps only letters and digits (no path tricks)."""
    safe = re.sub(r"[^A-Za-z0-9]", "", session_hash or "")[:32] or "anonymous"
    return Path(root) / f"session-{safe}"


def next_case_dir(folder: Path) -> Path:
    """folder/edit-001, edit-002, …: the first number not taken."""
    taken = {p.name for p in folder.glob("edit-*")} if folder.is_dir() else set()
    n = 1
    while f"edit-{n:03d}" in taken:
        n += 1
    return folder / f"edit-{n:03d}"


def write_edit(result: EditResult, case_dir: Path, app_info: dict[str, Any]) -> list[Path]:
    """Write the case with `write_case`, the page's prompts as record.json's `"app"`; the files.

    The library sees the mask as an array; `app_info` keeps the clicks, the box (or the phrase)
    and the slider values that made it, so the record still says how the mask came about.
    """
    from maskedit.outputs import write_case

    write_case(result, case_dir, case_id=case_dir.name, extra={"app": app_info})
    return [case_dir / OUTPUT_FILES[key] for key in DOWNLOADS]
