"""report.html: one page for a run folder, written into it (no network, no torch, no script).

The page lives beside the case folders and shows their files where they are: every case's
original, mask, baseline and method outputs as lossless PNGs with HTML captions, each linked to
the full-size file, with links to its grid.png and record.json. File names come from record.json
and are used only when they name a file inside the case folder. CSS is inline; the plots are PNG
data URIs drawn with matplotlib's Agg canvas. All text from records or metrics is escaped.

Numbers come from the metrics.json that ``maskedit eval`` wrote (cases not scored yet are shown
without them): each column says whether higher or lower is better and marks its best value; the
summary gives mean ± std and a bootstrap 95 % interval over cases. The comparison view lists, for
every two methods, the cases where their outputs differ most.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.errors import InputError, MaskeditWarning
from maskedit.outputs import METRICS_FILE, atomic_write_text
from maskedit.record import BASELINE_CHAIN
from maskedit.report.benchmark import benchmark_section, scored_against_words
from maskedit.report.figures import escape as _e
from maskedit.report.figures import figure, href, missing_files, readable
from maskedit.report.pairs import case_outputs, inside, pair_differences, read_rgb
from maskedit.report.plots import psnr_plot, scatter_plot
from maskedit.report.stats import bootstrap_ci
from maskedit.report.turns import turns_section
from maskedit.tables import (
    BASELINE,
    UNMASKED_METHODS,
    case_dirs,
    collect_rows,
    read_record,
    summarise,
)

REPORT_FILE = "report.html"
TOP_CASES = 10  # the comparison view lists this many cases per pair of methods

# (key, header, format, direction) of the metric columns shown, in order; a column appears when
# present. direction: +1 higher is better, -1 lower is better, 0 neither (a diagnostic).
COLUMNS = (
    ("iou", "IoU", "{:.3f}", +1),
    ("leakage", "leakage", "{:.3f}", -1),
    ("bg_psnr", "bg PSNR (dB)", "{:.2f}", +1),
    ("bg_ssim", "bg SSIM", "{:.4f}", +1),
    ("bg_mse", "bg MSE", "{:.2e}", -1),
    ("clip_cosine", "CLIP cos", "{:.4f}", +1),
    ("clip_score", "CLIPScore", "{:.2f}", +1),
    ("clip_score_region", "CLIPScore region", "{:.2f}", +1),
    ("clip_directional", "CLIP dir", "{:.4f}", +1),
    ("change_threshold", "change thr", "{:.1f}", 0),
)
DIRECTION = {+1: ("↑", "higher is better"), -1: ("↓", "lower is better"), 0: ("", "")}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1240px; background: #fafafa; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta { color: #555; margin: 0 0 12px; overflow-wrap: anywhere; }
code { background: #eee; padding: 0 4px; }
.banner { background: #c62828; color: #fff; padding: 10px 14px; border-radius: 4px;
          font-weight: 600; margin: 10px 0; }
.note { background: #fff8e1; border: 1px solid #ffe082; padding: 8px 12px; border-radius: 4px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 10px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; font-size: 13px; text-align: right;
         white-space: nowrap; }
th { background: #f0f0f0; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
tr.baseline td { color: #666; } tr.published td { font-style: italic; color: #555; }
.scroll { overflow-x: auto; max-width: 100%; }
/* a table wider than the page scrolls; its first column (the method) stays: separate borders,
   so that the sticky cells paint their own and nothing shows through them */
.scroll table { border-collapse: separate; border-spacing: 0; border-top: 1px solid #ddd; }
.scroll th, .scroll td { border-width: 0 1px 1px 0; }
.scroll td:first-child, .scroll th:first-child { position: sticky; left: 0; z-index: 1;
  border-left-width: 1px; } .scroll td:first-child { background: #fff; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots img { background: #fff; border: 1px solid #ddd; max-width: 100%; }
img.grid { max-width: 100%; height: auto; }  /* a multi-turn case's strip fits a phone */
.case { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px 14px;
        margin: 14px 0; }
.figs { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.figs figure { margin: 0; min-width: 96px; max-width: 100%; }
.figs img { height: auto; max-width: 100%; display: block; border: 1px solid #ddd;
  background: #fff; image-rendering: auto; }
.figs figcaption { font-size: 14px; color: #333; margin-top: 3px; overflow-wrap: anywhere; }
.files a { margin-right: 10px; }
td.best { font-weight: 700; background: #e8f5e9; }
.instr { font-style: italic; } .instr, .case h3 { overflow-wrap: anywhere; }
details.pair { background: #fff; border: 1px solid #ddd; border-radius: 4px; margin: 6px 0;
  padding: 4px 10px; } details.pair summary { cursor: pointer; font-weight: 600; }
details.pair img { height: 72px; vertical-align: middle; border: 1px solid #ddd; }
"""


# ---------------------------------------------------------------------------------------------
# small helpers


def _fmt(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        if key == "bg_psnr" and row.get("bg_mse") == 0:
            return "∞"
        return "–" if key in row else ""
    return fmt.format(value)


def _value(row: dict[str, Any], key: str, stats: bool) -> float | None:
    """The number a cell is ranked by: the case's value or the method's mean; ∞ (identical in
    every case that has a background) ranks above every finite bg PSNR."""
    if stats:
        value = row.get(f"{key}_mean")
        if key == "bg_psnr" and row.get("bg_psnr_inf") and value is None:
            return math.inf
        return value
    value = row.get(key)
    if value is None and key == "bg_psnr" and row.get("bg_mse") == 0:
        return math.inf
    return value


def _best(rows: list[dict[str, Any]], key: str, direction: int, stats: bool) -> set[int]:
    """Indices of the rows holding the column's best value (ties all marked); none for a
    diagnostic column or fewer than two numbers."""
    values = [(i, _value(r, key, stats)) for i, r in enumerate(rows)]
    values = [(i, v) for i, v in values if v is not None]
    if direction == 0 or len(values) < 2:
        return set()
    best = max(v * direction for _, v in values)
    return {i for i, v in values if v * direction == best}


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
# page parts


def _metric_table(
    rows: list[dict[str, Any]], stats: bool, cases: list[dict[str, Any]] | None = None
) -> str:
    """A table with one row per method; ``stats`` formats summary rows (mean ± std, and with the
    per-case ``cases`` rows a bootstrap 95 % interval of the mean). Each column's header says
    whether higher or lower is better; its best value is marked."""
    if stats:  # the change threshold is a per-case diagnostic, not a score to average
        keys = [
            c for c in COLUMNS if c[0] != "change_threshold" and any(f"{c[0]}_n" in r for r in rows)
        ]
    else:
        keys = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    head = "<th>method</th>" + ("<th>n</th>" if stats else "")
    for _, header, _, direction in keys:
        arrow, words = DIRECTION[direction]
        title = f' title="{words}"' if words else ""
        head += f"<th{title}>{' '.join(filter(None, (_e(header), arrow)))}</th>"
    best = {key: _best(rows, key, direction, stats) for key, _, _, direction in keys}
    body = []
    for i, r in enumerate(rows):
        label = _label(r) if stats else r["method"]  # a summary may keep mask sources apart
        cells = f"<td>{_e(label)}</td>" + (f"<td>{r['n']}</td>" if stats else "")
        for key, _, fmt, _ in keys:
            text = _fmt_stat(r, key, fmt) if stats else [_fmt(r, key, fmt)]
            if stats and cases is not None:
                text += _ci_line(_group(cases, r), key, fmt)
            mark = i in best[key]
            attr = ' class="best" title="best in this column"' if mark else ""
            cells += f"<td{attr}>{'<br>'.join(_e(t) for t in text)}{' ★' if mark else ''}</td>"
        cls = ' class="baseline"' if r["method"] in UNMASKED_METHODS else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _label(row: dict[str, Any]) -> str:
    """A summary row's name: its method, and its mask source when the summary keeps them apart."""
    return " · ".join(filter(None, (row["method"], row.get("mask_source"))))


def _plot_series(
    rows: list[dict[str, Any]], summary: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str], frozenset[str]]:
    """The plots' series are the summary's rows: a method, or a method and mask source when
    the summary keeps sources apart (so no plot pools what the table does not). Returns the
    case rows named by their series, the series in the table's order, and the unmasked ones."""
    series = [_label(s) for s in summary]
    unmasked = frozenset(_label(s) for s in summary if s["method"] in UNMASKED_METHODS)
    if not any("mask_source" in s for s in summary):
        return rows, series, unmasked
    return [{**r, "method": _label(r)} for r in rows], series, unmasked


def _group(cases: list[dict[str, Any]], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-case rows a summary row was made of: its method's (and mask source's, when the
    summary keeps sources apart)."""
    return [
        r
        for r in cases
        if r["method"] == summary["method"]
        and ("mask_source" not in summary or r.get("mask_source") == summary["mask_source"])
    ]


def _ci_line(group: list[dict[str, Any]], key: str, fmt: str) -> list[str]:
    """ "95 % CI [lo, hi]" of the mean over a summary row's cases (bootstrap); [] for < 2."""
    values = [r[key] for r in group if r.get(key) is not None]
    ci = bootstrap_ci(values)
    if ci is None:
        return []
    return [f"95 % CI [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"]


def _case_files(case_dir: Path, record: dict[str, Any]) -> list[tuple[str, Path]]:
    """(label, path) of the case's files to link, every one inside the case folder and present."""
    names: dict[str, Any] = {}
    outputs = record.get("outputs")
    if isinstance(outputs, dict):
        names.update({str(k): v for k, v in outputs.items()})
    methods = record.get("methods")
    if isinstance(methods, dict):
        names.update({f"{m} ({v})": v for m, v in methods.items() if isinstance(v, str)})
    for fixed in ("original.png", "mask.png", "baseline.png", "grid.png", "record.json"):
        names.setdefault(fixed, fixed)
    names.setdefault(METRICS_FILE, METRICS_FILE)
    seen, out = set(), []
    for label, name in names.items():
        path = inside(case_dir, name)
        if path is not None and path not in seen:
            seen.add(path)
            out.append((path.name if label == path.name else label, path))
    return out


def _case_section(
    out_dir: Path, case_dir: Path, record: dict[str, Any], rows: list[dict[str, Any]]
) -> str:
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
    files = _case_files(case_dir, record)
    shown = {path: readable(path) for _, path in files if path.suffix.lower() == ".png"}
    figs = []
    for name, caption in (("original.png", "original"), ("mask.png", "mask (white = edited)")):
        path = inside(case_dir, name)
        if path is not None and shown.get(path):
            figs.append(figure(out_dir, path, caption, f"{caption} of case {case_id}", shown[path]))
    for name, path in case_outputs(case_dir, record).items():
        if shown.get(path):
            caption = {
                BASELINE: "baseline (unmasked)",
                BASELINE_CHAIN: "the plain editor's own chain (unmasked)",
            }.get(name, name)
            alt = f"{caption} of case {case_id}"
            figs.append(figure(out_dir, path, caption, alt, shown[path]))
    parts.append(f'<div class="figs">{"".join(figs)}</div>')
    if gone := missing_files(case_dir, record):
        warnings.warn(
            f"case '{case_id}': {', '.join(gone)} missing from its folder; the page says so, and "
            f"its scores are from before (maskedit eval '{out_dir}' scores what is there)",
            MaskeditWarning,
            2,
        )
        parts.append(
            f'<p class="note">Missing from the case folder: {_e(", ".join(gone))}. The scores '
            "below were computed before they went.</p>"
        )
    links = [
        f'<a href="{href(out_dir, path)}">{_e(label)}</a>'
        for label, path in files
        if path not in shown or shown[path] is not None
    ]
    parts.append(f'<div class="files">files: {" ".join(links)}</div>')
    if rows:
        parts.append(_metric_table(rows, stats=False))
    else:
        parts.append(
            f'<p class="note">Not scored yet: run <code>maskedit eval {_e(out_dir)}</code>.</p>'
        )
    parts.append("</section>")
    return "\n".join(parts)


def _comparison(out_dir: Path, dirs: list[Path], records: dict[Path, dict[str, Any]]) -> str:
    """For every two outputs (baseline and methods), the cases where they differ most."""
    by_pair: dict[tuple[str, str], list[tuple[float, float, Path, dict[str, Path]]]] = {}
    order: list[str] = []
    for d in dirs:
        files = case_outputs(d, records[d])
        for name in files:
            if name not in order:
                order.append(name)
        try:
            images = {name: read_rgb(path) for name, path in files.items()}
        except OSError:
            continue  # a damaged image: the case section still links it
        for (a, b), (mean, share) in pair_differences(images).items():
            by_pair.setdefault((a, b), []).append((mean, share, d, files))
    if not by_pair:
        return ""
    parts = [
        "<h2>Compare two methods</h2>",
        '<p class="meta">Open a pair to see the cases where the two outputs differ most '
        "(mean |A − B| over the pixels, in 0-255 levels; share of pixels that differ).</p>",
    ]
    pairs = sorted(by_pair, key=lambda p: (order.index(p[0]), order.index(p[1])))
    for a, b in pairs:
        cases = sorted(by_pair[(a, b)], key=lambda c: -c[0])
        mean_all = float(np.mean([c[0] for c in cases]))
        rows = []
        for mean, share, d, files in cases[:TOP_CASES]:
            case_id = records[d].get("case_id") or d.name
            thumbs = "".join(
                f'<a href="{href(out_dir, files[m])}"><img src="{href(out_dir, files[m])}" '
                f'alt="{_e(m)} of case {_e(case_id)}" loading="lazy"></a>'
                for m in (a, b)
            )
            rows.append(
                f'<tr><td><a href="#case-{_e(case_id)}">{_e(case_id)}</a></td>'
                f"<td>{mean:.2f}</td><td>{share:.1%}</td><td>{thumbs}</td></tr>"
            )
        parts.append(
            f'<details class="pair"><summary>{_e(a)} vs {_e(b)}: mean |A − B| {mean_all:.2f} '
            f"over {len(cases)} case{'s' if len(cases) != 1 else ''}</summary>"
            f'<div class="scroll"><table><thead><tr><th>case</th><th>mean |A − B|</th>'
            f"<th>pixels differing</th><th>{_e(a)} | {_e(b)}</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></details>"
        )
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
    methods = list(dict.fromkeys(s["method"] for s in summary))
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
    parts.append("<h2>Summary (mean ± std over cases, bootstrap 95 % interval of the mean)</h2>")
    if summary:
        parts.append(_metric_table(summary, stats=True, cases=rows))
        notes = [
            _e(scored_against_words(rows)),
            "IoU: binarised change map (mean |Δ| over RGB &gt; max(10, mean), or the given "
            "threshold) vs mask; the IoU row of this table is mIoU, the mean of per-case IoUs.",
            "bg PSNR: PIE-Bench background PSNR; ∞ (identical background) is counted, not "
            "averaged.",
            "std is the population standard deviation (ddof = 0); the 95 % interval of the mean "
            "is a bootstrap over cases (2000 resamples, percentile interval).",
            "↑ higher is better, ↓ lower is better; ★ marks each column's best value.",
        ]
        if clip_models:
            notes.append(f"CLIP model: {_e(', '.join(clip_models))}.")
        parts.append('<ul class="meta">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
        parts.append('<h2>Plots</h2><div class="plots">')
        points, series, unmasked = _plot_series(rows, summary)
        parts.append(f'<img alt="IoU scatter" src="{scatter_plot(points, series, unmasked)}">')
        if any("bg_psnr" in r for r in rows):
            psnr = psnr_plot(points, series)
            parts.append(f'<img alt="background PSNR per method" src="{psnr}">')
        parts.append("</div>")
        parts.append(benchmark_section(rows, reference))
    else:
        parts.append(
            '<p class="note">No case is scored yet: run <code>maskedit eval</code> on '
            "this folder first.</p>"
        )
    parts.append(turns_section(dirs))  # "" without multi-turn cases
    parts.append(_comparison(out_dir, dirs, records))
    parts.append(f"<h2>Cases ({len(dirs)})</h2>")
    by_case: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_case.setdefault(str(row["case_id"]), []).append(row)
    for d in dirs:
        record = records[d]
        case_rows = by_case.get(str(record.get("case_id") or d.name), [])
        parts.append(_case_section(out_dir, d, record, case_rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out_dir: str | os.PathLike, reference: list[dict[str, Any]] | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) and return its path."""
    out_dir = Path(out_dir)
    path = out_dir / REPORT_FILE
    atomic_write_text(path, build_report(out_dir, reference))
    return path


__all__ = ["REPORT_FILE", "build_report", "write_report"]
