"""The benchmark table: rows of hand-made metrics laid out as the papers print them."""

from __future__ import annotations

import json

import pytest
from run_fixtures import write_case_folder

from maskedit.errors import InputError
from maskedit.report.benchmark import (
    MAGICBRUSH,
    MAGICBRUSH_TURNS,
    PIE_BENCH,
    benchmark_tables,
    read_reference,
    table_html,
    table_markdown,
)


def _row(case_id, image, source, method, **values):
    return {
        "case_id": case_id,
        "method": method,
        "scored_against": "annotation",
        "benchmark": "pie-bench",
        "benchmark_id": image,
        "mask_source": source,
        **values,
    }


ROWS = [
    # image x, edited with its annotation and with a phrase; image y with its annotation
    _row("x-annotation", "x", "annotation", "baseline", bg_mse=0.002, bg_psnr=20.0),
    _row("x-annotation", "x", "annotation", "pixel", bg_mse=0.0, bg_psnr=None, bg_ssim=1.0),
    _row("x-phrase", "x", "phrase", "baseline", bg_mse=0.002, bg_psnr=20.0),  # the same edit
    _row("x-phrase", "x", "phrase", "pixel", bg_mse=0.001, bg_psnr=30.0, bg_ssim=0.9),
    _row("y-annotation", "y", "annotation", "baseline", bg_mse=0.004, bg_psnr=24.0),
    _row("y-annotation", "y", "annotation", "pixel", bg_mse=0.0, bg_psnr=None, bg_ssim=1.0),
    {"case_id": "z", "method": "pixel", "scored_against": "annotation"},  # no benchmark: left out
]


def test_one_row_per_method_and_mask_source_in_the_papers_units():
    (table,) = benchmark_tables(ROWS)
    assert table.benchmark is PIE_BENCH
    rows = [(r.method, r.mask_source, r.n) for r in table.rows]
    # the unmasked baseline once, over the dataset's images (x's two cases are one edit)
    assert rows == [
        ("baseline", "none (unmasked)", 2),
        ("pixel", "annotation", 2),
        ("pixel", "phrase", 1),
    ]
    baseline, annotation, phrase = table.rows
    assert baseline.cells["bg_mse"].mean == pytest.approx(30.0)  # (20 + 40) / 2, ×10⁴
    assert baseline.cells["bg_psnr"].mean == pytest.approx(22.0)
    assert annotation.cells["bg_psnr"].mean is None and annotation.cells["bg_psnr"].inf == 2
    assert annotation.cells["bg_ssim"].mean == pytest.approx(100.0)  # ×10²
    assert phrase.cells["bg_mse"].mean == pytest.approx(10.0)
    assert baseline.cells["structure_distance"].mean is None  # not computed: no number


def _final_turn(case_id, method, own_chain, **values):
    """A row of a MagicBrush multi-turn edit's own metrics.json, as `write_summary` tags it."""
    row = _row(case_id, case_id, "annotation", method, **values)
    return {**row, "benchmark": "magicbrush", "setting": "multi-turn", "own_chain": own_chain}


def test_magicbrush_multi_turn_has_its_own_table_of_each_methods_own_chain():
    """A MagicBrush multi-turn edit's final turn: the plain editor's chain (`baseline_chain`, an
    unmasked edit, listed once per image after the baseline, styled as one) and the first
    method, whose output every turn continued. The baseline and the later methods edited the
    first method's chain: not MagicBrush's setting, so left out, and the caption says so. The
    one-turn rows make the single-turn table; neither table asks which mask scored them (no
    MagicBrush column uses it)."""
    rows = [
        _final_turn("11", "baseline", False, l1=0.5),
        _final_turn("11", "pixel", True, l1=0.1),
        _final_turn("11", "latent", False, l1=0.7),
        _final_turn("11", "baseline_chain", True, l1=0.3, scored_against="own mask"),
        _final_turn("22", "pixel", True, l1=0.2),
        _final_turn("22", "baseline_chain", True, l1=0.4),
        {**_row("33", "33", "annotation", "pixel", l1=0.9), "benchmark": "magicbrush"},
    ]
    single, turns = benchmark_tables(rows)
    assert single.benchmark is MAGICBRUSH and turns.benchmark is MAGICBRUSH_TURNS
    assert [(r.method, r.n) for r in single.rows] == [("pixel", 1)]
    assert [(r.method, r.mask_source, r.n) for r in turns.rows] == [
        ("baseline_chain", "none (unmasked)", 2),
        ("pixel", "annotation", 2),
    ]
    assert turns.rows[0].cells["l1"].mean == pytest.approx(0.35)
    assert turns.rows[1].cells["l1"].mean == pytest.approx(0.15)
    assert turns.left_out == ("baseline", "latent")
    text = table_markdown(turns)
    assert text.startswith("**MagicBrush multi-turn**")
    assert "Left out (baseline, latent): they edit the first method" in text
    assert table_html(turns).count('<tr class="baseline">') == 1


def test_markdown_marks_better_directions_and_prints_infinity():
    text = table_markdown(benchmark_tables(ROWS)[0])
    header = text.splitlines()[2]
    assert header.startswith("| Method | Mask source | n | Distance ×10³ ↓ | PSNR ↑ |")
    assert "MSE ×10⁴ ↓" in header and "SSIM ×10² ↑" in header and "Edited ↑" in header
    assert "| pixel | annotation (upper bound) | 2 | – | ∞ | – | 0.00 | 100.00 |" in text
    assert "scored against PIE-Bench's annotation" in text


def test_psnr_is_all_infinite_only_when_every_case_is():
    """A case whose mask covers the whole image has no background (no PSNR, no MSE): beside
    identical backgrounds the cell counts them, never a bare ∞ as if every case had one."""
    rows = [
        _row("a", "a", "annotation", "pixel", bg_mse=0.0, bg_psnr=None),
        _row("b", "b", "annotation", "pixel", bg_mse=None, bg_psnr=None),
        _row("c", "c", "annotation", "latent", bg_mse=0.0, bg_psnr=None),
    ]
    text = table_markdown(benchmark_tables(rows)[0])
    assert "| pixel | annotation (upper bound) | 2 | – | (∞ 1/2) |" in text
    assert "| latent | annotation (upper bound) | 1 | – | ∞ |" in text


def test_published_rows_from_a_csv_sit_beside_the_runs(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text(
        "benchmark,method,bg_psnr,bg_mse,clip_whole\n"
        "pie-bench,<b>Some method</b>,25.5,,22.1\n"
        "magicbrush,Other,,,\n"
    )
    reference = read_reference(path)
    assert reference[0] == {
        "method": "<b>Some method</b>",
        "benchmark": "pie-bench",
        "mask_source": None,
        "bg_psnr": 25.5,
        "bg_mse": None,
        "clip_whole": 22.1,
    }
    (table,) = benchmark_tables(ROWS, reference)  # the MagicBrush row has no MagicBrush run
    published = table.rows[-1]
    assert published.published and published.n is None
    assert published.cells["bg_psnr"].mean == 25.5  # as the paper prints it, not rescaled
    assert "bg_mse" not in published.cells
    html = table_html(table)
    assert "&lt;b&gt;Some method&lt;/b&gt; (published)" in html and "<b>Some" not in html
    assert '<th colspan="4">Background preservation</th>' in html


@pytest.mark.parametrize(
    "text, words",
    [
        ("benchmark,bg_psnr\npie-bench,1\n", "needs a 'method' column"),
        ("method,psnr\nx,1\n", "unknown column 'psnr'"),
        ("method,bg_psnr\nx,high\n", "line 2: bg_psnr 'high' is not a number"),
        ("method,benchmark\nx,coco\n", "benchmark 'coco'"),
        ("method,bg_psnr\nx,inf\n", "not finite"),
        ("method,bg_psnr\nx,1_0\n", "line 2: bg_psnr '1_0' is not a number"),
        ("method,bg_psnr\nx,25.5,22.1\n", "line 2: 3 cells, but the header names 2 columns"),
        ("method,bg_psnr,bg_psnr\nx,1,2\n", "column 'bg_psnr' twice"),
    ],
)
def test_bad_reference_csv_is_one_line(tmp_path, text, words):
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=words) as err:
        read_reference(path)
    assert "\n" not in str(err.value)


def test_benchmark_rows_scored_against_their_own_mask_are_refused():
    rows = [{**r, "scored_against": "own mask"} for r in ROWS[:2]]
    with pytest.raises(InputError, match="PIE-Bench table: .*own mask"):
        benchmark_tables(rows)


def test_magicbrush_table_columns():
    rows = [
        {
            "case_id": "1_1",
            "method": "pixel",
            "scored_against": "annotation",
            "benchmark": "magicbrush",
            "mask_source": "click",
            "l1": 0.1,
            "l2": 0.02,
            "clip_i": 0.9,
            "clip_t": 0.3,
        }
    ]
    (table,) = benchmark_tables(rows)
    assert table.benchmark is MAGICBRUSH
    text = table_markdown(table)
    assert "| Method | Mask source | n | L1 ↓ | L2 ↓ | CLIP-I ↑ | DINO ↓" not in text
    assert "| L1 ↓ | L2 ↓ | CLIP-I ↑ | DINO ↑ | CLIP-T ↑ |" in text
    assert "| pixel | one simulated click | 1 | 0.1000 | 0.0200 | 0.9000 | – | 0.3000 |" in text


def test_report_shows_the_table_and_says_which_mask_scored(tmp_path):
    import numpy as np

    from maskedit.evaluate import evaluate_dir
    from maskedit.report.html import build_report

    img = np.zeros((4, 5, 3), np.uint8)
    mask = np.zeros((4, 5), bool)
    mask[:, :2] = True
    case = write_case_folder(tmp_path, "x-annotation", img, mask, img + 9, {"pixel": img})
    record = json.loads((case / "record.json").read_text())
    record["benchmark"] = {"name": "pie-bench", "mask_source": "annotation", "id": "x"}
    (case / "record.json").write_text(json.dumps(record))
    (case / "reference_mask.png").write_bytes((case / "mask.png").read_bytes())
    evaluate_dir(tmp_path)
    page = build_report(tmp_path, [{"method": "Published", "bg_psnr": 30.0}])
    assert "<h2>Benchmark</h2>" in page and "PSNR ↑" in page and "Published (published)" in page
    assert "Scored against the annotation" in page
    (case / "reference_mask.png").unlink()  # now scored against its own mask
    evaluate_dir(tmp_path)
    page = build_report(tmp_path)
    assert "Scored against each case&#x27;s own editing mask" in page
    assert "PSNR ↑" not in page and "no reference_mask.png" in page  # no benchmark table


def _two_mask_sources(folder):
    """One PIE-Bench case edited twice, under an annotation mask and under a wider click mask."""
    import numpy as np

    img = np.zeros((16, 16, 3), np.uint8)
    for source, width in (("annotation", 4), ("click", 9)):
        mask = np.zeros((16, 16), bool)
        mask[:, :width] = True
        edited = img.copy()
        edited[mask] = 200
        case = write_case_folder(folder, f"x-{source}", img, mask, img + 9, {"pixel": edited})
        record = json.loads((case / "record.json").read_text())
        record["benchmark"] = {"name": "pie-bench", "mask_source": source, "id": "x"}
        (case / "record.json").write_text(json.dumps(record))



def test_the_summary_keeps_each_mask_source_apart(tmp_path):
    """A run whose editing masks come from two sources: summary.csv and the report's summary
    have one row per method and source (the baseline counted once in each, not twice in one),
    and the page says which is which."""
    import csv

    from maskedit.evaluate import evaluate_dir
    from maskedit.report.html import build_report
    from maskedit.tables import summarise

    _two_mask_sources(tmp_path)
    rows = evaluate_dir(tmp_path)
    summary = summarise(rows)
    assert [(s["method"], s["mask_source"], s["n"]) for s in summary] == [
        ("baseline", "annotation", 1), ("baseline", "click", 1),
        ("pixel", "annotation", 1), ("pixel", "click", 1),
    ]  # fmt: skip
    assert summary[0]["leakage_mean"] != summary[1]["leakage_mean"]  # not one pooled number
    with (tmp_path / "summary.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(r["method"], r["mask_source"]) for r in table][2:] == [
        ("pixel", "annotation"), ("pixel", "click")
    ]
    page = build_report(tmp_path).split("<h2>Summary")[1].split("</table>")[0]
    assert "<td>pixel · annotation</td>" in page and "<td>pixel · click</td>" in page
    from typer.testing import CliRunner

    from maskedit.cli import app

    flags = ["--clip", "none", "--lpips", "none", "--structure-dino", "none"]  # no hub calls
    res = CliRunner().invoke(app, ["eval", str(tmp_path), *flags])  # its own tables
    assert res.exit_code == 0, res.output


def test_the_plots_keep_each_mask_source_apart(tmp_path, monkeypatch):
    """The report's plots draw one series per summary row: with two mask sources, the baseline
    and each method once per source, each source's points in its own series (not pooled)."""

    import maskedit.report.html as html
    from maskedit.evaluate import evaluate_dir

    _two_mask_sources(tmp_path)
    evaluate_dir(tmp_path)
    drawn = {}

    def keep(name):
        def plot(rows, series, *rest):
            drawn[name] = (rows, series, rest)
            return "data:image/png;base64,"

        return plot

    monkeypatch.setattr(html, "scatter_plot", keep("scatter"))
    monkeypatch.setattr(html, "psnr_plot", keep("psnr"))
    html.build_report(tmp_path)
    series = ["baseline · annotation", "baseline · click", "pixel · annotation", "pixel · click"]
    for rows, drawn_series, _ in drawn.values():
        assert drawn_series == series
        for name in series:  # each series holds its own source's case, once
            mine = [r for r in rows if r["method"] == name]
            assert len(mine) == 1 and mine[0]["mask_source"] == name.split(" · ")[1]
    assert set(drawn["scatter"][2][0]) == {"baseline · annotation", "baseline · click"}


def test_a_reference_csv_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    """Excel's "CSV UTF-8" begins with a byte order mark: its first column is still 'method'."""
    path = tmp_path / "published.csv"
    path.write_bytes(b"\xef\xbb\xbfmethod,benchmark,bg_psnr\r\nSome method,pie-bench,25.5\r\n")
    assert read_reference(path) == [
        {"method": "Some method", "benchmark": "pie-bench", "mask_source": None, "bg_psnr": 25.5}
    ]
