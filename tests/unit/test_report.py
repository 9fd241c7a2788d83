"""report.html: written into the run folder, no network and no script, names every case and
method, links every case's files (only files inside its folder), escapes text, marks the best
value per column with its direction, gives bootstrap intervals, compares methods pair by pair, and
never imports torch."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image
from run_fixtures import write_case_folder

from maskedit.errors import MaskeditWarning
from maskedit.evaluate import evaluate_dir
from maskedit.report.html import write_report

SRC = Path(__file__).resolve().parents[2] / "src"
DATA_URI = re.compile(r'src="data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"')
LINK = re.compile(r'(?:src|href)="(?!data:|#)([^"]+)"')


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    mask = np.zeros((24, 32), bool)
    mask[6:18, 8:20] = True
    edit = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    pixel = np.where(mask[..., None], edit, original).astype(np.uint8)
    latent = np.where(mask[..., None], edit // 2, original).astype(np.uint8)
    write_case_folder(
        tmp_path, "shirt", original, mask, edit, {"pixel": pixel, "latent": latent}, tiny=True
    )
    write_case_folder(
        tmp_path,
        "dog",
        original,
        mask,
        edit,
        {"pixel": pixel},
        instruction='<script>alert("x")</script> & make it red',
    )
    return tmp_path


def _no_remote_refs(page: str) -> bool:
    return not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)


def _links(page: str, folder: Path) -> list[Path]:
    """Every file the page links or shows, resolved from the report's folder."""
    return [(folder / unquote(href)).resolve() for href in LINK.findall(page)]


def test_report_names_cases_and_methods_and_links_files_that_exist(run):
    evaluate_dir(run)
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text(encoding="utf-8")
    assert _no_remote_refs(page)
    assert "<link" not in page and "@import" not in page and "<script" not in page
    for name in ("shirt", "dog", "baseline", "pixel", "latent"):
        assert name in page
    assert "TINY RANDOM MODELS" in page  # one record says tiny_models: the banner shows
    assert "∞" in page  # the exact composites' background PSNR
    plots = DATA_URI.findall(page)
    assert len(plots) == 2  # the plots are inline; the pictures are the case folders' files
    for mime, data in plots:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()
        assert img.format == "PNG" and mime == "image/png"
    links = _links(page, run)
    assert links and all(p.is_file() and p.is_relative_to(run.resolve()) for p in links)
    names = {p.relative_to(run.resolve()).as_posix() for p in links}
    for case in ("shirt", "dog"):
        for file in ("original.png", "mask.png", "baseline.png", "grid.png", "record.json"):
            assert f"{case}/{file}" in names
    assert {"shirt/blended_pixel.png", "shirt/blended_latent.png", "dog/blended.png"} <= names
    shown = re.findall(r'<img src="([^"]+)"', page)
    assert all(src.endswith(".png") for src in shown)  # lossless pictures, full size on click


def test_record_paths_outside_the_case_folder_are_not_linked(run, tmp_path):
    (run.parent / "secret.png").write_bytes((run / "dog" / "original.png").read_bytes())
    record_path = run / "dog" / "record.json"
    record = json.loads(record_path.read_text())
    record["methods"] = {"pixel": "blended.png", "evil": "../secret.png", "abs": "/etc/passwd"}
    record["outputs"] = {"original": "../shirt/original.png"}
    record_path.write_text(json.dumps(record))
    with pytest.warns(MaskeditWarning, match="case 'dog' left out of the report"):
        page = write_report(run).read_text(encoding="utf-8")
    links = _links(page, run)
    assert all(p.is_relative_to(run.resolve()) and p.is_file() for p in links)
    assert "secret.png" not in page and "/etc/passwd" not in page
    assert not [p for p in links if p.parent.name == "dog"]  # a damaged record is left out whole
    assert any(p.parent.name == "shirt" for p in links)  # and the other case still shows


def test_columns_say_their_direction_and_mark_the_best(run):
    evaluate_dir(run)
    page = write_report(run).read_text(encoding="utf-8")
    assert '<th title="higher is better">IoU ↑</th>' in page
    assert '<th title="lower is better">leakage ↓</th>' in page
    assert "<th>change thr</th>" in page  # a diagnostic: no direction, no trailing space
    summary = page.split("<h2>Summary")[1].split("</table>")[0]
    assert summary.count('class="best"') >= 3  # IoU, leakage, bg PSNR, … each have a best
    assert "95 % CI [" in summary  # two cases of pixel: a bootstrap interval of the mean
    # pixel and latent keep the background exactly: both tie for the best leakage (0) there
    leak = [row for row in summary.split("<tr") if "<td>pixel</td>" in row][0]
    assert 'class="best"' in leak


def test_a_method_identical_wherever_there_is_a_background_has_the_best_psnr():
    """bg PSNR's best is the method whose every case with a background is identical (∞), even
    when its other cases (a full mask) have no PSNR: before, only ∞ in every case ranked."""
    from maskedit.report.html import _best

    rows = [
        {"method": "baseline", "n": 2, "bg_psnr_mean": 21.0, "bg_psnr_n": 2, "bg_psnr_inf": 0},
        {"method": "pixel", "n": 2, "bg_psnr_mean": None, "bg_psnr_n": 0, "bg_psnr_inf": 1},
    ]
    assert _best(rows, "bg_psnr", 1, stats=True) == {1}


def test_comparison_lists_the_cases_where_two_methods_differ_most(run):
    page = write_report(run).read_text(encoding="utf-8")
    assert "<h2>Compare two methods</h2>" in page
    pairs = re.findall(r"<summary>(.*?)</summary>", page)
    assert any(p.startswith("baseline vs pixel") for p in pairs)
    pixel_latent = page.split("<summary>pixel vs latent")[1].split("</details>")[0]
    assert '<a href="#case-shirt">shirt</a>' in pixel_latent  # only shirt has both


def test_text_from_records_is_escaped(run):
    evaluate_dir(run)
    page = write_report(run).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; make it red" in page


def test_unscored_run_still_reports_cases(run):
    page = write_report(run).read_text(encoding="utf-8")  # no maskedit eval yet
    assert "shirt" in page and "dog" in page
    assert "maskedit eval" in page
    assert DATA_URI.findall(page) == []  # no plots without numbers
    assert all(p.is_file() for p in _links(page, run))


def test_without_tiny_models_there_is_no_banner(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    write_case_folder(tmp_path, "c", img, np.eye(8, dtype=bool), img, {"pixel": img})
    evaluate_dir(tmp_path)
    assert 'class="banner"' not in write_report(tmp_path).read_text(encoding="utf-8")


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_report_module_does_not_import_torch(run):
    # maskedit/__init__ re-exports the editing API (which needs torch); bypass it to check what
    # the report itself imports, and build a whole report that way
    evaluate_dir(run)
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('maskedit'); pkg.__path__ = [{str(SRC / 'maskedit')!r}]\n"
        "sys.modules['maskedit'] = pkg\n"
        "from maskedit.report.html import write_report\n"
        f"write_report({str(run)!r})\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr


def test_importing_report_through_the_package_does_not_import_torch():
    result = _run_python(
        "import sys\nimport maskedit.report.html\nassert 'torch' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


def test_bootstrap_interval_by_hand():
    from maskedit.report.stats import bootstrap_ci

    assert bootstrap_ci([3.0]) is None  # one case: no interval
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    # Two cases 0 and 1: a resample's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4, so the
    # 2.5th and 97.5th percentiles are 0 and 1.
    assert bootstrap_ci([0.0, 1.0], n_boot=4000) == (0.0, 1.0)
    assert bootstrap_ci([0.0, 1.0, 5.0]) == bootstrap_ci([0.0, 1.0, 5.0])  # fixed seed
    low, high = bootstrap_ci(np.arange(100.0))
    assert low < 49.5 < high and high - low < 25


def test_pair_difference_by_hand():
    from maskedit.report.pairs import difference, pair_differences

    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (30, 0, 0)  # one pixel of four differs, by 30 in one channel of 12 values
    assert difference(a, b) == (30 / 12, 0.25)
    assert pair_differences({"x": a, "y": b, "z": a}) == {
        ("x", "y"): (2.5, 0.25),
        ("x", "z"): (0.0, 0.0),
        ("y", "z"): (2.5, 0.25),
    }


@pytest.mark.parametrize(
    "hw, shown, sliver",
    [((24, 32), (267, 200), False), ((64, 1200), (1040, 55), False), ((300, 1), (4, 200), True)],
)
def test_pictures_keep_their_aspect_at_the_shown_size(tmp_path, hw, shown, sliver):
    """A case's pictures are 200 px tall, a wide strip 1040 px wide instead (never stretched to
    200 px tall), and a one-pixel sliver is drawn a few pixels wide at its own height."""
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    mask = np.zeros(hw, bool)
    mask[: hw[0] // 2] = True
    write_case_folder(tmp_path, "c", original, mask, original, {"pixel": original})
    page = write_report(tmp_path).read_text()
    img = re.search(r'<img src="c/original.png"[^>]*>', page).group(0)
    assert f'width="{shown[0]}" height="{shown[1]}"' in img
    assert ("style=" in img) == sliver


def test_a_picture_gone_from_its_folder_is_named_on_the_page_and_in_a_warning(run):
    """A baseline or method file deleted by hand: the page says which, where its picture would
    be, and that the scores below are from before; the command warns once for the case."""
    record = json.loads((run / "shirt" / "record.json").read_text())
    record["outputs"] = {"original": "original.png", "baseline": "baseline.png"}  # as write_case
    (run / "shirt" / "record.json").write_text(json.dumps(record))
    (run / "shirt" / "baseline.png").unlink()
    (run / "shirt" / "blended_latent.png").unlink()
    with pytest.warns(MaskeditWarning, match="case 'shirt': baseline.png, blended_latent.png missing") as got:
        page = write_report(run).read_text()
    assert len([w for w in got if "missing" in str(w.message)]) == 1
    shirt = page[page.index('id="case-shirt"') :]
    assert "Missing from the case folder: baseline.png, blended_latent.png." in shirt
    dog = page[page.index('id="case-dog"') : page.index('id="case-shirt"')]
    assert "Missing from the case folder" not in dog


def test_plots_without_a_point_say_why_and_warn_nothing():
    """Every mask empty: no output has an IoU. The scatter says so in the frame instead of an
    empty legend box (matplotlib warns of a legend with no artists); so does a turn curve."""
    import warnings

    from maskedit.report.plots import scatter_plot
    from maskedit.report.turns import _curve

    rows = [
        {"case_id": "a", "method": m, "iou": None, "leakage": 1.0, "bg_psnr": 9.0}
        for m in ("baseline", "pixel")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scatter_plot(rows, ["baseline", "pixel"]).startswith("data:image/png;base64,")
        assert _curve([], "bg_psnr", "background PSNR").startswith("data:image/png;base64,")
