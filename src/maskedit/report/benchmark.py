"""The benchmark table: a run's converted benchmark cases laid out as the papers print them.

One row per method and mask source (the unmasked baseline once), the benchmark's own columns in
its own units (PIE-Bench's ×10³ / ×10⁴ / ×10²), each header marked ↑ (higher is better) or ↓
(lower is better), and optionally published rows read from a small CSV beside them. Rows come
from the runs' metrics (``results.jsonl`` rows: ``benchmark`` and ``mask_source`` say where each
belongs); every number was scored against the benchmark's annotation. Never imports torch.

The reference CSV: a header with ``method``, optionally ``benchmark`` (``pie-bench``,
``magicbrush`` or ``magicbrush-turns``, MagicBrush's multi-turn setting; may be left out when the
run has one benchmark) and ``mask_source``, then any of the benchmark's column keys
(`PIE_BENCH` and `MAGICBRUSH` below), values as the paper prints them (already scaled), an
empty cell for a number the paper does not give.
"""

from __future__ import annotations

import csv
import html
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskedit.errors import InputError
from maskedit.tables import ANNOTATION, MULTI_TURN, UNMASKED_METHODS, scored_against

MASK_SOURCE_ORDER = ("annotation", "click", "phrase", "relevance")
MASK_SOURCE_WORDS = {
    "annotation": "annotation (upper bound)",
    "click": "one simulated click",
    "phrase": "phrase",
    "relevance": "relevance map",
}
UNMASKED = "none (unmasked)"


@dataclass(frozen=True)
class Column:
    """One column of a benchmark table."""

    key: str  # the reference CSV's column name
    row_key: str  # the metrics row's key
    header: str
    scale: float  # the paper prints value × scale
    higher_is_better: bool
    group: str = ""
    decimals: int = 2

    @property
    def title(self) -> str:
        return f"{self.header} {'↑' if self.higher_is_better else '↓'}"


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    columns: tuple[Column, ...]
    scoring: str  # which mask and models, in words
    uses_mask: bool = True  # whether a column depends on the mask the rows were scored against
    setting: str | None = None  # the rows' `setting` it takes (None: one-turn cases)
    dataset: str = ""  # the rows' `benchmark` it takes, when not its name

    def takes(self, row: dict[str, Any]) -> bool:
        """Whether a metrics row belongs in this table."""
        same = row.get("benchmark") == (self.dataset or self.name)
        return same and row.get("setting") == self.setting


PIE_BENCH = Benchmark(
    "pie-bench",
    "PIE-Bench",
    (
        Column(
            "structure_distance", "structure_distance", "Distance ×10³", 1e3, False, "Structure"
        ),
        Column("bg_psnr", "bg_psnr", "PSNR", 1.0, True, "Background preservation"),
        Column("bg_lpips", "bg_lpips", "LPIPS ×10³", 1e3, False, "Background preservation"),
        Column("bg_mse", "bg_mse", "MSE ×10⁴", 1e4, False, "Background preservation"),
        Column("bg_ssim", "bg_ssim", "SSIM ×10²", 1e2, True, "Background preservation"),
        Column("clip_whole", "clip_score", "Whole", 1.0, True, "CLIP similarity"),
        Column("clip_edited", "clip_score_region", "Edited", 1.0, True, "CLIP similarity"),
    ),
    "background and edited-region columns scored against PIE-Bench's annotation with its "
    "one-pixel image border, as its evaluation does; structure distance on whole images; CLIP "
    "against the target prompt",
)
MAGICBRUSH = Benchmark(
    "magicbrush",
    "MagicBrush",
    (
        Column("l1", "l1", "L1", 1.0, False, decimals=4),
        Column("l2", "l2", "L2", 1.0, False, decimals=4),
        Column("clip_i", "clip_i", "CLIP-I", 1.0, True, decimals=4),
        Column("dino", "dino", "DINO", 1.0, True, decimals=4),
        Column("clip_t", "clip_t", "CLIP-T", 1.0, True, decimals=4),
    ),
    "against the ground-truth output image (L1, L2, CLIP-I, DINO) and the local caption (CLIP-T); "
    "each turn edited from the ground truth of the turn before (MagicBrush's single-turn setting)",
    uses_mask=False,
)
MAGICBRUSH_TURNS = Benchmark(
    "magicbrush-turns",
    "MagicBrush multi-turn",
    MAGICBRUSH.columns,
    "the final turn against its ground-truth output image (L1, L2, CLIP-I, DINO) and local "
    "caption (CLIP-T); each turn edits the method's own output of the turn before (MagicBrush's "
    "multi-turn setting): the plain editor's chain (baseline_chain) and each case's first method",
    uses_mask=False,
    setting=MULTI_TURN,
    dataset="magicbrush",
)
BENCHMARKS = {b.name: b for b in (PIE_BENCH, MAGICBRUSH, MAGICBRUSH_TURNS)}


@dataclass
class Cell:
    """One table cell: the mean of the numbers (already scaled), how many there were, and how
    many identical backgrounds (PSNR = ∞, counted apart)."""

    mean: float | None
    n: int
    inf: int = 0

    def text(self, decimals: int, cases: int | None) -> str:
        parts = [f"{self.mean:.{decimals}f}"] if self.mean is not None else []
        if self.inf:  # a bare ∞ only when every case has an identical background
            every = self.mean is None and (cases is None or self.inf == cases)
            parts.append("∞" if every else f"(∞ {self.inf}/{cases})")
        elif self.mean is not None and cases is not None and self.n < cases:
            parts.append(f"(n={self.n})")
        return " ".join(parts) or "–"


@dataclass
class TableRow:
    method: str
    mask_source: str
    n: int | None  # cases; None for a published row
    cells: dict[str, Cell] = field(default_factory=dict)
    published: bool = False


@dataclass
class Table:
    benchmark: Benchmark
    rows: list[TableRow]
    clip_models: list[str]
    left_out: tuple[str, ...] = ()  # methods whose rows are not the benchmark's setting


# ---------------------------------------------------------------------------------------------
# building


def _cell(rows: list[dict[str, Any]], column: Column) -> Cell:
    values = [r[column.row_key] for r in rows if r.get(column.row_key) is not None]
    inf = 0
    if column.row_key == "bg_psnr":
        inf = sum(1 for r in rows if r.get("bg_psnr") is None and r.get("bg_mse") == 0)
    mean = sum(values) / len(values) * column.scale if values else None
    return Cell(mean, len(values), inf)


def _groups(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(method, mask source, rows): the unmasked edits (the baseline, then a multi-turn edit's
    plain-editor chain) once over the dataset's images (one image edited for several mask sources
    is the same unmasked edit), then by mask source and method."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen_unmasked: set[tuple[str, str]] = set()
    for row in rows:
        if row["method"] in UNMASKED_METHODS:
            image = str(row.get("benchmark_id") or row["case_id"])
            if (row["method"], image) in seen_unmasked:
                continue
            seen_unmasked.add((row["method"], image))
            key = (row["method"], UNMASKED)
        else:
            key = (row["method"], str(row.get("mask_source") or "?"))
        groups.setdefault(key, []).append(row)

    def order(key: tuple[str, str]) -> tuple[int, int]:
        method, source = key
        if method in UNMASKED_METHODS:
            return (UNMASKED_METHODS.index(method) - len(UNMASKED_METHODS), 0)
        rank = MASK_SOURCE_ORDER.index(source) if source in MASK_SOURCE_ORDER else 99
        return (rank, 0)

    return [(m, s, groups[(m, s)]) for m, s in sorted(groups, key=order)]


def table_name(row: dict[str, Any]) -> str | None:
    """Which benchmark table a metrics row belongs to (None: none): its benchmark, in the
    setting it was made in (a multi-turn edit's final turn has a table of its own)."""
    return next((bench.name for bench in BENCHMARKS.values() if bench.takes(row)), None)


def benchmark_tables(
    rows: Iterable[dict[str, Any]], reference: list[dict[str, Any]] | None = None
) -> list[Table]:
    """One `Table` per benchmark the rows come from (rows without a benchmark are left out),
    with the ``reference`` rows (`read_reference`) of that benchmark after the run's own."""
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if (name := table_name(row)) is not None:
            by_bench.setdefault(name, []).append(row)
    if len(by_bench) > 1 and any(not ref.get("benchmark") for ref in reference or ()):
        raise InputError(
            "--reference: the run holds several benchmarks; give each published row its "
            "'benchmark' (pie-bench or magicbrush)"
        )
    tables = []
    for name, bench in BENCHMARKS.items():
        mine = by_bench.get(name)
        if not mine:
            continue
        left_out: tuple[str, ...] = ()
        if bench.setting == MULTI_TURN:  # only a method's own chain is the setting's number
            left_out = tuple(dict.fromkeys(r["method"] for r in mine if not r.get("own_chain")))
            mine = [r for r in mine if r.get("own_chain")]
        if bench.uses_mask and scored_against(mine) != ANNOTATION:
            raise InputError(
                f"{bench.title} table: its rows were scored against each case's own mask, not "
                "the annotation (no reference_mask.png): convert with maskedit convert, run again"
            )
        table_rows = []
        for method, source, group in _groups(mine):
            cells = {c.key: _cell(group, c) for c in bench.columns}
            n = len({r["case_id"] for r in group})
            table_rows.append(TableRow(method, source, n, cells))
        for ref in reference or ():
            if (ref.get("benchmark") or name) == name:
                cells = {
                    c.key: Cell(ref[c.key], 1) for c in bench.columns if ref.get(c.key) is not None
                }
                source = ref.get("mask_source") or "published"
                table_rows.append(TableRow(ref["method"], source, None, cells, published=True))
        clip_models = sorted({r["clip_model"] for r in mine if r.get("clip_model")})
        tables.append(Table(bench, table_rows, clip_models, left_out))
    return tables


def read_reference(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Published rows from a small CSV (see the module's docstring): one dict per row, numbers as
    floats (None for an empty cell)."""
    path = Path(path)
    known = {c.key for b in BENCHMARKS.values() for c in b.columns}
    try:
        # utf-8-sig: Excel's "CSV UTF-8" begins with a byte order mark
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"--reference '{path}': cannot be read ({err})") from None
    if "method" not in header:
        raise InputError(f"--reference '{path}': needs a 'method' column")
    twice = next((name for name in header if header.count(name) > 1), None)
    if twice is not None:
        raise InputError(f"--reference '{path}': column '{twice}' twice")
    for name in header:
        if name not in known | {"method", "benchmark", "mask_source"}:
            raise InputError(
                f"--reference '{path}': unknown column '{name}' (known: method, benchmark, "
                f"mask_source, {', '.join(sorted(known))})"
            )
    out = []
    for i, raw in enumerate(rows, start=2):
        row: dict[str, Any] = {
            "method": (raw.get("method") or "").strip(),
            "benchmark": (raw.get("benchmark") or "").strip() or None,
            "mask_source": (raw.get("mask_source") or "").strip() or None,
        }
        if None in raw:  # csv.DictReader keeps the cells past the header's under None
            raise InputError(
                f"--reference '{path}' line {i}: {len(header) + len(raw[None])} cells, but "
                f"the header names {len(header)} columns"
            )
        if not row["method"]:
            raise InputError(f"--reference '{path}' line {i}: empty method")
        if row["benchmark"] is not None and row["benchmark"] not in BENCHMARKS:
            raise InputError(
                f"--reference '{path}' line {i}: benchmark '{row['benchmark']}' is not "
                f"{', '.join(BENCHMARKS)}"
            )
        for key in known & set(header):
            text = (raw.get(key) or "").strip()
            try:
                if "_" in text:  # float() reads 1_0 as 10
                    raise ValueError(text)
                row[key] = float(text) if text else None
            except ValueError:
                raise InputError(
                    f"--reference '{path}' line {i}: {key} '{text}' is not a number"
                ) from None
            if row[key] is not None and not math.isfinite(row[key]):
                raise InputError(f"--reference '{path}' line {i}: {key} '{text}' is not finite")
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------
# rendering


def _source_words(row: TableRow) -> str:
    return MASK_SOURCE_WORDS.get(row.mask_source, row.mask_source)


def _caption(table: Table) -> str:
    bench = table.benchmark
    text = f"{bench.title}: {bench.scoring}. Means over cases; ↑ higher is better, ↓ lower."
    if any(c.row_key == "bg_psnr" for c in bench.columns):
        text += " PSNR averages the finite values; identical backgrounds (∞) are counted apart."
    if table.clip_models:
        text += f" CLIP: {', '.join(table.clip_models)}."
    if table.left_out:
        text += (
            f" Left out ({', '.join(table.left_out)}): they edit the first method's chain; a "
            "method's own chain is a run with that method first."
        )
    if any(r.published for r in table.rows):
        text += " Published rows (from --reference) are printed as the paper gives them."
    return text


def table_markdown(table: Table) -> str:
    """The table as Markdown (for a terminal or a document)."""
    bench = table.benchmark
    head = ["Method", "Mask source", "n", *(c.title for c in bench.columns)]
    lines = [
        f"**{bench.title}**",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---", "--:"] + ["--:"] * len(bench.columns)) + "|",
    ]
    for row in table.rows:
        cells = [
            row.method + (" (published)" if row.published else ""),
            _source_words(row),
            "" if row.n is None else str(row.n),
        ]
        for c in bench.columns:
            cell = row.cells.get(c.key)
            cells.append(cell.text(c.decimals, row.n) if cell else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _caption(table)]
    return "\n".join(lines)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table_html(table: Table) -> str:
    """The table as HTML: a group header row (PIE-Bench's Structure / Background preservation /
    CLIP similarity) above the column headers, as the paper's table has it."""
    bench = table.benchmark
    groups: list[tuple[str, int]] = []
    for c in bench.columns:
        if groups and groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    head = ""
    if any(g for g, _ in groups):
        head += '<tr><th rowspan="2">method</th><th rowspan="2">mask source</th>'
        head += '<th rowspan="2">n</th>'
        head += "".join(f'<th colspan="{k}">{_e(g)}</th>' for g, k in groups) + "</tr><tr>"
        head += "".join(f"<th>{_e(c.title)}</th>" for c in bench.columns) + "</tr>"
    else:
        head += "<tr><th>method</th><th>mask source</th><th>n</th>"
        head += "".join(f"<th>{_e(c.title)}</th>" for c in bench.columns) + "</tr>"
    body = []
    for row in table.rows:
        cls = ' class="published"' if row.published else ""
        cls = ' class="baseline"' if row.method in UNMASKED_METHODS else cls
        cells = [
            _e(row.method + (" (published)" if row.published else "")),
            _e(_source_words(row)),
            "" if row.n is None else str(row.n),
        ]
        for c in bench.columns:
            cell = row.cells.get(c.key)
            cells.append(_e(cell.text(c.decimals, row.n) if cell else "–"))
        body.append(f"<tr{cls}>" + "".join(f"<td>{t}</td>" for t in cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="benchmark"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        f'<p class="meta">{_e(_caption(table))}</p>'
    )


def benchmark_section(rows: list[dict[str, Any]], reference: list[dict[str, Any]] | None) -> str:
    """The report's benchmark part: a heading and one table per benchmark ("" when the run has no
    converted benchmark cases)."""
    try:
        tables = benchmark_tables(rows, reference)
    except InputError as err:  # the rest of the report still helps; say why there is no table
        return f'<h2>Benchmark</h2><p class="note">No benchmark table: {_e(err)}</p>'
    if not tables:
        return ""
    parts = ["<h2>Benchmark</h2>"]
    for table in tables:
        parts.append(f"<h3>{_e(table.benchmark.title)}</h3>")
        parts.append(table_html(table))
    return "\n".join(parts)


def scored_against_words(rows: Iterable[dict[str, Any]]) -> str:
    """Which mask the numbers were scored against, in words, for the report."""
    against = scored_against(rows)
    if against == ANNOTATION:
        return (
            "Scored against the annotation (each case's reference_mask.png), as the benchmarks "
            "score: not against the mask each method edited with."
        )
    return (
        "Scored against each case's own editing mask (mask.png): a masked method keeps its "
        "background by construction, so its background numbers only check the composite."
    )
