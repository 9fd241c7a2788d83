"""report.html: written, self-contained (no network), names every case and method, escapes text,
embeds images that decode, and never imports torch."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from run_fixtures import write_case_folder

from maskedit.evaluate import evaluate_dir
from maskedit.report.html import write_report

SRC = Path(__file__).resolve().parents[2] / "src"
DATA_URI = re.compile(r'src="data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"')


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


def test_report_is_self_contained_and_names_cases_and_methods(run):
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
    images = DATA_URI.findall(page)
    # 2 plots + 2 grids + 3 thumbnails of the case with two methods
    assert len(images) == 7
    for mime, data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()
        assert img.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[mime]


def test_text_from_records_is_escaped(run):
    evaluate_dir(run)
    page = write_report(run).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; make it red" in page


def test_unscored_run_still_reports_cases(run):
    page = write_report(run).read_text(encoding="utf-8")  # no maskedit eval yet
    assert "shirt" in page and "dog" in page
    assert "maskedit eval" in page
    assert len(DATA_URI.findall(page)) == 2 + 3  # grids and thumbnails, no plots


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
