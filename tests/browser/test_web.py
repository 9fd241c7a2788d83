"""`maskedit app` in a real browser (tiny models): upload, click → overlay, edit, bad inputs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from gradio_page import (
    RUN_TIMEOUT_MS,
    captions_whole,
    click_photo,
    drawn_box,
    inside,
    load_sample,
    on_canvas,
    overlap,
    pixels,
    run_and_wait,
    set_steps,
    shoot,
    shown_box,
    toasts_gone,
    upload,
    wait_new_src,
)
from PIL import Image

from maskedit.app.canvas import BOX_CORNER, resize_for_display
from maskedit.app.inputs import MAX_UPLOAD_BYTES
from maskedit.grid import INCLUDE
from maskedit.images import read_image, write_png

pytestmark = (
    pytest.mark.integration
)  # a browser and the app's server: outside the default run, in CI's


@pytest.fixture(scope="module")
def chelsea(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    write_png(path, read_image("skimage:chelsea"))
    return path


def _records(workspace):
    return sorted(workspace.glob("session-*/edit-*/record.json"), key=lambda p: p.stat().st_mtime)


def test_click_overlay_then_edit(page, web_app, chelsea, tiny_models, artifacts):
    url, workspace = web_app
    original = read_image(chelsea)
    page.goto(url)

    # Upload: the canvas shows the photo itself, untouched.
    upload(page, chelsea)
    src = wait_new_src(page, "#canvas", None)
    display = resize_for_display(original)  # 451×300 is shown at twice its size
    assert display.shape == (600, 902, 3)
    assert np.array_equal(pixels(page, "#canvas"), display)

    # One click on the cat's face: SAM's mask is tinted in, the click drawn where it was made.
    cx, cy = 225, 180
    click_photo(page, cx, cy)
    src = wait_new_src(page, "#canvas", src)
    shown = pixels(page, "#canvas")
    assert shown.shape == display.shape
    changed = np.any(shown != display, axis=-1)
    assert changed.mean() > 0.01, "no tint: the mask overlay did not appear"
    dx, dy = on_canvas(cx, cy, original.shape[:2])
    window = shown[dy - 2 : dy + 3, dx - 2 : dx + 3].reshape(-1, 3)
    assert (window == INCLUDE).all(axis=1).any(), "the include dot is not where we clicked"
    page.get_by_text("1 include, 0 exclude").wait_for()
    embeds = tiny_models.sam.embed_calls  # the photo is embedded by now (at load or this click)
    assert embeds >= 1

    # A second click on the same photo reuses SAM's embedding; undo takes it back.
    page.locator("#mode").get_by_label("Exclude").check()
    click_photo(page, 40, 30)
    page.get_by_text("1 include, 1 exclude").wait_for()
    assert tiny_models.sam.embed_calls == embeds
    page.locator("#undo").click()
    page.get_by_text("1 include, 0 exclude").wait_for()
    shoot(page, artifacts, "app-overlay")

    # Run a 2-step edit: the labelled results, the metrics, the downloads, the case on disk.
    page.locator("#instruction textarea").fill("turn the cat into a tiger")
    set_steps(page, 2)
    run_and_wait(page)
    page.locator("#metrics").get_by_text("equals the input, bit for bit").wait_for()
    for name in ("original.png", "mask.png", "baseline.png", "blended.png", "record.json"):
        page.locator(f'#downloads [aria-label="{name}"]').wait_for()
    page.locator("#metrics").get_by_text("max |blended − original| outside mask").wait_for()
    page.locator("#gallery").get_by_text("pixel · seed 1337").first.wait_for()
    shoot(page, artifacts, "app-main", full_page=True)

    records = _records(workspace)
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["settings"]["steps"] == 2
    assert record["instruction"] == "turn the cat into a tiger"
    assert record["app"]["points"] == [[cx, cy, 1]]
    assert sorted(p.name for p in records[0].parent.iterdir()) == sorted(
        ["original.png", "mask.png", "baseline.png", "blended.png", "grid.png", "record.json"]
    )
    assert page.offsite == []


def test_phrase_error_keeps_the_photo_and_says_it_in_the_pages_words(page, phrase_app, artifacts):
    page.goto(phrase_app[0])
    src = load_sample(page, "chelsea")
    click_photo(page, 225, 180)
    src = wait_new_src(page, "#canvas", src)
    before = pixels(page, "#canvas")
    status = page.locator("#status").inner_text()

    # No phrase anywhere: one message in the page's words; the photo, mask and status stay.
    page.locator("#instruction textarea").fill("make it better")
    page.get_by_role("tab", name="Describe").click()
    page.locator("#phrase-mask").click()
    message = page.get_by_text("no object to look for in the instruction 'make it better'")
    message.first.wait_for()
    body = page.locator("body").inner_text()
    assert "--target" not in body and "'Describe the object'" in body
    shoot(page, artifacts, "app-phrase-error")
    assert "Error" not in page.locator("#canvas").inner_text(), "an error badge over the photo"
    assert page.locator("#canvas img").get_attribute("src") == src
    assert np.array_equal(pixels(page, "#canvas"), before)
    assert page.locator("#status").inner_text() == status

    # The photo still takes clicks; a good phrase works, and the old message goes.
    page.locator("#phrase textarea").fill("the cat")
    page.locator("#phrase-mask").click()
    src = wait_new_src(page, "#canvas", src)
    page.get_by_text("mask from phrase 'the cat'").wait_for()
    toasts_gone(page)
    click_photo(page, 100, 100)
    wait_new_src(page, "#canvas", src)
    page.get_by_text("1 include, 0 exclude").wait_for()
    shoot(page, artifacts, "app-after-error")


def test_phrase_models_offered_with_reasons(page, web_app):
    page.goto(web_app[0])
    page.get_by_role("tab", name="Describe").click()
    page.get_by_text("CLIPSeg: unavailable (CLIPSeg is not loaded).").wait_for()
    page.get_by_text("Grounding DINO → SAM: unavailable (Grounding DINO is not loaded).").wait_for()
    page.locator("#backend").get_by_label("Where the edit acts").wait_for()


def test_negative_seed_and_half_drawn_box(page, web_app, artifacts):
    page.goto(web_app[0])
    src = load_sample(page, "chelsea")

    # A box's first corner, then back to points: the corner goes, and stays gone.
    page.locator("#mode").get_by_label("Box").check()
    click_photo(page, 60, 60)
    src = wait_new_src(page, "#canvas", src)
    page.get_by_text("click the other").wait_for()
    row = on_canvas(60, 60, (300, 451))[1]
    assert (pixels(page, "#canvas")[row, 100:140] == BOX_CORNER).all(axis=1).any()
    page.locator("#mode").get_by_label("Include").check()
    src = wait_new_src(page, "#canvas", src)
    assert "click the other" not in page.locator("#status").inner_text()
    assert not (pixels(page, "#canvas")[row, 100:140] == BOX_CORNER).all(axis=1).any()
    click_photo(page, 225, 180)
    wait_new_src(page, "#canvas", src)
    page.get_by_text("1 include, 0 exclude").wait_for()

    # A negative seed: one line in the page, no Gradio range message.
    page.locator("#instruction textarea").fill("make it red")
    page.locator("#seeds textarea, #seeds input").first.fill("-5")
    page.locator("#run").click()
    page.get_by_text("seed '-5': use whole numbers from 0").first.wait_for()
    assert "less than minimum" not in page.locator("body").inner_text()
    shoot(page, artifacts, "app-negative-seed")


def test_several_methods_and_seeds_one_labelled_result_each(page, web_app, artifacts):
    url, workspace = web_app
    page.goto(url)
    page.locator("#example-0").click()  # chelsea, a click on the cat, an instruction
    wait_new_src(page, "#canvas", None)
    page.get_by_text("1 include, 0 exclude").wait_for()
    assert page.locator("#instruction textarea").input_value() == "turn the cat into a tiger"
    for method in ("latent", "crop"):
        page.locator("#methods").get_by_label(method).check()
    page.locator("#seeds textarea, #seeds input").first.fill("1, 2")
    set_steps(page, 1)
    run_and_wait(page)
    captions = page.locator("#gallery .caption-label").all_inner_texts()
    assert len(captions) >= 4  # two baselines, and at least one output per seed
    for seed in (1, 2):
        mine = [c for c in captions if f"seed {seed}" in c and "baseline" not in c]
        for method in ("pixel", "latent", "crop"):
            assert sum(method in c.split(" · ")[0].split(" = ") for c in mine) == 1, captions
    # every method's result of every seed is counted, however many pictures they share
    assert page.locator("#run-status").inner_text().startswith("Run 1: 6 result(s)")
    page.locator("#notes").get_by_text("Tiny random models").wait_for()
    captions_whole(page, "#gallery")
    shoot(page, artifacts, "app-compare", full_page=True)

    # A/B against the history: the picker lists both seeds' results of this run.
    options = page.locator("#pick-b").evaluate("e => e.textContent")
    assert options is not None
    assert page.locator("#slider img").count() >= 1
    # the dropdowns above say which picture is which: no label over the pictures
    photo = drawn_box(page.locator("#slider img").first)
    labels = page.locator("#slider [data-testid=block-label]")
    for k in range(labels.count()):
        box = labels.nth(k).bounding_box()
        assert box is None or not overlap(box, photo), f"a label {box} covers the picture {photo}"


def _mask_shown(page, src):
    """Tick "Show the mask only", read the mask the page holds (at canvas size), untick."""
    page.locator("#mask-only").get_by_role("checkbox").check()
    src = wait_new_src(page, "#canvas", src)
    mask = pixels(page, "#canvas")[..., 0] > 127
    page.locator("#mask-only").get_by_role("checkbox").uncheck()
    return mask, wait_new_src(page, "#canvas", src)


def test_sam_candidate_and_brush_and_invert(page, web_app, artifacts):
    url, workspace = web_app
    page.goto(url)
    src = load_sample(page, "chelsea")
    click_photo(page, 225, 180)
    src = wait_new_src(page, "#canvas", src)
    best = pixels(page, "#canvas")

    # SAM's candidates with their scores; the second one changes the mask.
    radios = page.locator("#candidates input[type=radio]")
    radios.nth(2).wait_for()  # the list may be drawn just after the canvas
    assert radios.count() == 3
    page.locator("#candidates label").nth(1).click()
    src = wait_new_src(page, "#canvas", src)
    assert np.any(pixels(page, "#canvas") != best), "picking candidate 2 left the mask as it was"
    page.get_by_text("SAM candidate 2").wait_for()
    page.locator("#mask-only").get_by_role("checkbox").check()
    src = wait_new_src(page, "#canvas", src)  # each redraw awaited, so the next one is ours
    shoot(page, artifacts, "app-mask-only")
    page.locator("#mask-only").get_by_role("checkbox").uncheck()
    src = wait_new_src(page, "#canvas", src)
    candidate, src = _mask_shown(page, src)

    # Brush: paint a zigzag over a patch of the photo, then use the painted mask.
    page.get_by_role("tab", name="Brush").click()
    editor = page.locator("#editor canvas").first
    editor.wait_for()
    page.wait_for_timeout(2000)  # the editor draws the photo and the mask layer
    box = editor.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(6):
        page.mouse.move(x0 + (60 if i % 2 == 0 else 0), y0 + 12 * (i + 1), steps=6)
    page.mouse.up()
    shoot(page, artifacts, "app-brush")
    page.locator("#brush-apply").click()
    page.get_by_text("touched up with the brush").wait_for()
    src = wait_new_src(page, "#canvas", src)  # the painted mask drawn, before "mask only"
    painted, src = _mask_shown(page, src)
    assert (painted & ~candidate).sum() > 50, "the brush added nothing to the mask"

    # Run: the edit used the painted mask (mask.png), and the record says how it came about.
    page.locator("#instruction textarea").fill("make it blue")
    set_steps(page, 1)
    run_and_wait(page)
    record_path = _records(workspace)[-1]
    record = json.loads(record_path.read_text())
    assert record["app"]["mask_edits"] == ["brush"]
    assert record["app"]["sam_candidates"]["chosen"] == 1
    used = np.asarray(Image.open(record_path.parent / "mask.png")) > 127
    assert used.shape == (300, 451)
    assert np.array_equal(used, painted[1::2, 1::2])  # the canvas shows it at twice the size

    # Invert: the complement, said in the status line.
    page.locator("#invert").click()
    page.get_by_text("inverted").wait_for()


def test_clicks_answer_during_someone_elses_edit_and_runs_queue(
    new_page, web_demo, web_app, artifacts
):
    url, _ = web_app
    events = web_demo.maskedit_events
    a, b = new_page(), new_page()
    for page in (a, b):
        page.goto(url)
        page.locator("#example-0").click()
        wait_new_src(page, "#canvas", None)
        page.get_by_text("1 include, 0 exclude").wait_for()
        set_steps(page, 1)
    with events.locks.pipe:  # an edit is running: A's run waits, B's queues behind it
        a.locator("#run").click()
        # A's run is checked and takes the queue's one place: its timer runs, not in a queue
        a.wait_for_function(
            "() => { const t = document.querySelector('#run-status').innerText;"
            " return /\\d+(\\.\\d+)?s/.test(t) && !/queue/.test(t); }"
        )
        b.locator("#run").click()
        b.locator("#run-status").get_by_text("queue", exact=False).first.wait_for()
        assert b.get_by_text("queue:").count() == 1  # one progress display, under Run only
        shoot(b, artifacts, "app-queued")
        # SAM has its own lock: a click is answered while the edit holds the pipeline.
        src = b.locator("#canvas img").get_attribute("src")
        b.locator("#mode").get_by_label("Exclude").check()
        for k, (x, y) in enumerate(((40, 30), (400, 30), (40, 250)), start=1):
            click_photo(b, x, y)  # each one answered, and the canvas redrawn, before the next
            b.locator("#status").get_by_text(f"1 include, {k} exclude").wait_for()
            src = wait_new_src(b, "#canvas", src)
    for page in (a, b):
        page.locator("#gallery .caption-label").first.wait_for(timeout=300_000)


def test_runs_pressed_while_one_waits_each_edit_their_own_instruction(
    page, web_demo, web_app, artifacts
):
    url, workspace = web_app
    events = web_demo.maskedit_events
    page.goto(url)
    page.locator("#example-0").click()
    wait_new_src(page, "#canvas", None)
    page.get_by_text("1 include, 0 exclude").wait_for()
    set_steps(page, 1)
    before = set(_records(workspace))
    words = ["make it red", "make it blue"]
    with events.locks.pipe:  # someone else's edit is running: both runs wait
        for k, instruction in enumerate(words):
            page.locator("#instruction textarea").fill(instruction)
            page.locator("#run").click()
            if k == 0:  # the first run is checked and takes the queue's one place
                page.wait_for_function(
                    "() => /\\d+(\\.\\d+)?s/.test(document.querySelector('#run-status').innerText)"
                )
        # the second one waits behind it
        page.locator("#run-status").get_by_text("queue", exact=False).first.wait_for()
        shoot(page, artifacts, "app-two-queued")
    page.locator("#run-status").get_by_text(
        f"Run 2: 1 result(s), 1 seed(s) · “{words[1]}”"
    ).wait_for(timeout=RUN_TIMEOUT_MS)
    made = [p for p in _records(workspace) if p not in before]
    assert [json.loads(p.read_text())["instruction"] for p in made] == words
    assert [json.loads(p.read_text())["app"]["run"] for p in made] == [1, 2]
    # A/B starts with the two runs, side by side
    assert page.locator("#pick-a input").input_value() == "run 1 · pixel · seed 1337"
    assert page.locator("#pick-b input").input_value() == "run 2 · pixel · seed 1337"


def test_layout_photo_and_run_without_scrolling_and_photo_first_on_a_phone(
    page, phone, web_app, artifacts
):
    for p, name in ((page, "desktop"), (phone, "phone")):
        p.goto(web_app[0])
        p.locator("#example-2").click()
        wait_new_src(p, "#canvas", None)
        p.get_by_text("1 include, 0 exclude").wait_for()
        p.evaluate("() => window.scrollTo(0, 0)")
        shoot(p, artifacts, f"app-layout-{name}")
    height = page.viewport_size["height"]
    for sel in ("#canvas img", "#run"):
        box = page.locator(sel).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, f"{sel} is below the fold"
    photo = phone.locator("#canvas img").bounding_box()
    controls = phone.locator("#instruction").bounding_box()
    assert photo["y"] < controls["y"], "on a phone the photo comes after the controls"


def test_small_photo_is_scaled_up_and_clicks_land_on_its_pixels(page, web_app, tmp_path):
    small = np.zeros((48, 64, 3), np.uint8)
    small[..., 1] = 120
    path = tmp_path / "small.png"
    write_png(path, small)
    page.goto(web_app[0])
    upload(page, path)
    src = wait_new_src(page, "#canvas", None)
    assert page.locator("#canvas img").bounding_box()["width"] > 4 * 64
    click_photo(page, 10, 20, (48, 64))  # the middle of the block showing photo pixel (10, 20)
    wait_new_src(page, "#canvas", src)
    page.get_by_text("64×48 px · 1 include").wait_for()
    shown = pixels(page, "#canvas")
    assert shown.shape == (48 * 10, 64 * 10, 3)
    assert tuple(shown[20 * 10 + 5, 10 * 10 + 5]) == INCLUDE


# Strips, H×W, and a pixel (x, y) of each to click.
STRIPS = {(1, 300): (200, 0), (300, 1): (0, 123), (8, 600): (450, 5)}


def _strip(hw: tuple[int, int]) -> np.ndarray:
    """A strip photo, its neighbouring pixels in different colours."""
    values = np.arange(hw[0] * hw[1] * 3).reshape(*hw, 3)
    return (values * 37 % 251).astype(np.uint8)


def test_thin_photos_are_shown_thick_enough_to_click_and_clicks_land_on_their_pixels(
    page, phone, web_app, tmp_path, artifacts
):
    for p, strips in ((page, STRIPS), (phone, {(1, 300): STRIPS[(1, 300)]})):
        p.goto(web_app[0])
        p.locator("#mode").get_by_label("Box").check()  # a box's first corner: its pixel in words
        src = None
        for (h, w), (x, y) in strips.items():
            path = tmp_path / f"strip-{h}x{w}.png"
            write_png(path, _strip((h, w)))
            upload(p, path)
            src = wait_new_src(p, "#canvas", src)
            shown = shown_box(p, "#canvas")
            assert min(shown["width"], shown["height"]) >= 64, f"{w}×{h} px is shown {shown}"
            click_photo(p, x, y, (h, w))
            src = wait_new_src(p, "#canvas", src)
            p.locator("#status").get_by_text(
                f"{w}×{h} px · 0 include, 0 exclude, box corner at {x},{y}:"
            ).wait_for()
        shoot(p, artifacts, "app-strip")


def test_the_canvas_label_does_not_cover_the_photo(page, phone, web_app):
    for p in (page, phone):
        p.goto(web_app[0])
        load_sample(p, "chelsea")
        photo = shown_box(p, "#canvas")
        labels = p.locator("#canvas [data-testid=block-label]")
        for k in range(labels.count()):
            box = labels.nth(k).bounding_box()
            assert box is None or not overlap(box, photo), f"a label {box} covers the photo {photo}"


def test_the_drop_zones_hints_are_whole_and_uncovered(page, phone, web_app):
    for p in (page, phone):
        p.goto(web_app[0])
        for tab, sel in (("Photo", "#upload"), ("Mask file", "#mask-upload")):
            p.get_by_role("tab", name=tab).click()
            zone = p.locator(f"{sel} .upload-container")
            hint = p.locator(f"{sel} [data-testid=upload-text]")
            hint.wait_for()
            assert zone.evaluate("e => e.scrollHeight <= e.clientHeight"), f"{sel}: hint overflows"
            words = hint.bounding_box()
            assert inside(words, zone.bounding_box()), f"{sel}: the hint is cut off"
            label = p.locator(f"{sel} [data-testid=block-label]").bounding_box()
            assert not overlap(label, words), f"{sel}: the label covers the hint"


def test_a_wide_metrics_table_scrolls_and_keeps_the_method_column_in_view(
    page, web_app, monkeypatch, artifacts
):
    from maskedit.app import results

    for k in range(12):  # many metrics: a table wider than its column
        monkeypatch.setitem(results.METRICS, f"metric number {k}", lambda result, k=k: float(k))
    page.goto(web_app[0])
    page.locator("#example-0").click()
    wait_new_src(page, "#canvas", None)
    page.get_by_text("1 include, 0 exclude").wait_for()
    set_steps(page, 1)
    run_and_wait(page)
    table = page.locator("#metrics table.metrics")
    table.get_by_text("metric number 11").wait_for()
    table.scroll_into_view_if_needed()
    # Scroll the table's box to its far right: every row's first and last cells are in the box,
    # and the first is drawn on top (not under the cells scrolled past it).
    seen = table.evaluate(
        """t => { const box = t.parentElement; box.scrollLeft = box.scrollWidth;
        const r = box.getBoundingClientRect();
        const at = c => { const b = c.getBoundingClientRect(); return [b.left, b.right,
          document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2) === c]; };
        return {wide: t.offsetWidth > box.clientWidth, box: [r.left, Math.min(r.right, innerWidth)],
          first: [...t.rows].map(row => at(row.cells[0])),
          last: [...t.rows].map(row => at(row.cells[row.cells.length - 1]))}; }"""
    )
    shoot(page, artifacts, "app-wide-metrics")
    assert seen["wide"], "the table fits its column: nothing to scroll"
    left, right = seen["box"]
    for name in ("first", "last"):
        for a, b, on_top in seen[name]:
            assert left - 1 <= a and b <= right + 1, f"a {name} column's cell is hidden: {seen}"
            assert on_top, f"a {name} column's cell is covered: {seen}"


def test_user_text_is_text_and_nothing_is_fetched_from_elsewhere(page, phrase_app, artifacts):
    page.goto(phrase_app[0])
    load_sample(page, "chelsea")
    evil = '<img src="http://example.com/a.png" onerror="window.hacked=1">'
    markdown = "![t](http://example.com/x.png)"
    page.get_by_role("tab", name="Describe").click()
    page.locator("#phrase textarea").fill(markdown)
    page.locator("#phrase-mask").click()
    page.get_by_text(f"mask from phrase '{markdown}'").wait_for()  # shown as typed
    page.locator("#instruction textarea").fill(evil)
    page.locator("#seeds textarea, #seeds input").first.fill(evil)
    page.locator("#run").click()
    page.get_by_text("use whole numbers from 0").first.wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.hacked") is None
    assert page.offsite == [], page.offsite
    shoot(page, artifacts, "app-text-only")


def test_bad_uploads_show_an_error_and_the_page_keeps_working(
    page, web_app, chelsea, tmp_path, artifacts
):
    url, _ = web_app
    page.goto(url)

    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture\n")
    upload(page, not_image)
    page.get_by_text("'notes.png': not a readable image").first.wait_for()

    truncated = tmp_path / "cut.png"
    truncated.write_bytes(chelsea.read_bytes()[:5000])
    upload(page, truncated)
    page.get_by_text("'cut.png': image data is truncated or corrupt").first.wait_for()
    shoot(page, artifacts, "app-bad-upload")
    assert "/tmp" not in page.locator("body").inner_text(), "a server path leaked into the page"

    # Still serving: a sample photo loads and can be clicked; the old messages go.
    load_sample(page, "astronaut")
    astronaut = resize_for_display(read_image("skimage:astronaut"))
    assert np.array_equal(pixels(page, "#canvas"), astronaut)
    page.get_by_text("512×512 px").wait_for()
    toasts_gone(page)

    # Over the size cap: Gradio refuses the upload before it reaches the server's callback.
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (MAX_UPLOAD_BYTES + 1))
    upload(page, big)
    page.get_by_text("exceed the maximum allowed size").first.wait_for()
    page.get_by_text("512×512 px").wait_for()  # the loaded photo is still there


def test_mask_file_upload(page, web_app, tmp_path):
    page.goto(web_app[0])
    src = load_sample(page, "chelsea")
    page.get_by_role("tab", name="Mask file").click()
    wrong = tmp_path / "small.png"
    write_png(wrong, np.full((10, 10), 255, np.uint8))
    upload(page, wrong, "#mask-upload")
    page.get_by_text("mask 'small.png': size 10×10 does not match the image's 451×300").wait_for()
    mask = np.zeros((300, 451), np.uint8)
    mask[100:200, 150:300] = 255
    good = tmp_path / "region.png"
    write_png(good, mask)
    upload(page, good, "#mask-upload")
    page.get_by_text("mask from file 'region.png' · mask covers 11.1 % of the image").wait_for()
    wait_new_src(page, "#canvas", src)
    assert "/tmp" not in page.locator("body").inner_text()


def test_serves_nothing_outside_its_workspace(web_app):
    url, _ = web_app
    for path in ("/etc/passwd", __file__):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)
        assert err.value.code in (403, 404)


def _turn_captions(page) -> list[str]:
    return [c for c in page.locator("#turns .caption-label").all_inner_texts() if c != "photo"]


def _wait_words(page, text: str) -> None:
    page.locator("#history-words").get_by_text(text).wait_for(timeout=RUN_TIMEOUT_MS)


def test_keep_editing_two_turns_undo_redo_and_the_history_zip(page, phone, web_app, artifacts):
    import zipfile

    url, workspace = web_app
    page.goto(url)
    page.locator("#example-0").click()  # chelsea, a click on the cat, an instruction
    src = wait_new_src(page, "#canvas", None)
    page.get_by_text("1 include, 0 exclude").wait_for()
    set_steps(page, 1)
    run_and_wait(page)

    # Keep the run's first result: it becomes turn 1 and the photo on the canvas.
    page.locator("#keep").click()
    _wait_words(page, "Turn 1 of this path")
    src = wait_new_src(page, "#canvas", src)
    page.locator("#status").get_by_text("click on the object to edit").wait_for()
    assert _turn_captions(page) == ["turn 1: turn the cat into a tiger"]

    # Turn 2: a new click and instruction on turn 1's output.
    click_photo(page, 60, 40)
    page.get_by_text("1 include, 0 exclude").wait_for()
    page.locator("#instruction textarea").fill("make the wall blue")
    run_and_wait(page)
    page.locator("#keep").click()
    _wait_words(page, "Turn 2 of this path")
    src = wait_new_src(page, "#canvas", src)
    assert len(_turn_captions(page)) == 2
    captions_whole(page, "#turns")
    shoot(page, artifacts, "app-turns", full_page=True)

    page.locator("#turn-undo").click()
    _wait_words(page, "Turn 1 of this path (2 turn(s) made, 1 to redo)")
    assert len(_turn_captions(page)) == 1
    page.locator("#turn-redo").click()
    _wait_words(page, "Turn 2 of this path (2 turn(s) made, 0 to redo)")
    assert _turn_captions(page) == [
        "turn 1: turn the cat into a tiger",
        "turn 2: make the wall blue",
    ]

    # Outside both turns' masks the canvas is the photo (as shown, ×2).
    folder = next(workspace.glob("session-*/turns-*"))
    from maskedit.turns import TurnsEdit

    edit = TurnsEdit.open(folder)
    union = edit.union(edit.path())
    head = edit.image_at(edit.head)
    assert np.array_equal(head[~union], read_image("skimage:chelsea")[~union])

    page.locator("#history-dl").click()
    link = page.locator("#history-file a").first
    link.wait_for()
    body = page.request.get(link.get_attribute("href")).body()
    archive = Path(artifacts) / "history.zip"
    archive.write_bytes(body)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    for name in ("history.json", "strip.png", "turns/t01/record.json", "turns/t02/record.json"):
        assert f"{folder.name}/{name}" in names, names
    shoot(page, artifacts, "app-history")

    # A phone shows the same panel, narrow.
    phone.goto(url)
    phone.locator("#example-0").click()
    wait_new_src(phone, "#canvas", None)
    phone.get_by_text("1 include, 0 exclude").wait_for()
    set_steps(phone, 1)
    run_and_wait(phone)
    phone.locator("#keep").click()
    _wait_words(phone, "Turn 1 of this path")
    shoot(phone, artifacts, "app-turns", full_page=True)
    assert page.offsite == []


def test_two_region_layers_one_run_and_the_record_lists_both(page, web_app, artifacts):
    url, workspace = web_app
    page.goto(url)
    page.locator("#example-0").click()
    src = wait_new_src(page, "#canvas", None)
    page.get_by_text("1 include, 0 exclude").wait_for()
    page.locator("#layer-add").click()
    page.locator("#layers-list li").first.wait_for()

    page.locator("#clear").click()
    src = wait_new_src(page, "#canvas", src)
    click_photo(page, 60, 40)
    page.get_by_text("1 include, 0 exclude").wait_for()
    page.locator("#instruction textarea").fill("make the wall blue")
    page.locator("#layer-add").click()
    page.wait_for_function("() => document.querySelectorAll('#layers-list li').length === 2")
    page.locator("#layers-list").get_by_text("the later layer wins").wait_for()
    assert page.locator("#run").inner_text() == "Run edit (2 region layers)"
    shoot(page, artifacts, "app-layers")

    set_steps(page, 1)
    before = set(_records(workspace))
    run_and_wait(page)
    record_path = next(p for p in _records(workspace) if p not in before)
    record = json.loads(record_path.read_text())
    assert [r["instruction"] for r in record["regions"]] == [
        "turn the cat into a tiger",
        "make the wall blue",
    ]
    assert record["instruction"] == "turn the cat into a tiger; make the wall blue"
    assert record["settings"]["steps"] == 1 and len(record["app"]["layers"]) == 2
    shoot(page, artifacts, "app-layers-run", full_page=True)

    # Remove the first layer: one is left, and Run says so.
    page.locator("#layer-pick input").click()
    page.get_by_role("option", name="1. turn the cat into a tiger").click()
    page.locator("#layer-remove").click()
    page.wait_for_function("() => document.querySelectorAll('#layers-list li').length === 1")
    assert page.locator("#run").inner_text() == "Run edit (1 region layer)"
