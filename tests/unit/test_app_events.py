"""The editing page's events without a browser: regions (SAM candidates, brush, invert, files,
phrases in the page's words), runs (seeds, methods, snapshots, progress), comparisons, locks."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from maskedit.app import compare
from maskedit.app.canvas import display_hw, mask_view, resize_for_display, to_image_xy
from maskedit.app.clicks import Clicks, add_click, current, drop_corner
from maskedit.app.region import (
    Region,
    backend_status,
    brush_layer,
    brushed,
    candidate_labels,
    choose_candidate,
    from_mask_file,
    inverted,
    phrase_mask,
)
from maskedit.app.results import OUTSIDE, metrics_html
from maskedit.app.run import RunProgress, parse_seeds, prepare_run
from maskedit.app.texts import paragraphs, plain, toast
from maskedit.errors import InputError
from maskedit.images import write_png
from maskedit.masks.sam import SamPrediction

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- clicks and the canvas ------------------------------------------------------------------


def test_a_half_drawn_box_goes_when_points_come_back():
    corner = add_click(Clicks(points=((1, 1, 1),)), 5, 5, "box")
    assert corner.corner == (5.0, 5.0)
    assert add_click(corner, 9, 9, "include").corner is None  # a point click drops it
    history = (Clicks(), corner)
    assert current(drop_corner(history)) == Clicks(points=((1, 1, 1),))  # the mode changed
    assert len(drop_corner(history)) == 2  # replaced, not added: undo cannot bring it back
    assert drop_corner(()) == () and drop_corner((Clicks(),)) == (Clicks(),)


def test_small_photos_are_scaled_up_by_whole_blocks_and_clicks_land_on_pixels():
    assert display_hw(48, 64) == (480, 640)  # ×10
    assert display_hw(300, 451) == (600, 902)  # ×2
    assert display_hw(200, 100) == (800, 400)  # ×4
    assert display_hw(640, 500) == (640, 500)  # long enough: as it is
    assert to_image_xy((0, 0), (480, 640), (48, 64)) == (0.0, 0.0)
    assert to_image_xy((19, 10), (480, 640), (48, 64)) == (1.0, 1.0)  # block 1, block 1
    assert to_image_xy((639, 479), (480, 640), (48, 64)) == (63.0, 47.0)
    photo = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = resize_for_display(photo)
    assert big.shape == (2 * 214, 3 * 214, 3) and (big[213, 427] == photo[0, 1]).all()


def test_a_strip_is_stretched_across_and_clicks_land_on_its_pixels():
    assert display_hw(1, 300) == (225, 900)  # ×3 along, ×225 across: at most 4 to 1
    assert display_hw(300, 1) == (900, 225)
    assert display_hw(8, 600) == (304, 1200)  # ×2 along, ×38 across (whole blocks)
    assert display_hw(10, 3000) == (260, 1024)  # shrunk along, ×26 across
    assert display_hw(200, 1000) == (250, 1000)  # less than twice: resampled, not blocks
    assert display_hw(250, 1000) == (250, 1000)  # 4 to 1: as it is
    assert to_image_xy((450, 224), (225, 900), (1, 300)) == (150.0, 0.0)
    assert to_image_xy((602, 151), (304, 1200), (8, 600)) == (301.0, 3.0)
    assert to_image_xy((0, 125), (250, 1000), (200, 1000)) == (0.0, 99.9)
    strip = np.arange(2 * 10 * 3, dtype=np.uint8).reshape(2, 10, 3)  # ×64 along, ×80 across
    shown = resize_for_display(strip)
    assert shown.shape == (160, 640, 3)
    assert (shown[79, 64] == strip[0, 1]).all() and (shown[80, 63] == strip[1, 0]).all()
    mask = mask_view(shown, np.eye(2, 10, dtype=np.float32))
    assert mask.shape == (160, 640, 3) and mask[79, 63, 0] == 255 and mask[79, 64, 0] == 0


def test_a_long_thin_strip_is_shown_without_blowing_it_up_at_full_length():
    """2×200000 pixels shown at 256×1024: shrunk along before it is repeated across (repeating
    first held a 256×200000 copy, 150 MB, for a 1.2 MB photo), with the same pixels."""
    import tracemalloc

    from maskedit.app.canvas import overlay

    strip = np.zeros((2, 200_000, 3), np.uint8)
    strip[1] = 200
    alpha = np.zeros((2, 200_000), np.float32)
    alpha[:, :100_000] = 1
    tracemalloc.start()
    try:
        shown = resize_for_display(strip)
        drawn = overlay(shown, alpha, Clicks(), strip.shape[:2])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert shown.shape == drawn.shape == (256, 1024, 3) and peak < 60e6
    assert (shown[:128] == 0).all() and (shown[128:] == 200).all()  # each row a 128-pixel block
    assert (drawn[:, 520:] == shown[:, 520:]).all() and (drawn[:, :500] != shown[:, :500]).any()


def test_a_lone_box_corner_is_drawn_where_it_was_clicked_on_a_scaled_canvas():
    from maskedit.app.canvas import BOX_CORNER, overlay

    display = np.zeros((80, 100, 3), np.uint8)  # a 40×50 photo shown at twice its size
    out = overlay(display, None, Clicks(corner=(20.0, 10.0)), (40, 50))
    ys, xs = np.nonzero((out == BOX_CORNER).all(-1))
    assert (ys.min() + ys.max()) / 2 == pytest.approx(20.5, abs=1)  # (10 + 0.5) * 2 - 0.5
    assert (xs.min() + xs.max()) / 2 == pytest.approx(40.5, abs=1)


def test_mask_view_is_the_mask_alone():
    display = np.full((4, 6, 3), 77, np.uint8)
    alpha = np.zeros((4, 6), np.float32)
    alpha[1, 2], alpha[2, 3] = 1.0, 0.5
    view = mask_view(display, alpha)
    assert view.shape == (4, 6, 3) and tuple(view[1, 2]) == (255, 255, 255)
    assert tuple(view[2, 3]) == (128, 128, 128) and view[0].max() == 0
    assert mask_view(display, None).max() == 0


# --- regions --------------------------------------------------------------------------------


def _prediction() -> SamPrediction:
    masks = np.zeros((3, 4, 5), bool)
    masks[0, 0, 0] = True
    masks[1, :2] = True
    masks[2] = True
    return SamPrediction(masks=masks, scores=np.array([0.5, 0.9, 0.7]), best=1)


def test_sam_candidates_to_pick_from_and_the_record_says_which():
    p = _prediction()
    region = Region(p.mask, "sam", prediction=p, chosen=p.best)
    assert candidate_labels(region) == [
        "1 · score 0.50",
        "2 · score 0.90 (best)",
        "3 · score 0.70",
    ]
    assert region.describe() is None  # SAM's own best: the clicks say it
    third = choose_candidate(region, 2)
    assert third.mask.all() and third.describe() == "SAM candidate 3"
    assert third.to_record()["sam_candidates"] == {
        "scores": [0.5, 0.9, 0.7],
        "chosen": 2,
        "best": 1,
        "multimask_output": p.multimask,
    }
    with pytest.raises(InputError, match="choose 1 to 3"):
        choose_candidate(region, 3)
    with pytest.raises(InputError, match="click on the photo first"):
        choose_candidate(Region(p.mask, "phrase"), 0)


def test_invert_and_brush_and_a_mask_file(tmp_path):
    p = _prediction()
    region = Region(p.mask, "sam", prediction=p, chosen=1)
    flipped = inverted(region)
    assert np.array_equal(flipped.mask, ~p.mask) and flipped.to_record()["mask_edits"] == ["invert"]
    assert flipped.describe() == "SAM mask, inverted"
    with pytest.raises(InputError, match="no mask yet"):
        inverted(None)

    # The brush layer is at canvas size (here ×2); each photo pixel takes its block's centre.
    layer = brush_layer(region, (8, 10), (255, 0, 160, 150))
    assert layer.shape == (8, 10, 4) and (layer[:4, :, 3] == 150).all() and layer[4:].max() == 0
    layer[6:8, 8:10] = (255, 0, 160, 150)  # paint photo pixel (x 4, y 3)
    layer[0:2, 0:2, 3] = 0  # erase photo pixel (0, 0)
    painted = brushed(region, layer, (4, 5))
    expected = p.mask.copy()
    expected[3, 4], expected[0, 0] = True, False
    assert np.array_equal(painted.mask, expected)
    assert painted.to_record()["mask_edits"] == ["brush"] and painted.source == "sam"
    assert brushed(None, layer, (4, 5)).source == "brush"
    with pytest.raises(InputError, match="nothing painted yet"):
        brushed(region, None, (4, 5))

    good = tmp_path / "mask.png"
    write_png(good, (expected * 255).astype(np.uint8))
    from_file = from_mask_file(good, (4, 5))
    assert np.array_equal(from_file.mask, expected) and from_file.info == {"mask_file": "mask.png"}
    with pytest.raises(InputError) as err:
        from_mask_file(good, (5, 5))
    assert "'mask.png'" in str(err.value) and str(tmp_path) not in str(err.value)


@pytest.fixture(scope="module")
def clipseg_models(tiny_models):
    from maskedit.models import load_clipseg

    return replace(tiny_models, text={"clipseg": load_clipseg("tiny")})


def test_no_phrase_in_the_instruction_is_said_in_the_pages_words(clipseg_models, photo):
    with pytest.raises(InputError) as err:
        phrase_mask(clipseg_models, photo, "", "make it better")
    message = str(err.value)
    assert "--" not in message and "'Describe the object'" in message and "click" in message


def test_phrase_backends_say_why_they_are_unavailable(tiny_models, clipseg_models):
    assert backend_status(clipseg_models) == {
        "clipseg": None,
        "grounded-sam": "Grounding DINO is not loaded",
        "edit": None,  # IP2P's own relevance needs no other model
    }
    assert backend_status(tiny_models)["clipseg"] == "CLIPSeg is not loaded"
    with pytest.raises(InputError, match="Grounding DINO is not loaded"):
        phrase_mask(
            clipseg_models, np.zeros((8, 8, 3), np.uint8), "cat", "", backend="grounded-sam"
        )


# --- runs -----------------------------------------------------------------------------------


def test_seeds_are_checked_in_the_pages_words():
    assert parse_seeds("1337") == (1337,) and parse_seeds(" 1, 2  3,2 ") == (1, 2, 3)
    assert parse_seeds(7.0) == (7,)
    for bad in ("-5", "1.5", "abc", str(2**63)):
        with pytest.raises(InputError, match=f"seed '{bad}': use whole numbers from 0"):
            parse_seeds(bad)
    with pytest.raises(InputError, match="seed: is empty"):
        parse_seeds("  ")
    with pytest.raises(InputError, match="at most 8"):
        parse_seeds(" ".join(str(i) for i in range(9)))


def test_a_run_snapshots_the_photo_and_runs_every_method_and_seed():
    img, mask = np.zeros((40, 50, 3), np.uint8), np.zeros((40, 50), bool)
    mask[10:30, 15:35] = True
    region = {"mask_source": "sam"}
    args = (img, Clicks(box=(15, 10, 35, 30)), mask, region, " make it red ")
    job = prepare_run(*args, ["crop", "pixel"], 0, 0, "3, 4", 2, 7.5, 1.5)
    assert job.image is img and job.mask is mask and job.instruction == "make it red"
    assert job.methods == ("pixel", "crop") and job.seeds == (3, 4)  # the page's method order
    assert job.app_info["method"] == "pixel" and job.app_info["mask_source"] == "sam"
    with pytest.raises(InputError, match="method: none ticked"):
        prepare_run(*args, [], 0, 0, "1", 2, 7.5, 1.5)
    with pytest.raises(InputError, match="seed '-5'"):
        prepare_run(*args, ["pixel"], 0, 0, "-5", 2, 7.5, 1.5)
    with pytest.raises(InputError, match="made on another photo"):
        prepare_run(np.zeros((41, 50, 3), np.uint8), *args[1:], ["pixel"], 0, 0, "1", 2, 7.5, 1.5)


def test_the_progress_bar_only_moves_forwards():
    bar = RunProgress(2, ["pixel", "latent"])  # per seed: the baseline, then latent's own run
    seen = []
    for seed in range(2):
        bar.start_seed(seed)
        for stage in ("baseline", "latent"):
            seen += [bar(stage, k, 2) for k in (1, 2)]
        seen.append(bar.writing())
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] and round(fractions[-1], 9) == 0.95
    assert seen[0][1] == "seed 1/2 · baseline: diffusion step 1/2"
    fraction, text = RunProgress(1, ["pixel"])("baseline", 1, 1)
    assert round(fraction, 9) == 0.95 and text == "baseline: diffusion step 1/1"


# --- comparing ------------------------------------------------------------------------------


def _result(outputs: dict[str, np.ndarray], alpha: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(outputs=outputs, alpha=alpha)


def test_identical_outputs_are_shown_once_and_said_so():
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    alpha = np.zeros((2, 2), np.float32)
    alpha[0, 0] = 1
    metrics = {"pixel": {OUTSIDE: 0.0}, "latent": {OUTSIDE: 0.0}, "crop": {OUTSIDE: 2.0}}
    outs = compare.group_identical(_result({"pixel": a, "latent": a, "crop": b}, alpha), 7, metrics)
    assert [o.label for o in outs] == ["pixel = latent · seed 7", "crop · seed 7"]
    assert compare.caption(outs[1]) == "crop · seed 7 · outside Δ 2 ✗"
    notes = compare.alike_notes(False, alpha, outs, 3)
    assert notes == ["pixel, latent gave identical pixels (seed 7): shown once."]
    full = compare.alike_notes(True, np.ones((10, 10)), outs[1:], 3)
    assert "Tiny random models" in full[0] and "covers 100 % of the photo" in full[1]
    assert compare.alike_notes(True, alpha, outs[1:], 1) == []  # one method: nothing to compare


def test_history_of_one_photo_for_a_and_b():
    photo, other = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    key = compare.photo_key(photo)
    out = compare.Output(("pixel",), 1, photo + 5)
    run1 = compare.Run(1, key, "x", photo, {1: photo + 1}, (out,))
    run2 = replace(run1, number=2, outputs=(replace(out, image=photo + 9),))
    runs = compare.add_run(compare.add_run([], run1), run2)
    assert [r.number for r in runs] == [1, 2] and compare.next_number(runs, key) == 3
    assert compare.next_number(runs, compare.photo_key(other)) == 1
    labels = {key: label for label, key in compare.choices(runs)}
    assert labels["original"] == "original photo" and labels["2/o/0"] == "run 2 · pixel · seed 1"
    assert compare.default_pair(runs) == ("1/o/0", "2/o/0")  # the latest against the one before
    assert (compare.picture(runs, "1/b/1") == 1).all() and (
        compare.picture(runs, "2/o/0") == 9
    ).all()
    assert compare.picture(runs, "7/o/0") is None and compare.picture(runs, "../x") is None
    elsewhere = replace(run1, number=1, photo=compare.photo_key(other))
    assert compare.add_run(runs, elsewhere) == [elsewhere]  # another photo's history starts anew


# --- text on the page -----------------------------------------------------------------------


def test_user_strings_are_text_never_html_or_markdown():
    evil = '<img src=x onerror="alert(1)"> ![t](http://example.com/x.png)'
    assert "<img" not in plain(evil) and "&lt;img" in plain(evil)
    assert "<img" not in toast(evil) and "<img" not in paragraphs([evil, evil])
    table = metrics_html({evil: {OUTSIDE: 0.0}})
    assert "<img" not in table and "&lt;img" in table and "✓" in table


# --- the page's events ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(tiny_models, tmp_path_factory):
    from maskedit.app.events import PageEvents

    return PageEvents(tiny_models, tmp_path_factory.mktemp("events"))


def test_a_click_is_answered_while_an_edit_holds_the_pipeline(events):
    image, display, history, region = events.sample("skimage:chelsea")
    answered = {}

    def click():
        answered["value"] = events.click(
            image, display, history, "include", (451, 361)
        )  # canvas pixel: the photo is shown ×2

    with events.locks.pipe:  # someone else's edit is running
        worker = threading.Thread(target=click)
        worker.start()
        worker.join(timeout=120)
        assert not worker.is_alive(), "the click waited for the editor's lock"
    history, region = answered["value"]
    assert current(history).points == ((225.0, 180.0, 1),) and region.mask.any()
    assert len(candidate_labels(region)) == len(region.prediction.scores)


def test_the_run_edits_the_photo_it_was_pressed_on(events):
    cat, cat_display, history, _ = events.sample("skimage:chelsea")
    history, region = events.click(
        cat, cat_display, history, "include", (451, 361)
    )  # canvas pixel: the photo is shown ×2
    job = events.check_run(cat, history, region, "make it red", ["pixel"], 0, 0, "1", 1, 7.5, 1.5)
    events.sample("skimage:astronaut")  # a new photo loaded while the run waits: no effect
    run = events.run(job, [], "s1")
    record = json.loads((run.folders[0] / "record.json").read_text())
    assert np.array_equal(run.original, cat) and record["image"]["width"] == 451
    assert record["app"]["run"] == 1 and record["app"]["mask_source"] == "sam"
    assert record["app"]["sam_candidates"]["chosen"] == region.chosen


def test_several_seeds_several_methods_one_baseline_each_and_a_zip_per_case(events):
    import zipfile

    cat, display, history, _ = events.sample("skimage:chelsea")
    history, region = events.click(
        cat, display, history, "include", (451, 361)
    )  # canvas pixel: the photo is shown ×2
    job = events.check_run(
        cat, history, region, "make it red", ["pixel", "crop"], 0, 0, "5, 6", 1, 7.5, 1.5
    )
    run = events.run(job, [], "s2")
    assert sorted(run.baselines) == [5, 6] and len(run.folders) == 2
    named = {m for out in run.outputs for m in out.methods}
    assert named == {"pixel", "crop"} and {o.seed for o in run.outputs} == {5, 6}
    assert [f.name for f in run.files] == [f"{d.name}.zip" for d in run.folders]
    with zipfile.ZipFile(run.files[1]) as archive:
        names = set(archive.namelist())
    assert f"{run.folders[1].name}/record.json" in names
    assert f"{run.folders[1].name}/blended_crop.png" in names
    record = json.loads((run.folders[1] / "record.json").read_text())
    assert record["seed"] == 6 and record["methods"] == {
        "pixel": "blended_pixel.png",
        "crop": "blended_crop.png",
    }


def test_undo_without_a_click_keeps_the_mask(events, tmp_path):
    """A mask from a file (or a phrase, or the brush) has no click to undo: Undo leaves it."""
    image, _, _, _ = events.sample("skimage:chelsea")
    mask = np.zeros(image.shape[:2], bool)
    mask[50:120, 100:200] = True
    path = tmp_path / "m.png"
    write_png(path, mask.astype(np.uint8) * 255)
    history, region = events.mask_file(image, str(path))
    with pytest.raises(InputError, match="no click to undo"):
        events.undo(image, history)
    assert events.undo(None, ()) == ((), None)


def test_the_brush_takes_only_a_layer_painted_on_this_photo_and_not_empty(events):
    cat, cat_display, history, _ = events.sample("skimage:chelsea")
    history, region = events.click(cat, cat_display, history, "include", (451, 361))
    on_cat = events.brush_start(cat_display, region)
    assert np.array_equal(events.brush_apply(cat, cat_display, region, on_cat).mask, region.mask)

    # The Brush tab still showed the cat when the astronaut was loaded: refused, not stretched.
    man, man_display, _, _ = events.sample("skimage:astronaut")
    with pytest.raises(InputError, match="painted on another photo"):
        events.brush_apply(man, man_display, None, on_cat)

    # Everything erased (or nothing painted on a photo with no mask): the mask stays.
    erased = {**on_cat, "layers": [np.zeros_like(on_cat["layers"][0])]}
    with pytest.raises(InputError, match="the painted mask is empty"):
        events.brush_apply(cat, cat_display, region, erased)
    with pytest.raises(InputError, match="the painted mask is empty"):
        events.brush_apply(cat, cat_display, None, events.brush_start(cat_display, None))
