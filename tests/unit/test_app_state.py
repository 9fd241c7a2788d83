"""The web page's pure parts, without a browser: clicks, display mapping, overlay, metrics, files."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from maskedit.app.canvas import display_hw, overlay, to_image_xy
from maskedit.app.clicks import Clicks, add_click, current, undo
from maskedit.app.inputs import SAMPLES, load_sample, load_upload
from maskedit.app.region import phrase_mask, predict_mask
from maskedit.app.results import (
    METRICS,
    compute_metrics,
    mask_area_fraction,
    max_change_outside_mask,
    next_case_dir,
    session_dir,
    write_edit,
)
from maskedit.app.run import progress_text
from maskedit.config import METHODS
from maskedit.errors import InputError
from maskedit.grid import EXCLUDE, INCLUDE
from maskedit.images import write_png


def test_clicks_points_box_and_undo():
    history: tuple[Clicks, ...] = ()
    for x, y, mode in [(10, 20, "include"), (30, 5, "exclude"), (50, 40, "box"), (12, 8, "box")]:
        history = (*history, add_click(current(history), x, y, mode))
    now = current(history)
    assert now.points == ((10.0, 20.0, 1), (30.0, 5.0, 0))
    assert now.box == (12.0, 8.0, 50.0, 40.0) and now.corner is None  # corners in any order
    assert now.describe() == "1 include, 1 exclude, box 12,8,50,40"
    half_box = current(undo(history))
    assert half_box.box is None and half_box.corner == (50.0, 40.0)
    assert "click the other" in half_box.describe()
    assert current(()) == Clicks()


def test_region_needs_an_include_point_or_a_box():
    assert not Clicks().has_region
    assert not Clicks(points=((1, 1, 0),)).has_region
    assert Clicks(points=((1, 1, 0), (2, 2, 1))).has_region
    assert Clicks(box=(0, 0, 4, 4)).has_region


def test_click_errors_name_the_value():
    with pytest.raises(InputError, match="click mode 'lasso'"):
        add_click(Clicks(), 1, 1, "lasso")
    with pytest.raises(InputError, match=r"corners \(5, 5\) and \(5, 9\)"):
        add_click(Clicks(corner=(5, 5)), 5, 9, "box")


def test_display_mapping():
    assert display_hw(600, 902) == (600, 902)  # fits: shown as is
    assert display_hw(3000, 4000) == (768, 1024)
    assert to_image_xy((10, 20), (300, 451), (300, 451)) == (10.0, 20.0)
    # Display pixel 0 covers image pixels 0..3 of a 4× larger image: its centre is 1.5.
    assert to_image_xy((0, 0), (768, 1024), (3072, 4096)) == (1.5, 1.5)
    assert to_image_xy((1023, 767), (768, 1024), (3072, 4096)) == (4093.5, 3069.5)  # 4092..4095
    assert to_image_xy((5000, -3), (768, 1024), (3072, 4096)) == (4095.0, 0.0)  # clipped


def test_overlay_tints_the_mask_and_draws_clicks_where_they_are():
    image = np.full((40, 60, 3), 100, np.uint8)
    alpha = np.zeros((40, 60), np.float32)
    alpha[5:15, 5:15] = 1.0
    out = overlay(image, alpha, Clicks(points=((45, 30, 1), (50, 10, 0))))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[10, 10] != image[10, 10]).any()  # inside: tinted
    assert (out[25, 20] == image[25, 20]).all()  # outside, away from markers: untouched
    assert tuple(out[30, 45]) == INCLUDE and tuple(out[10, 50]) == EXCLUDE
    assert (overlay(image, None, Clicks()) == image).all()  # no mask yet: the photo


def test_overlay_at_display_size_maps_clicks():
    display = np.full((200, 400, 3), 90, np.uint8)  # a 400×800 photo shown at half size
    alpha = np.zeros((400, 800), np.float32)
    alpha[:200] = 1.0  # top half of the photo
    out = overlay(display, alpha, Clicks(points=((600.5, 300.5, 1),), corner=(100.5, 300.5)))
    assert (out[20, 100] != 90).any() and (out[180, 20] == 90).all()  # top half tinted only
    assert tuple(out[150, 300]) == INCLUDE  # (600.5 + .5)/2 - .5 = 300, (300.5 + .5)/2 - .5 = 150
    assert tuple(out[150, 50]) == (255, 220, 0)  # the box's first corner, drawn as a cross


def _result(original, blended, alpha):
    return SimpleNamespace(original=original, blended=blended, alpha=alpha)


def test_metrics_by_hand():
    original = np.zeros((4, 5, 3), np.uint8)
    blended = original.copy()
    alpha = np.zeros((4, 5), np.float32)
    alpha[0, :2] = 1.0
    alpha[1, 0] = 0.25  # soft edge: still "inside" (alpha > 0)
    blended[0, 0] = 200  # inside: any change allowed
    res = _result(original, blended, alpha)
    assert mask_area_fraction(res) == 3 / 20
    assert max_change_outside_mask(res) == 0.0
    blended[3, 4, 2] = 7  # outside: a change of 7 levels
    assert max_change_outside_mask(res) == 7.0
    assert max_change_outside_mask(_result(original, blended, np.ones((4, 5)))) == 0.0
    assert set(compute_metrics(res)) == set(METRICS)


def test_methods_are_the_librarys(tiny_models):
    assert list(METHODS) == ["pixel", "latent", "guidance", "crop"]
    img = np.zeros((40, 50, 3), np.uint8)
    alpha = np.zeros((40, 50), np.float32)
    alpha[10:30, 10:30] = 1
    from maskedit import EditSettings, edit

    res = edit(
        img, "x", models=tiny_models, mask=alpha, settings=EditSettings(steps=1), methods="latent"
    )
    assert list(res.outputs) == ["latent"] and np.array_equal(
        res.blended[alpha == 0], img[alpha == 0]
    )


def test_load_upload_caps_and_names_the_file_only(tmp_path):
    good = tmp_path / "photo.png"
    write_png(good, np.zeros((8, 9, 3), np.uint8))
    assert load_upload(good).shape == (8, 9, 3)
    with pytest.raises(InputError, match=r"upload 'photo.png': .* exceeds the limit of"):
        load_upload(good, max_bytes=10)
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    with pytest.raises(InputError) as err:
        load_upload(bad)
    assert str(err.value).startswith("image 'notes.png': not a readable image")
    assert str(tmp_path) not in str(err.value)


def test_load_sample_only_the_listed_ones():
    assert load_sample(SAMPLES[1]).shape == (300, 451, 3)
    for name in ("skimage:coffee", "/etc/passwd", "../x.png"):
        with pytest.raises(InputError, match="choose one of"):
            load_sample(name)


def test_session_and_case_folders(tmp_path):
    assert session_dir(tmp_path, "ab/../c d") == tmp_path / "session-abcd"
    assert session_dir(tmp_path, None) == tmp_path / "session-anonymous"
    folder = tmp_path / "s"
    assert next_case_dir(folder) == folder / "edit-001"
    (folder / "edit-001").mkdir(parents=True)
    (folder / "edit-003").mkdir()
    assert next_case_dir(folder) == folder / "edit-002"


def test_sam_once_per_image_and_step_counting_and_files(tiny_models, photo, tmp_path):
    from maskedit import EditSettings, edit

    sam = tiny_models.sam
    photo = photo.copy()
    photo[0, 0, 0] ^= 0x5A  # pixels no other test used: the session-wide SAM has not cached them
    assert predict_mask(sam, photo, Clicks(points=((5, 5, 0),))) is None  # exclude only
    before = sam.embed_calls
    first = predict_mask(sam, photo, Clicks(points=((70, 35, 1),)))
    second = predict_mask(sam, photo, Clicks(points=((70, 35, 1), (10, 10, 0))))
    assert sam.embed_calls == before + 1  # the second click reused the embedding
    assert first.mask.shape == second.mask.shape == photo.shape[:2]

    steps = []
    settings = EditSettings(steps=3, seed=1)
    result = edit(
        photo,
        "make it blue",
        models=tiny_models,
        mask=first.mask,
        settings=settings,
        progress=lambda *step: steps.append(progress_text(*step)),
    )
    assert [text for _, text in steps] == [f"baseline: diffusion step {i}/3" for i in (1, 2, 3)]

    files = write_edit(result, tmp_path / "edit-001", {"points": [[70, 35, 1]], "dilate_px": 2})
    assert [f.name for f in files] == [
        "original.png",
        "mask.png",
        "baseline.png",
        "blended.png",
        "grid.png",
        "record.json",
    ]
    record = json.loads(files[-1].read_text())
    assert record["app"] == {"points": [[70, 35, 1]], "dilate_px": 2}
    assert record["case_id"] == "edit-001" and record["settings"]["steps"] == 3


@pytest.fixture(scope="module")
def clipseg_models(tiny_models):
    from maskedit.models import load_clipseg

    return replace(tiny_models, text={"clipseg": load_clipseg("tiny")})


def test_phrase_mask(clipseg_models, tiny_models, photo):
    from maskedit.masks.text import MaskNotFound

    mask, info = phrase_mask(clipseg_models, photo, "  the red square ", "")
    assert mask.shape == photo.shape[:2] and mask.dtype == bool and mask.any()
    assert info["target"] == "the red square" and info["target_from"] == "phrase"
    assert info["backend"] == "clipseg" and info["area_px"] == int(mask.sum())
    json.dumps(info)  # goes into record.json as it is

    _, info = phrase_mask(clipseg_models, photo, "", "turn the cat into a tiger")
    assert info["target"] == "cat" and info["target_from"] == "instruction"

    with pytest.raises(MaskNotFound, match="nothing found above threshold 0.9999"):
        phrase_mask(clipseg_models, photo, "the cat", "", threshold=0.9999)
    with pytest.raises(InputError, match="type a phrase"):
        phrase_mask(clipseg_models, photo, " ", "")
    with pytest.raises(InputError, match="load a photo first"):
        phrase_mask(clipseg_models, None, "the cat", "")
    with pytest.raises(InputError, match=r"CLIPSeg are unavailable \(CLIPSeg is not loaded\)"):
        phrase_mask(replace(tiny_models, text={}), photo, "the cat", "")


def test_sliders_start_at_the_loaded_editors_defaults(tmp_path):
    import maskedit
    from maskedit.app.web import build_app

    models = maskedit.load_models("tiny", editor="kontext")
    demo = build_app(models, workspace=tmp_path)
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    assert by_label["Steps"].value == 28 and by_label["Text guidance"].value == 2.5
    assert by_label["Image guidance"].interactive is False  # guidance-distilled: no image scale


def _after(demo, elem_id: str, event: str) -> set[str]:
    """The names of the functions an event of the widget `elem_id` runs, its chain included."""
    block = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)
    steps = {k for k, f in demo.fns.items() if (block._id, event) in f.targets}
    names: set[str] = set()
    while steps:
        names |= {getattr(demo.fns[k].fn, "__name__", "") for k in steps}
        steps = {k for k, f in demo.fns.items() if f.trigger_after in steps}
    return names


def test_the_brush_editor_shows_the_photo_and_mask_now(tiny_models, tmp_path):
    """A new photo, a turn or a mask changed while the Brush tab is open redraws the brush
    editor, so what is painted there is painted over this photo and its mask."""
    from maskedit.app.web import build_app

    demo = build_app(tiny_models, workspace=tmp_path)
    for elem_id, event in (
        ("upload", "upload"),
        ("load-sample", "click"),
        ("example-0", "click"),
        ("turn-undo", "click"),
        ("keep", "click"),
        ("invert", "click"),
        ("clear", "click"),
        ("phrase-mask", "click"),
        ("mask-upload", "upload"),
        ("tab-brush", "select"),
    ):
        assert "brush_start" in _after(demo, elem_id, event), (elem_id, event)


def _box_mask(h: int = 40, w: int = 50) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[10:30, 15:35] = True
    return mask


def test_prepare_run_names_the_first_problem():
    from maskedit.app.run import prepare_run

    img, mask, clicks = np.zeros((40, 50, 3), np.uint8), _box_mask(), Clicks(box=(15, 10, 35, 30))
    good = (img, clicks, mask, None, "make it red", "pixel", 0, 0, 1, 2, 7.5, 1.5)

    def fails(match: str, **changes):
        names = "image clicks mask target instruction method dil fea seed steps tc ic".split()
        args = dict(zip(names, good, strict=True)) | changes
        with pytest.raises(InputError, match=match):
            prepare_run(*args.values())

    fails("load a photo first", image=None)
    fails("no region yet", mask=None)
    fails("no region yet", clicks=Clicks(points=((1, 1, 0),)))  # exclude points only
    fails("instruction: is empty", instruction="  ")
    fails("method 'lasso': choose one of pixel, latent", method="lasso")
    fails("settings: 1 validation error", steps=0)
    fails("the mask is empty", mask=np.zeros((40, 50), bool))
    prepare_run(*good[:2], mask, {"target": "cat"}, *good[4:])  # a phrase mask needs no clicks


def test_prepare_run_builds_the_librarys_arguments():
    from maskedit.app.run import prepare_run

    img, mask = np.zeros((40, 50, 3), np.uint8), _box_mask()
    clicks = Clicks(points=((20.0, 15.0, 1), (3.0, 4.0, 0)))
    job = prepare_run(img, clicks, mask, None, "x", "crop", 3.0, 1.5, 7.0, 4.0, 5.0, None)
    (s,) = job.settings  # one seed: one edit
    assert (s.methods, s.dilate, s.feather, s.seed, s.steps, s.text_cfg, s.image_cfg) == (
        ("crop",),
        3,
        1.5,
        7,
        4,
        5.0,
        None,
    )
    assert job.mask is mask  # as segmented: `edit` shapes it by the settings
    assert job.app_info == {
        "points": [[20.0, 15.0, 1], [3.0, 4.0, 0]],
        "box": None,
        "dilate_px": 3,
        "feather_px": 1.5,
        "method": "crop",
    }
    phrase = {"target": "cat", "target_from": "phrase", "area_px": 400}
    job = prepare_run(img, Clicks(), mask, phrase, "x", "pixel", 0, 0, 1, 2, 7.5, 1.5)
    assert job.app_info == {**phrase, "points": [], "box": None} | {
        "dilate_px": 0,
        "feather_px": 0.0,
        "method": "pixel",
    }


def test_the_overlay_shows_the_alpha_the_edit_uses(tiny_models):
    from maskedit import edit
    from maskedit.app.region import shaped
    from maskedit.app.run import prepare_run

    img, mask = np.full((40, 50, 3), 120, np.uint8), _box_mask()
    clicks = Clicks(box=(15, 10, 35, 30))
    job = prepare_run(img, clicks, mask, None, "x", "pixel", 3, 1.5, 1, 1, 7.5, 1.5)
    result = edit(img, "x", models=tiny_models, mask=job.mask, settings=job.settings[0])
    preview = shaped(mask, 3, 1.5)
    assert np.array_equal(result.alpha, preview)
    assert (preview > 0).sum() > mask.sum()  # dilated
    assert 0 < preview[preview > 0].min() < 1 and preview.max() == 1.0  # feathered
    assert compute_metrics(result)["max |blended − original| outside mask"] == 0.0


@pytest.fixture(scope="module")
def kontext_models():
    from maskedit.models import load_models

    return load_models("tiny", editor="kontext")


def test_progress_for_every_editor_even_without_a_unet(kontext_models):
    from maskedit import EditSettings, edit

    assert getattr(kontext_models.pipe, "unet", None) is None  # nothing to hook: FLUX.1 Kontext
    seen = []
    edit(
        np.full((32, 32, 3), 90, np.uint8),
        "make it red",
        models=kontext_models,
        mask=_box_mask(32, 32),
        settings=EditSettings(steps=2, methods=("latent",)),
        progress=lambda *step: seen.append(progress_text(*step)),
    )
    assert [text for _, text in seen] == [
        "baseline: diffusion step 1/2",
        "baseline: diffusion step 2/2",
        "latent: diffusion step 1/2",
        "latent: diffusion step 2/2",
    ]
    assert [round(f, 3) for f, _ in seen] == [0.475, 0.9, 0.475, 0.9]
