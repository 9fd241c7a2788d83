"""report.html in a real browser: every link and picture resolves to a file of the run folder,
and the page fetches nothing from anywhere else."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from gradio_page import shoot

pytestmark = pytest.mark.integration  # a browser: outside the default run, in CI's


@pytest.fixture(scope="module")
def report(tiny_models, tmp_path_factory) -> Path:
    """Two finished cases of two methods each (tiny models, one step), scored and reported."""
    from maskedit import EditSettings, edit
    from maskedit.evaluate import evaluate_dir
    from maskedit.images import read_image
    from maskedit.outputs import write_case
    from maskedit.report.html import write_report

    run = tmp_path_factory.mktemp("run")
    for name, box in (("cat", (150, 100, 330, 260)), ("suit", (60, 300, 300, 500))):
        image = read_image(f"skimage:{'chelsea' if name == 'cat' else 'astronaut'}")
        mask = np.zeros(image.shape[:2], bool)
        mask[box[1] : box[3], box[0] : box[2]] = True
        settings = EditSettings(steps=1, methods=("pixel", "crop"))
        result = edit(
            image, f"make the {name} red", models=tiny_models, mask=mask, settings=settings
        )
        write_case(result, run / name, case_id=name)
    evaluate_dir(run)
    return write_report(run)


def test_report_links_resolve_to_files_that_exist(page, phone, report, artifacts):
    run = report.parent.resolve()
    page.goto(report.as_uri())
    hrefs = page.locator("a[href]").evaluate_all("links => links.map((a) => a.href)")
    files = [h for h in hrefs if not urlparse(h).fragment or urlparse(h).path != report.as_posix()]
    assert len(files) >= 2 * 7  # per case: pictures and files
    for href in files:
        url = urlparse(href)
        if url.scheme == "file" and url.path != report.as_posix():
            path = Path(unquote(url.path))
            assert path.is_file(), f"broken link: {href}"
            assert path.resolve().is_relative_to(run), f"a link leaves the run folder: {href}"
        else:
            assert url.path == report.as_posix() and url.fragment.startswith("case-"), href
            assert page.locator(f"#{url.fragment}").count() == 1, f"no section {url.fragment}"
    # Every picture loads, at its full size (lossless PNG files, not thumbnails).
    page.locator("details.pair").first.locator("summary").click()
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    images = page.locator("img")
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert page.offsite == []
    shoot(page, artifacts, "report", full_page=True)
    phone.goto(report.as_uri())
    shoot(phone, artifacts, "report")
    assert phone.offsite == []


def test_a_wide_table_keeps_its_method_column_in_view(phone, report, artifacts):
    """On a phone the summary table scrolls sideways; its first column (the method) stays at
    the left edge of the table's box, so every number still says whose it is."""
    phone.goto(report.as_uri())
    box = phone.locator(".scroll").first
    width = box.evaluate("(b) => b.scrollWidth - b.clientWidth")
    assert width > 0  # the table is wider than a phone: it scrolls
    box.evaluate("(b) => { b.scrollLeft = b.scrollWidth; }")
    frame = box.bounding_box()
    for cell in (box.locator("th").first, box.locator("tbody td").first):
        seen = cell.bounding_box()
        assert frame["x"] - 1 <= seen["x"] <= frame["x"] + 1, (seen, frame)
    shoot(phone, artifacts, "report-table-scrolled")


def test_a_phone_never_scrolls_the_page_sideways(phone, report, tmp_path, artifacts):
    """At 390 px the page is as wide as the phone: a wide table scrolls in its own box, a
    multi-turn case's strip shrinks to the page and a long photo path wraps (each used to push
    the whole page sideways)."""
    import json
    import shutil

    from PIL import Image

    from maskedit.report.html import write_report

    run = tmp_path / "run"
    shutil.copytree(report.parent, run)
    case = run / "cat"
    record = json.loads((case / "record.json").read_text(encoding="utf-8"))
    record["turns"] = {"path": ["t01"]}
    record["image"]["source"] = "/data/PIE-Bench_v1/annotation_images/" + "0_random_140/" * 4
    (case / "record.json").write_text(json.dumps(record), encoding="utf-8")
    (case / "turns" / "t01").mkdir(parents=True)
    rows = [{"case_id": "cat", "method": "pixel", "iou": 0.5, "drift_mse": 0.0}]
    (case / "turns" / "t01" / "metrics.json").write_text(json.dumps({"rows": rows}))
    Image.new("RGB", (1000, 160), "gray").save(case / "strip.png")
    phone.goto(write_report(run).as_uri())
    phone.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    shoot(phone, artifacts, "report-phone-width", full_page=True)
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
