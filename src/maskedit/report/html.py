"""report.html: one self-contained page for a run folder (no network, no torch).

Everything is inline: CSS in a <style> block, images as base64 data URIs (downscaled JPEG
thumbnails of each case's grid and outputs, PNG plots drawn with matplotlib's Agg canvas). All text
that comes from records or metrics is escaped. The page reads what is on disk: record.json and
images of every case, and the metrics.json that ``maskedit eval`` wrote (cases not scored yet are
shown without numbers).
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskedit.errors import InputError, MaskeditWarning
from maskedit.evaluate import (
    BASELINE,
    METRICS_FILE,
    atomic_write_text,
    case_dirs,
    collect_rows,
    read_record,
    summarise,
)
from maskedit.report.benchmark import benchmark_section, scored_against_words
from maskedit.report.turns import turns_section

REPORT_FILE = "report.html"
GRID_WIDTH = 1100  # px; grids are downscaled to at most this width
THUMB_HEIGHT = 150  # px; per-method output thumbnails
JPEG_QUALITY = 82

# (key, header, format) of the metric columns shown, in order; a column appears when present.
COLUMNS = (
    ("iou", "IoU", "{:.3f}"),
    ("leakage", "leakage", "{:.3f}"),
    ("bg_psnr", "bg PSNR (dB)", "{:.2f}"),
    ("bg_ssim", "bg SSIM", "{:.4f}"),
    ("bg_mse", "bg MSE", "{:.2e}"),
    ("clip_cosine", "CLIP cos", "{:.4f}"),
    ("clip_score", "CLIPScore", "{:.2f}"),
    ("clip_score_region", "CLIPScore region", "{:.2f}"),
    ("clip_directional", "CLIP dir", "{:.4f}"),
    ("change_threshold", "change thr", "{:.1f}"),
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1240px; background: #fafafa; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta { color: #555; margin: 0 0 12px; } code { background: #eee; padding: 0 4px; }
.banner { background: #c62828; color: #fff; padding: 10px 14px; border-radius: 4px;
          font-weight: 600; margin: 10px 0; }
.note { background: #fff8e1; border: 1px solid #ffe082; padding: 8px 12px; border-radius: 4px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 10px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; font-size: 13px; text-align: right;
         white-space: nowrap; }
th { background: #f0f0f0; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
tr.baseline td { color: #666; } tr.published td { font-style: italic; color: #555; }
.scroll { overflow-x: auto; max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots img { background: #fff; border: 1px solid #ddd; max-width: 100%; }
.case { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px 14px;
        margin: 14px 0; }
.case img.grid { max-width: 100%; display: block; margin: 6px 0; }
.thumbs { display: flex; flex-wrap: wrap; gap: 8px; }
.thumbs figure { margin: 0; } .thumbs figcaption { font-size: 12px; color: #555; }
.instr { font-style: italic; }
"""


# ---------------------------------------------------------------------------------------------
# small helpers


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _jpeg_uri(img: Image.Image, *, max_width: int | None = None, height: int | None = None) -> str:
    """Downscaled JPEG data URI of a PIL image (fit to ``max_width`` or to ``height``)."""
    img = img.convert("RGB")
    w, h = img.size
    scale = 1.0
    if max_width is not None and w > max_width:
        scale = max_width / w
    if height is not None and h > height:
        scale = min(scale, height / h)
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return _data_uri(buf.getvalue(), "image/jpeg")


def _image_uri(path: Path, **fit: int) -> str | None:
    """`_jpeg_uri` of an image file, or None with one warning when it cannot be read (a
    truncated or zero-byte grid): the page is still written, without that picture."""
    try:
        with Image.open(path) as img:
            return _jpeg_uri(img, **fit)
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds; each is one warning
        detail = " ".join(str(err).split())[:160] or type(err).__name__
        warnings.warn(
            f"'{path}': not a readable image ({detail}); left out of the report", MaskeditWarning, 2
        )
        return None


def _fmt(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        if key == "bg_psnr" and row.get("bg_mse") == 0:
            return "∞"
        return "–" if key in row else ""
    return fmt.format(value)


def _fmt_stat(summary: dict[str, Any], key: str, fmt: str) -> list[str]:
    """A summary cell as lines: "mean ± std" (with n when some cases have no number), and for
    background PSNR how many cases had an identical background (∞, not averaged)."""
    mean, std, n = summary.get(f"{key}_mean"), summary.get(f"{key}_std"), summary.get(f"{key}_n")
    lines = []
    if mean is not None:
        line = f"{fmt.format(mean)} ± {fmt.format(std)}"
        lines.append(line + (f" (n={n})" if n is not None and n < summary["n"] else ""))
    if key == "bg_psnr" and summary.get("bg_psnr_inf"):
        lines.append(f"∞ in {summary['bg_psnr_inf']}/{summary['n']}")
    return lines or ["–"]


# ---------------------------------------------------------------------------------------------
# plots (matplotlib's object API with the Agg canvas: no pyplot, no global backend switch)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return _data_uri(buf.getvalue(), "image/png")


def _scatter_plot(rows: list[dict[str, Any]], methods: list[str]) -> str:
    """IoU against the first CLIP column present (else leakage), one colour per method."""
    ykey = next((k for k in ("clip_score", "clip_cosine") if any(k in r for r in rows)), "leakage")
    ylabel = {
        "clip_score": "CLIPScore (100·max(cos, 0))",
        "clip_cosine": "CLIP cosine (image, instruction)",
        "leakage": "leakage (share of change outside mask)",
    }[ykey]
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    for i, method in enumerate(methods):
        pts = [
            (r["iou"], r[ykey]) for r in rows if r["method"] == method and r.get(ykey) is not None
        ]
        if pts:
            x, y = zip(*pts, strict=True)
            marker = "x" if method == BASELINE else "o"
            ax.scatter(x, y, label=method, marker=marker, s=36, color=f"C{i}", alpha=0.85)
    ax.set_xlabel("IoU (change map vs mask)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(f"IoU vs {ykey.replace('_', ' ')} (one point per case)")
    ax.grid(alpha=0.3)
    ax.legend(title="method", fontsize=9)
    return _png_uri(fig)


def _psnr_plot(rows: list[dict[str, Any]], methods: list[str]) -> str:
    """Background PSNR per method: a box of the finite values, points, and ∞ drawn on top."""
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    finite = [
        [r["bg_psnr"] for r in rows if r["method"] == m and r.get("bg_psnr") is not None]
        for m in methods
    ]
    inf = [
        sum(
            1
            for r in rows
            if r["method"] == m and r.get("bg_psnr") is None and r.get("bg_mse") == 0
        )
        for m in methods
    ]
    values = [v for vs in finite for v in vs]
    top = (max(values) if values else 40.0) + 8.0
    rng = np.random.default_rng(0)  # fixed jitter: the same run gives the same picture
    for i, vs in enumerate(finite):
        if len(vs) > 1:
            ax.boxplot([vs], positions=[i], widths=0.5, showfliers=False)
        if vs:
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vs)), vs, s=18, color=f"C{i}", zorder=3)
        if inf[i]:
            ax.scatter([i], [top], marker="^", s=70, color=f"C{i}", zorder=3)
            ax.annotate(
                f"identical ×{inf[i]}",
                (i, top),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=9,
            )
    ax.axhline(top - 4.0, color="#bbb", lw=0.8, ls="--")
    ax.set_xticks(range(len(methods)), methods)
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylim(min(values, default=top - 20.0) - 3.0, top + 6.0)
    # finite ticks below the dashed line, and one "∞" tick for identical backgrounds
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t < top - 4.0]
    ax.set_yticks([*ticks, top], [f"{t:g}" for t in ticks] + ["∞"])
    ax.set_ylabel("background PSNR (dB), higher = better kept")
    ax.set_title("Background PSNR per method")
    ax.grid(axis="y", alpha=0.3)
    return _png_uri(fig)


# ---------------------------------------------------------------------------------------------
# page parts


def _metric_table(rows: list[dict[str, Any]], stats: bool) -> str:
    """A table with one row per method; ``stats`` formats summary rows (mean ± std)."""
    if stats:  # the change threshold is a per-case diagnostic, not a score to average
        keys = [
            c for c in COLUMNS if c[0] != "change_threshold" and any(f"{c[0]}_n" in r for r in rows)
        ]
    else:
        keys = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    head = "<th>method</th>" + ("<th>n</th>" if stats else "")
    head += "".join(f"<th>{_e(h)}</th>" for _, h, _ in keys)
    body = []
    for r in rows:
        cells = f"<td>{_e(r['method'])}</td>" + (f"<td>{r['n']}</td>" if stats else "")
        for key, _, fmt in keys:
            text = _fmt_stat(r, key, fmt) if stats else [_fmt(r, key, fmt)]
            cells += f"<td>{'<br>'.join(_e(t) for t in text)}</td>"
        cls = ' class="baseline"' if r["method"] == BASELINE else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _case_section(case_dir: Path, record: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    case_id = record.get("case_id") or case_dir.name
    parts = [f'<section class="case" id="case-{_e(case_id)}">', f"<h3>{_e(case_id)}</h3>"]
    parts.append(f'<div class="instr">“{_e(record.get("instruction", ""))}”</div>')
    info = []
    if record.get("seed") is not None:
        info.append(f"seed {record['seed']}")
    image = record.get("image") if isinstance(record.get("image"), dict) else {}
    if image.get("width"):
        info.append(f"{image['width']}×{image.get('height')}")
    if image.get("source"):
        info.append(f"source {image['source']}")
    if info:
        parts.append(f'<div class="meta">{_e(", ".join(info))}</div>')
    grid = case_dir / "grid.png"
    if grid.is_file() and (uri := _image_uri(grid, max_width=GRID_WIDTH)):
        parts.append(f'<img class="grid" alt="grid of case {_e(case_id)}" src="{uri}">')
    methods = record.get("methods") or {}
    if len(methods) > 1:  # the grid shows only the first method: show every output small
        figs = []
        for name, file in {BASELINE: "baseline.png", **methods}.items():
            if (case_dir / file).is_file() and (
                uri := _image_uri(case_dir / file, height=THUMB_HEIGHT)
            ):
                figs.append(
                    f'<figure><img alt="{_e(name)}" src="{uri}">'
                    f"<figcaption>{_e(name)}</figcaption></figure>"
                )
        parts.append(f'<div class="thumbs">{"".join(figs)}</div>')
    if rows:
        parts.append(_metric_table(rows, stats=False))
    else:
        parts.append('<p class="note">Not scored yet: run <code>maskedit eval</code>.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def build_report(out_dir: str | os.PathLike, reference: list[dict[str, Any]] | None = None) -> str:
    """The report page for a run folder, as one HTML string; ``reference`` rows (published
    figures, `maskedit.report.benchmark.read_reference`) go beside the benchmark table."""
    out_dir = Path(out_dir)
    records = {}
    for d in case_dirs(out_dir):
        try:
            records[d] = read_record(d)
        except InputError as err:  # a damaged case is named and left out, the page is written
            warnings.warn(f"case '{d.name}' left out of the report: {err}", MaskeditWarning, 2)
    dirs = list(records)
    rows = collect_rows(out_dir, case_ids=[d.name for d in dirs])
    summary = summarise(rows) if rows else []
    methods = [s["method"] for s in summary]
    tiny_notes = {
        str(r.get("note") or "tiny random models") for r in records.values() if r.get("tiny_models")
    }
    scored = sum(1 for d in dirs if (d / METRICS_FILE).is_file())

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>maskedit report: {_e(out_dir.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>maskedit report</h1>",
        f'<p class="meta">run folder <code>{_e(out_dir.resolve())}</code> · {len(dirs)} case'
        f"{'s' if len(dirs) != 1 else ''} · {scored} scored"
        + (f" · methods: {_e(', '.join(methods))}" if methods else "")
        + "</p>",
    ]
    for note in sorted(tiny_notes):
        parts.append(
            f'<div class="banner">{_e(note)}. Every image and number below checks the plumbing '
            "only and says nothing about edit quality.</div>"
        )
    clip_models = sorted({r["clip_model"] for r in rows if r.get("clip_model")})
    parts.append("<h2>Summary (mean ± std over cases)</h2>")
    if summary:
        parts.append(_metric_table(summary, stats=True))
        notes = [
            _e(scored_against_words(rows)),
            "IoU: binarised change map (mean |Δ| over RGB &gt; max(10, mean), or the given "
            "threshold) vs mask; the IoU row of this table is mIoU, the mean of per-case IoUs.",
            "bg PSNR: PIE-Bench background PSNR; ∞ (identical background) is counted, not "
            "averaged.",
            "std is the population standard deviation (ddof = 0).",
        ]
        if clip_models:
            notes.append(f"CLIP model: {_e(', '.join(clip_models))}.")
        parts.append('<ul class="meta">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
        parts.append('<h2>Plots</h2><div class="plots">')
        parts.append(f'<img alt="IoU scatter" src="{_scatter_plot(rows, methods)}">')
        if any("bg_psnr" in r for r in rows):
            parts.append(
                f'<img alt="background PSNR per method" src="{_psnr_plot(rows, methods)}">'
            )
        parts.append("</div>")
        parts.append(benchmark_section(rows, reference))
    else:
        parts.append(
            '<p class="note">No case is scored yet: run <code>maskedit eval</code> on '
            "this folder first.</p>"
        )
    parts.append(turns_section(dirs))  # "" without multi-turn cases
    parts.append(f"<h2>Cases ({len(dirs)})</h2>")
    by_case: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_case.setdefault(str(row["case_id"]), []).append(row)
    for d in dirs:
        record = records[d]
        parts.append(
            _case_section(d, record, by_case.get(str(record.get("case_id") or d.name), []))
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out_dir: str | os.PathLike, reference: list[dict[str, Any]] | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) and return its path."""
    out_dir = Path(out_dir)
    path = out_dir / REPORT_FILE
    atomic_write_text(path, build_report(out_dir, reference))
    return path


__all__ = ["REPORT_FILE", "build_report", "write_report"]
