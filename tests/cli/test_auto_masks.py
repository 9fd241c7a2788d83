"""Masks without clicks, end to end with tiny models: phrases, the edit's own relevance, refinement
by clicks, reference masks, and the failures a batch must record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings, InputError
from maskedit.cli import app
from maskedit.grid import CAPTION_H, PAD, PANEL_H

runner = CliRunner()


@pytest.fixture(scope="module")
def text_models():
    return maskedit.load_models("tiny", text_backends=("clipseg", "grounded-sam"))


def _photo(tmp_path: Path, h=60, w=90) -> Path:
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)).save(tmp_path / "p.png")
    return tmp_path / "p.png"


def test_target_auto_takes_the_phrase_from_the_instruction(tmp_path):
    res = runner.invoke(
        app,
        [
            "edit",
            "skimage:chelsea",
            "-i",
            "Turn the cat into a playful robot",
            "--target",
            "auto",
            "--models",
            "tiny",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["mask"]["source"] == "target:clipseg"
    assert rec["mask"]["target"]["phrase"] == "cat" and rec["mask"]["target"]["threshold"] == 0.4
    alpha = np.asarray(Image.open(tmp_path / "o" / "mask.png")) > 0
    orig = np.asarray(Image.open(tmp_path / "o" / "original.png"))
    blend = np.asarray(Image.open(tmp_path / "o" / "blended.png"))
    assert np.array_equal(blend[~alpha], orig[~alpha])


def test_grounded_boxes_are_drawn_where_the_record_says(tmp_path):
    res = runner.invoke(
        app,
        [
            "edit",
            "skimage:motorcycle_left",
            "-i",
            "make it glow",
            "--target",
            "the motorcycle",
            "--target-backend",
            "grounded-sam",
            "--target-threshold",
            "0.01",
            "--target-top",
            "1",
            "--models",
            "tiny",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    ((x0, y0, x1, y1),) = rec["mask"]["target"]["boxes"]
    assert 0 <= x0 < x1 <= 741 and 0 <= y0 < y1 <= 500  # image pixels of a 741×500 photo
    grid = np.asarray(Image.open(tmp_path / "o" / "grid.png")).astype(int)
    s = PANEL_H / 500
    panel_x = PAD + round(741 * s) + PAD  # the mask panel is the second
    img_y = PAD + 2 * CAPTION_H + CAPTION_H  # banner (tiny), title, caption
    gx, gy = panel_x + round((x0 + x1) / 2 * s), img_y + round(y0 * s)
    patch = grid[gy - 2 : gy + 3, gx - 2 : gx + 3]
    cyan = (patch[..., 2] > 180) & (patch[..., 1] > 150) & (patch[..., 0] < 120)
    assert cyan.any(), patch


def test_nothing_found_is_one_line_for_edit_and_a_recorded_failure_in_a_batch(
    tmp_path, text_models
):
    with pytest.raises(
        InputError,
        match=r"target 'cat': nothing found above threshold 0.99999 \(best score 0\.\d+\)",
    ):
        maskedit.edit(
            "skimage:chelsea",
            "x",
            models=text_models,
            prompts=maskedit.Prompts(target="cat", target_threshold=0.99999),
            settings=EditSettings(steps=1),
        )
    img = _photo(tmp_path)
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        f" - {{id: a, image: {img.name}, instruction: make the box red, target: box, target_threshold: 0.99999}}\n"
        f" - {{id: b, image: {img.name}, instruction: make the box red, point: [40, 30]}}\n"
    )
    res = runner.invoke(
        app, ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 1
    assert "case 'a' failed: target 'box': nothing found above threshold" in res.stderr
    assert (tmp_path / "o" / "b" / "record.json").is_file() and not (tmp_path / "o" / "a").exists()
    log = [json.loads(x) for x in (tmp_path / "o" / "run_log.jsonl").read_text().splitlines()]
    assert {r["case_id"]: r["status"] for r in log} == {"a": "failed", "b": "ok"}


def test_a_phrase_without_its_model_loaded_says_how_to_load_it(tiny_models, photo):
    """load_models("tiny") loads no phrase model: the error names the keyword that loads one."""
    with pytest.raises(InputError) as err:
        maskedit.edit(photo, "make the cat red", target="the cat", models=tiny_models)
    message = str(err.value)
    assert "the clipseg model is not loaded" in message
    assert "load_models(..., text_backends=('clipseg',))" in message and "\n" not in message


def test_mask_from_edit_pixel_costs_no_extra_unet_forward(text_models, photo):
    calls = {"n": 0}
    handle = text_models.pipe.unet.register_forward_hook(
        lambda *a: calls.__setitem__("n", calls["n"] + 1)
    )
    try:
        plain = maskedit.edit(
            photo,
            "make it red",
            models=text_models,
            mask=np.ones(photo.shape[:2]),
            settings=EditSettings(steps=3),
        )
        n_plain, calls["n"] = calls["n"], 0
        auto = maskedit.edit(
            photo,
            "make it red",
            models=text_models,
            mask_from="edit",
            settings=EditSettings(steps=3),
        )
        n_auto, calls["n"] = calls["n"], 0
        pre = maskedit.edit(
            photo,
            "make it red",
            models=text_models,
            mask_from="edit",
            settings=EditSettings(steps=3, methods=("latent",)),
            baseline=False,
        )
        n_pre = calls["n"]
    finally:
        handle.remove()
    assert n_auto == n_plain == 3
    assert auto.mask_info["relevance"] == {
        **auto.mask_info["relevance"],
        "source": "own forwards",
        "extra_unet_forwards": 0,
    }
    assert np.array_equal(auto.baseline, plain.baseline)  # recording changed nothing
    assert (
        pre.mask_info["relevance"]["extra_unet_forwards"] <= 4
        and n_pre == 3 + pre.mask_info["relevance"]["extra_unet_forwards"]
    )
    assert np.array_equal(auto.blended[auto.alpha == 0], photo[auto.alpha == 0])


def test_empty_instruction_gives_an_empty_relevance_mask(text_models, photo):
    """The relevance map is zero when the instruction is the empty prompt: nothing is edited."""
    import warnings

    from maskedit.masks.relevance import relevance_prepass

    rel, _ = relevance_prepass(
        text_models.pipe, photo[:64, :64].copy(), "", seed=0, text_cfg=7.5, image_cfg=1.5
    )
    assert not rel.any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from maskedit.masks.relevance import relevance_to_mask

        mask, _ = relevance_to_mask(rel, photo.shape[:2])
    assert not mask.any()


def test_clicks_refine_a_phrase_mask(text_models, photo):
    base = maskedit.edit(
        photo, "x", models=text_models, target="thing", settings=EditSettings(steps=1)
    )
    refined = maskedit.edit(
        photo,
        "x",
        models=text_models,
        prompts=maskedit.Prompts(target="thing", points=[(70, 35, 1)]),
        settings=EditSettings(steps=1),
    )
    assert refined.sam is not None
    assert np.array_equal(refined.alpha > 0, (base.alpha > 0) & refined.sam.mask)


def test_reference_mask_is_scored_not_used(tmp_path):
    img = _photo(tmp_path)
    ref = np.zeros((60, 90), np.uint8)
    ref[10:40, 20:70] = 255
    Image.fromarray(ref).save(tmp_path / "ref.png")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        f" - {{id: a, image: {img.name}, instruction: make the box red, target: box, mask: ref.png}}\n"
    )
    res = runner.invoke(
        app, ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    case = tmp_path / "o" / "a"
    rec = json.loads((case / "record.json").read_text())
    assert rec["mask"]["source"] == "target:clipseg" and 0 <= rec["mask"]["reference_iou"] <= 1
    assert np.array_equal(np.asarray(Image.open(case / "reference_mask.png")), ref)
    rows = [json.loads(x) for x in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    assert all(r["mask_iou"] == rec["mask"]["reference_iou"] for r in rows)


def test_kontext_has_no_relevance_map():
    models = maskedit.load_models("tiny", editor="kontext", need_sam=False)
    with pytest.raises(InputError, match="mask_from: edit .* 'kontext' editor"):
        maskedit.edit(
            np.zeros((32, 32, 3), np.uint8),
            "x",
            models=models,
            mask_from="edit",
            settings=EditSettings(steps=1),
        )


def test_sdxl_ip2p_reads_its_relevance_off_the_edit_and_refuses_the_prepass():
    """SDXL-IP2P makes IP2P's 3-way predictions, so the pixel method reads the mask off its own
    edit; the pre-pass other methods need is written for SD-1.5 IP2P's conditioning: one line."""
    models = maskedit.load_models("tiny", editor="ip2p-xl", need_sam=False)
    photo = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    res = maskedit.edit(photo, "x", models=models, mask_from="edit", settings=EditSettings(steps=1))
    assert res.mask_source == "edit" and res.mask_info["relevance"]["source"] == "own forwards"
    for methods in ("latent", "pixel,crop", "guidance"):
        with pytest.raises(InputError, match="mask_from: edit with the latent, guidance or crop method needs a pre-pass the 'ip2p-xl' editor does not have"):
            maskedit.edit(photo, "x", models=models, mask_from="edit", methods=methods, settings=EditSettings(steps=1))


def test_eval_from_disk_gives_the_same_rows_as_the_run(tmp_path):
    img = _photo(tmp_path)
    ref = np.zeros((60, 90), np.uint8)
    ref[10:40, 20:70] = 255
    Image.fromarray(ref).save(tmp_path / "ref.png")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        f" - {{id: a, image: {img.name}, instruction: make the box red, target: box, mask: ref.png}}\n"
        f" - {{id: b, image: {img.name}, instruction: make it blue, point: [40, 30], methods: [pixel, latent], reference_mask: ref.png}}\n"
    )  # both cases scored against the reference: one table never mixes masks
    out = tmp_path / "o"
    assert (
        runner.invoke(
            app, ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--out", str(out)]
        ).exit_code
        == 0
    )
    before = (out / "results.jsonl").read_text()
    res = runner.invoke(app, ["eval", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "results.jsonl").read_text() == before
