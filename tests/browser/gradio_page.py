"""Helpers for driving the Gradio pages in the browser tests: images, clicks, uploads, runs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

EVIL_INSTRUCTION = (  # user text that must be shown as typed, never run or fetched
    '<img src="http://example.com/a.png" onerror="window.hacked=1"> '
    "![t](http://example.com/x.png) make the suit red"
)
RUN_TIMEOUT_MS = 300_000  # an edit on a busy machine, tiny models or not


def pixels(page, selector: str) -> np.ndarray:
    """The image an <img> in the page shows, fetched from the server, as H×W×3 uint8."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def wait_new_src(page, selector: str, old: str | None) -> str:
    """Wait until the <img> under `selector` shows a new, loaded picture; its src."""
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img');"
        " return i && i.src && i.src !== old && i.complete && i.naturalWidth > 0; }",
        arg=[selector, old],
    )
    return page.locator(f"{selector} img").first.get_attribute("src")


def click_pixel(page, selector: str, x: int, y: int) -> None:
    """Click pixel (x, y) of the picture an <img> shows: Gradio centres it in its box, scaled
    down to fit, never up."""
    img = page.locator(f"{selector} img")
    loaded = (
        "sel => { const i = document.querySelector(sel + ' img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    for _ in range(20):  # each click redraws the picture: measure it once it has loaded
        page.wait_for_function(loaded, arg=selector)
        nw, nh = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        if nw and nh:
            break
    box = img.bounding_box()
    scale = min(box["width"] / nw, box["height"] / nh, 1.0)
    left, top = (box["width"] - nw * scale) / 2, (box["height"] - nh * scale) / 2
    # Gradio rounds (offset / scale) to the nearest integer: aim just past the pixel's corner.
    img.click(position={"x": left + (x + 0.2) * scale, "y": top + (y + 0.2) * scale})


def shown_box(page, selector: str) -> dict[str, float]:
    """The box (x, y, width, height) the picture of an <img> is drawn in: Gradio centres it in
    the <img>'s box, scaled down to fit, never up (the rest of that box is empty)."""
    return drawn_box(page.locator(f"{selector} img").first)


def drawn_box(img) -> dict[str, float]:
    """`shown_box` of an <img> locator; one whose object-fit is "contain" is scaled up too."""
    nw, nh, fit = img.evaluate(
        "i => [i.naturalWidth, i.naturalHeight, getComputedStyle(i).objectFit]"
    )
    box = img.bounding_box()
    scale = min(box["width"] / nw, box["height"] / nh, 1.0 if fit != "contain" else float("inf"))
    width, height = nw * scale, nh * scale
    x, y = box["x"] + (box["width"] - width) / 2, box["y"] + (box["height"] - height) / 2
    return {"x": x, "y": y, "width": width, "height": height}


def captions_whole(page, gallery: str) -> None:
    """Every caption of a gallery is whole, under its picture (never over it), none scrolled
    out of sight; the gallery's own label covers no picture."""
    shown = page.locator(f"{gallery} .grid-wrap").bounding_box()
    title = page.locator(f"{gallery} [data-testid=block-label]").first.bounding_box()
    for thumb in page.locator(f"{gallery} .thumbnail-item").all():
        label = thumb.locator(".caption-label")
        picture = drawn_box(thumb.locator("img"))
        assert not overlap(label.bounding_box(), picture), label.inner_text()
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), label.inner_text()
        assert inside(label.bounding_box(), shown), label.inner_text()
        assert title is None or not overlap(title, picture), (
            f"{gallery}: its label covers a picture"
        )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes (Playwright's bounding boxes) share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    """Whether box `inner` lies within box `outer` (to `slack` pixels)."""
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


CHELSEA_HW = (300, 451)  # skimage's chelsea, shown at twice its size


def on_canvas(x: float, y: float, photo_hw: tuple[int, int]) -> tuple[int, int]:
    """The canvas pixel showing the centre of photo pixel (x, y) (the canvas may be scaled)."""
    from maskedit.app.canvas import display_hw

    (h, w), (dh, dw) = photo_hw, display_hw(*photo_hw)
    return int((x + 0.5) * dw / w), int((y + 0.5) * dh / h)


def click_photo(page, x: float, y: float, photo_hw: tuple[int, int] = CHELSEA_HW) -> None:
    """Click photo pixel (x, y) on the canvas."""
    click_pixel(page, "#canvas", *on_canvas(x, y, photo_hw))


def upload(page, path: str | Path, selector: str = "#upload") -> None:
    page.locator(f"{selector} input[type=file]").set_input_files(str(path))


def load_sample(page, name: str) -> str:
    """Pick a sample photo and load it; the canvas's new src."""
    old = (
        page.locator("#canvas img").first.get_attribute("src")
        if page.locator("#canvas img").count()
        else None
    )
    page.locator("#sample input").click()
    page.get_by_role("option", name=name).click()
    page.locator("#load-sample").click()
    return wait_new_src(page, "#canvas", old)


def set_steps(page, steps: int) -> None:
    """Open the settings (if closed) and set the number of diffusion steps, and wait until the
    page's own state holds it: the slider's range input follows the committed value, so a Run
    pressed next sends it. The settings mount when first opened and set their initial value
    then, which can land after a value typed at once: the value is typed again until it holds."""
    field = page.locator("#steps input[type=number]")
    if not field.is_visible():
        page.locator("#settings").get_by_text("Mask and diffusion settings").click()
    committed = (
        "n => { const r = document.querySelector('#steps input[type=range]');"
        " return r !== null && r.value === String(n); }"
    )
    for attempt in range(5):
        field.fill(str(steps))
        field.press("Enter")
        field.blur()  # the slider commits (and clamps) a typed value on blur
        try:
            page.wait_for_function(committed, arg=steps, timeout=3000)
            page.wait_for_timeout(300)  # and it stays (no late initial value over it)
            if page.evaluate(committed, steps):
                return
        except Exception:
            if attempt == 4:
                raise
    raise AssertionError(f"the steps field never kept {steps}")


def run_and_wait(page) -> None:
    """Press Run and wait until the run says it is done: its one line, new (while it runs, the
    old line shows under the progress text, so a line alone is not enough)."""
    before = page.locator("#run-status").inner_text().strip()
    page.locator("#run").click()
    page.wait_for_function(
        "old => { const t = document.querySelector('#run-status').innerText.trim();"
        " return /^Run \\d+: [^\\n]*$/.test(t) && t !== old; }",
        arg=before,
        timeout=RUN_TIMEOUT_MS,
    )


def toasts_gone(page) -> None:
    """No error toast is left on the page."""
    page.wait_for_function("() => document.querySelectorAll('.toast-body').length === 0")


def shoot(page, folder: Path, name: str, *, full_page: bool = False) -> Path:
    """A screenshot named after the test and the window's width."""
    width = page.viewport_size["width"]
    path = Path(folder) / f"{name}-{width}.png"
    page.wait_for_timeout(400)  # images fade in after an update
    page.screenshot(path=path, full_page=full_page)
    return path
