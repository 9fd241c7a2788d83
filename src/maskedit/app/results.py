"""A finished edit on the page: its metrics (the library's, by name) and its case folder.

Every edit is written with `write_case` into a per-session folder of one workspace; the page's
prompts go into record.json as its `"app"` section.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
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


def output_metrics(result: EditResult, method: str) -> dict[str, float]:
    """Every metric of one method's output (`compute_metrics` reads `blended`: that output)."""
    view = SimpleNamespace(original=result.original, alpha=result.alpha)
    view.blended = result.outputs[method]
    return compute_metrics(view)  # type: ignore[arg-type]


def verdict(values: dict[str, float]) -> str:
    """The outside-the-mask invariant in words: ✓ … or ✗ … ("" without that metric)."""
    outside = values.get(OUTSIDE)
    if outside is None:
        return ""
    if outside == 0:
        return "✓ outside the mask the result equals the input, bit for bit"
    return f"✗ the result differs from the input outside the mask (by {outside:g})"


def metrics_html(rows: dict[str, dict[str, float]]) -> str:
    """One table row per output (label → metrics), a column per metric, then the verdicts.

    All text is escaped: labels and names are shown as text, never as HTML or Markdown.
    """
    if not rows:
        return ""
    names = list(next(iter(rows.values())))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["output", *names])
    body = []
    for label, values in rows.items():
        cells = "".join(f"<td>{values[n]:.4g}</td>" for n in names)
        body.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    verdicts = {verdict(v) for v in rows.values()} - {""}
    lines = "".join(f"<p>{html.escape(v)}</p>" for v in sorted(verdicts))
    return (  # in a box of its own that scrolls sideways when there are many metrics
        f'<div class="metrics-scroll"><table class="metrics"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{lines}"
    )


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


def write_edit(
    result: EditResult,
    case_dir: Path,
    app_info: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the case with `write_case`, the page's prompts as record.json's `"app"` (and the
    `extra` keys: a several-region edit's `regions` and `overlaps`); the files.

    The library sees the mask as an array; `app_info` keeps the clicks, the box (or the phrase)
    and the slider values that made it, so the record still says how the mask came about.
    """
    from maskedit.outputs import write_case
    from maskedit.record import method_files

    write_case(result, case_dir, case_id=case_dir.name, extra={**(extra or {}), "app": app_info})
    names = [OUTPUT_FILES[key] for key in DOWNLOADS]
    per_method = [n for n in method_files(list(result.outputs)).values() if n not in names]
    names = names[:4] + per_method + names[4:]  # blended_<method>.png after blended.png
    return [case_dir / name for name in names if (case_dir / name).is_file()]


def zip_case(case_dir: Path) -> Path:
    """case_dir as one zip beside it (edit-002.zip holds edit-002/…): a run of several seeds
    offers one download per case, as their files share names."""
    import shutil

    case_dir = Path(case_dir)
    archive = shutil.make_archive(
        str(case_dir), "zip", root_dir=case_dir.parent, base_dir=case_dir.name
    )
    return Path(archive)
