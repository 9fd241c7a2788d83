"""`maskedit app` in a real browser (tiny models): upload, click → overlay, edit, bad uploads."""

from __future__ import annotations

import io
import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from maskedit.app.inputs import MAX_UPLOAD_BYTES
from maskedit.grid import INCLUDE
from maskedit.images import read_image, write_png


def _pixels(page, selector: str) -> np.ndarray:
    """The image an <img> in the page shows, fetched from the server, as H×W×3 uint8."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def _wait_new_src(page, selector: str, old: str | None) -> str:
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img');"
        " return i && i.src && i.src !== old && i.complete; }",
        arg=[selector, old],
    )
    return page.locator(f"{selector} img").first.get_attribute("src")


def _click_pixel(page, selector: str, x: int, y: int) -> None:
    """Click image pixel (x, y) of an <img>: Gradio centres it in its box, never upscaled."""
    img = page.locator(f"{selector} img")
    box = img.bounding_box()
    nw, nh = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    scale = min(box["width"] / nw, box["height"] / nh, 1.0)
    left, top = (box["width"] - nw * scale) / 2, (box["height"] - nh * scale) / 2
    # Gradio rounds (offset / scale) to the nearest integer: aim just past the pixel's corner.
    img.click(position={"x": left + (x + 0.2) * scale, "y": top + (y + 0.2) * scale})


def _upload(page, path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(path))


@pytest.fixture(scope="module")
def chelsea(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    write_png(path, read_image("skimage:chelsea"))
    return path


def test_click_overlay_then_edit(page, web_app, chelsea, tiny_models, artifacts):
    url, workspace = web_app
    original = read_image(chelsea)
    page.goto(url)

    # Upload: the canvas shows the photo itself, untouched.
    _upload(page, chelsea)
    src = _wait_new_src(page, "#canvas", None)
    assert np.array_equal(_pixels(page, "#canvas"), original)

    # One click on the cat's face: SAM's mask is tinted in, the click drawn where it was made.
    embeds = tiny_models.sam.embed_calls
    cx, cy = 225, 180
    _click_pixel(page, "#canvas", cx, cy)
    src = _wait_new_src(page, "#canvas", src)
    shown = _pixels(page, "#canvas")
    assert shown.shape == original.shape
    changed = np.any(shown != original, axis=-1)
    assert changed.mean() > 0.01, "no tint: the mask overlay did not appear"
    window = shown[cy - 2 : cy + 3, cx - 2 : cx + 3].reshape(-1, 3)
    assert (window == INCLUDE).all(axis=1).any(), "the include dot is not where we clicked"
    page.get_by_text("1 include, 0 exclude").wait_for()

    # A second click on the same photo reuses SAM's embedding; undo takes it back.
    page.get_by_label("Exclude point").check()
    _click_pixel(page, "#canvas", 40, 30)
    page.get_by_text("1 include, 1 exclude").wait_for()
    assert tiny_models.sam.embed_calls == embeds + 1
    page.locator("#undo").click()
    page.get_by_text("1 include, 0 exclude").wait_for()
    page.wait_for_timeout(400)  # the canvas fades back in after an update
    page.screenshot(path=artifacts / "app-overlay.png", full_page=True)

    # Run a 2-step edit: three images, the metrics, the downloads, the case on disk.
    page.locator("#instruction textarea").fill("turn the cat into a tiger")
    steps = page.locator("#steps input[type=number]")
    steps.fill("2")
    steps.press("Enter")
    page.locator("#run").click()
    for sel in ("#out-original", "#out-baseline", "#out-blended"):
        _wait_new_src(page, sel, None)
    page.get_by_text("equals the input, bit for bit").wait_for()
    for name in ("original.png", "mask.png", "baseline.png", "blended.png", "record.json"):
        page.locator(f'#downloads [aria-label="{name}"]').wait_for()
    page.locator("#metrics").get_by_text("max |blended − original| outside mask").wait_for()
    assert np.array_equal(_pixels(page, "#out-original"), original)
    assert _pixels(page, "#out-blended").shape == original.shape
    page.wait_for_timeout(400)
    page.screenshot(path=artifacts / "app-main.png", full_page=True)

    records = list(workspace.glob("session-*/edit-001/record.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["settings"]["steps"] == 2
    assert record["instruction"] == "turn the cat into a tiger"
    assert record["app"]["points"] == [[cx, cy, 1]]
    assert sorted(p.name for p in records[0].parent.iterdir()) == sorted(
        ["original.png", "mask.png", "baseline.png", "blended.png", "grid.png", "record.json"]
    )


@pytest.fixture(scope="module")
def phrase_app(browser, tiny_models, tmp_path_factory):
    """The page over tiny models plus tiny CLIPSeg (the shared one has no phrase masks)."""
    from dataclasses import replace

    from maskedit.app.web import build_app, launch
    from maskedit.models import load_clipseg

    models = replace(tiny_models, text={"clipseg": load_clipseg("tiny")})
    demo = build_app(models, workspace=tmp_path_factory.mktemp("phrase-workspace"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    demo.close()


def test_mask_from_phrase(page, phrase_app, artifacts):
    page.goto(phrase_app)
    page.locator("#sample input").click()
    page.get_by_role("option", name="chelsea").click()
    page.locator("#load-sample").click()
    src = _wait_new_src(page, "#canvas", None)
    before = _pixels(page, "#canvas")
    assert np.array_equal(before, read_image("skimage:chelsea"))

    page.locator("#phrase textarea").fill("the cat")
    page.locator("#phrase-mask").click()
    _wait_new_src(page, "#canvas", src)
    after = _pixels(page, "#canvas")
    assert after.shape == before.shape
    assert np.any(after != before, axis=-1).mean() > 0.01, "no tint: the phrase mask did not show"
    page.get_by_text("mask from phrase 'the cat'").wait_for()
    page.wait_for_timeout(400)
    page.screenshot(path=artifacts / "app-phrase.png", full_page=True)


def test_phrase_box_disabled_without_clipseg(page, web_app):
    page.goto(web_app[0])
    page.get_by_text("Unavailable: CLIPSeg is not loaded.").wait_for()
    assert page.locator("#phrase-mask").is_disabled()


def test_bad_uploads_show_an_error_and_the_page_keeps_working(
    page, web_app, chelsea, tmp_path, artifacts
):
    url, _ = web_app
    page.goto(url)

    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture\n")
    _upload(page, not_image)
    page.get_by_text("'notes.png': not a readable image").first.wait_for()

    truncated = tmp_path / "cut.png"
    truncated.write_bytes(chelsea.read_bytes()[:5000])
    _upload(page, truncated)
    page.get_by_text("'cut.png': image data is truncated or corrupt").first.wait_for()
    page.screenshot(path=artifacts / "app-bad-upload.png", full_page=True)
    assert "/tmp" not in page.locator("body").inner_text(), "a server path leaked into the page"

    # Still serving: a sample photo loads and can be clicked.
    page.locator("#sample input").click()
    page.get_by_role("option", name="astronaut").click()
    page.locator("#load-sample").click()
    _wait_new_src(page, "#canvas", None)
    assert np.array_equal(_pixels(page, "#canvas"), read_image("skimage:astronaut"))
    page.get_by_text("512×512 px").wait_for()

    # Over the size cap: Gradio refuses the upload before it reaches the server's callback.
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (MAX_UPLOAD_BYTES + 1))
    _upload(page, big)
    page.get_by_text("exceed the maximum allowed size").first.wait_for()
    page.get_by_text("512×512 px").wait_for()  # the loaded photo is still there


def test_serves_nothing_outside_its_workspace(web_app):
    url, _ = web_app
    for path in ("/etc/passwd", __file__):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert err.value.code in (403, 404)
