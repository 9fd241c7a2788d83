"""The report's multi-turn section: per-turn curves of each metric per method, and the strips.

Reads what `maskedit.turns` wrote: a multi-turn case folder's record.json names the turns on its
path (`"turns": {"path": [...]}`), and each turn's folder holds its metrics.json rows (the usual
columns against its parent and mask, ``drift_*`` against the photo outside every mask so far,
and the ground truth's columns when the case has them). A curve is the mean over the cases that
reached that turn. No torch here.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

# (key, label) of the per-turn curves, in order; a curve appears when some turn has the column.
CURVES = (
    ("drift_changed", "pixels outside the masks changed (share)"),
    ("drift_mse", "drift outside the masks (MSE, [0, 1])"),
    ("iou", "IoU (change map vs the turn's mask)"),
    ("leakage", "leakage (share of change outside the mask)"),
    ("clip_score", "CLIPScore"),
    ("l1", "L1 to the ground truth"),
    ("l2", "L2 to the ground truth"),
    ("clip_i", "CLIP-I to the ground truth"),
    ("clip_t", "CLIP-T (local caption)"),
    ("dino", "DINO to the ground truth"),
)
# The unmasked edits: the turn's baseline, and the plain editor's own chain (`baseline_chain`).
DASHED = ("baseline", "baseline_chain")
STRIP_WIDTH = 1100  # px; strips are downscaled to at most this width
MAX_STRIPS = 12


def turn_rows(case_dir: Path) -> list[dict[str, Any]]:
    """The metrics rows of every turn on a multi-turn case's path (none for other cases)."""
    try:
        record = json.loads((case_dir / "record.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    turns = record.get("turns") if isinstance(record, dict) else None
    if not isinstance(turns, dict):
        return []
    rows = []
    for k, turn_id in enumerate(turns.get("path") or [], start=1):
        path = case_dir / str(turns.get("folders", "turns")) / str(turn_id) / "metrics.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows += [{**row, "turn": k} for row in doc.get("rows", []) if isinstance(row, dict)]
    return rows


def _means(rows: list[dict[str, Any]], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """method -> (turns, mean of `key` over the cases at that turn), numbers only."""
    sums: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            sums.setdefault(row["method"], {}).setdefault(row["turn"], []).append(float(value))
    return {
        method: (sorted(by_turn), [sum(by_turn[t]) / len(by_turn[t]) for t in sorted(by_turn)])
        for method, by_turn in sums.items()
    }


def _curve(rows: list[dict[str, Any]], key: str, label: str) -> str:
    """One metric per turn, a line per method (the unmasked ones dashed), as a PNG data URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (method, (x, y)) in enumerate(_means(rows, key).items()):
        style = "--" if method in DASHED else "-"
        ax.plot(x, y, style, marker="o", ms=4, label=method, color=f"C{i}")
    ax.set_xlabel("turn")
    ax.set_title(label, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.lines:  # a legend of nothing is a warning and an empty box
        ax.legend(fontsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _strip(case_dir: Path) -> str:
    path = case_dir / "strip.png"
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.width > STRIP_WIDTH:
            img = img.resize((STRIP_WIDTH, round(img.height * STRIP_WIDTH / img.width)))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def turns_section(case_dirs: list[Path]) -> str:
    """The section's HTML, or "" when no case has turns."""
    by_case = {d: turn_rows(d) for d in case_dirs}
    cases = [d for d, rows in by_case.items() if rows]
    if not cases:
        return ""
    rows = [row for d in cases for row in by_case[d]]
    last = max(row["turn"] for row in rows)
    parts = [
        f"<h2>Turns ({len(cases)} multi-turn case{'s' if len(cases) != 1 else ''}, up to "
        f"{last} turns)</h2>",
        "<p class=\"meta\">Each turn edits the previous turn's output (the first method's); a "
        "point is the mean over the cases that reached that turn. Drift compares each output "
        "with the photo outside every mask so far: zero for an exact composite, measured for "
        "the unmasked baseline (dashed), and for the plain editor's own chain of edits "
        '("baseline_chain", dashed) when the cases ran it.</p>',
        '<div class="plots">',
    ]
    for key, label in CURVES:
        if any(isinstance(row.get(key), int | float) for row in rows):
            alt = html.escape(f"{label} per turn", quote=True)
            parts.append(f'<img alt="{alt}" src="{_curve(rows, key, label)}">')
    parts.append("</div>")
    for d in cases[:MAX_STRIPS]:
        if (d / "strip.png").is_file():
            parts.append(
                f'<h3>{html.escape(d.name)}</h3><img class="grid" alt="turns of '
                f'{html.escape(d.name, quote=True)}" src="{_strip(d)}">'
            )
    if len(cases) > MAX_STRIPS:
        parts.append(f'<p class="meta">Strips of the first {MAX_STRIPS} cases only.</p>')
    return "\n".join(parts)
