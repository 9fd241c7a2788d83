"""Several regions in one edit: one batched editor call per step of the edit, and each region's
pixels equal to that region edited alone (same seed) within the batch tolerance; outside the
union of the masks the output is the input bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from maskedit import edit
from maskedit.cli import app
from maskedit.config import EditSettings, Prompts, Region
from maskedit.errors import InputError
from maskedit.models import load_models
from maskedit.regions import edit_regions

pytestmark = pytest.mark.usefixtures("one_torch_thread")
METHODS = ["pixel", "latent", "guidance", "crop"]
TOL = 2  # grey levels: batched vs one-at-a-time kernels (as tests/equivalence/test_batch.py)
H, W = 64, 96


@pytest.fixture(scope="module")
def models():
    return load_models("tiny", need_sam=False)


def _photo() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 2, y * 3, (x + y)], axis=-1).astype(np.uint8)
    img[16:32, 32:48] = (250, 40, 40)
    return img


def _masks() -> list[np.ndarray]:
    """Three regions; the second overlaps the first (it wins there), the third stands apart."""
    masks = [np.zeros((H, W), bool) for _ in range(3)]
    masks[0][8:36, 8:40] = True
    masks[1][24:48, 28:60] = True
    masks[2][40:60, 70:90] = True
    return masks


def _two_regions_cli(tmp_path: Path, command: str, out: Path):
    """The photo and the masks saved in `tmp_path`, then `maskedit COMMAND` with two
    `--region`s (the second with its own seed); (the CLI's result, photo, masks)."""
    photo, masks = _photo(), _masks()
    Image.fromarray(photo).save(tmp_path / "photo.png")
    for k, mask in enumerate(masks):
        Image.fromarray(mask).save(tmp_path / f"m{k}.png")
    res = CliRunner().invoke(
        app,
        [command, str(tmp_path / "photo.png"), "--out", str(out), "--models", "tiny",
         "--steps", "2", "--region", f"mask={tmp_path / 'm0.png'}; make the jacket red",
         "--region", f"mask={tmp_path / 'm1.png'}; seed=5; make it stormy"],
    )  # fmt: skip
    return res, photo, masks


def _close(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max()) if a.size else 0


def test_each_regions_pixels_equal_its_edit_alone(models):
    photo, masks = _photo(), _masks()
    requests = [
        dict(
            instruction=f"make it {color}",
            mask=mask,
            settings=EditSettings(steps=3, seed=10 + k, methods=METHODS),
        )
        for k, (color, mask) in enumerate(zip(["red", "blue", "gold"], masks, strict=True))
    ]
    together = edit_regions(photo, requests, models=models)
    alone = [edit(photo, models=models, **request) for request in requests]
    union = np.any(masks, axis=0)
    for method in METHODS:
        out = together.result.outputs[method]
        assert np.array_equal(out[~union], photo[~union]), method
        for k, mask in enumerate(masks):
            later = np.any(masks[k + 1 :], axis=0) if k + 1 < len(masks) else np.zeros_like(mask)
            mine = mask & ~later  # the later region wins where masks overlap
            assert mine.any()
            assert _close(out[mine], alone[k].outputs[method][mine]) <= TOL, (method, k)
            own = together.regions[k].outputs[method]
            assert _close(own, alone[k].outputs[method]) <= TOL, (method, k)
    # their editor calls were shared: the baselines, and every latent and guidance job
    for region in together.regions:
        assert region.batch == {"baseline": 3}
        assert region.method_info["latent"]["batch"] == 3
        assert region.method_info["guidance"]["batch"] == 3
    assert together.overlaps == [
        {"regions": [1, 2], "pixels": int(np.count_nonzero(masks[0] & masks[1])), "kept": 2}
    ]
    assert together.result.baseline is None and together.result.mask_source == "regions"
    assert np.array_equal(together.result.alpha > 0, union)
    record = together.record()
    assert [r["instruction"] for r in record["regions"]] == [
        "make it red",
        "make it blue",
        "make it gold",
    ]
    assert [r["seed"] for r in record["regions"]] == [10, 11, 12]


def test_one_region_is_the_plain_edit_bit_for_bit(models, tmp_path):
    photo, (mask, *_) = _photo(), _masks()
    Image.fromarray(mask).save(tmp_path / "m.png")
    settings = EditSettings(steps=3, methods=["pixel", "latent"])
    region = Region(
        instruction="make it red", prompts=Prompts(mask=tmp_path / "m.png"), settings=settings
    )
    one = edit_regions(photo, [region], models=models)
    plain = edit(photo, "make it red", mask=mask, settings=settings, models=models)
    for method in ("pixel", "latent"):
        assert np.array_equal(one.result.outputs[method], plain.outputs[method])
    assert np.array_equal(one.result.baseline, plain.baseline) and one.overlaps == []


def test_settings_that_differ_share_no_call(models):
    photo, masks = _photo(), _masks()
    requests = [
        dict(instruction="a", mask=masks[0], settings=EditSettings(steps=3)),
        dict(instruction="b", mask=masks[2], settings=EditSettings(steps=2)),
    ]
    together = edit_regions(photo, requests, models=models)
    assert [r.batch for r in together.regions] == [{}, {}]
    union = masks[0] | masks[2]
    assert np.array_equal(together.result.blended[~union], photo[~union])


def test_a_bad_region_is_named(models):
    photo, masks = _photo(), _masks()
    requests = [dict(instruction="a", mask=masks[0]), dict(instruction="b", mask=np.ones((5, 5)))]
    with pytest.raises(InputError, match="region 2: mask array: shape"):
        edit_regions(photo, requests, models=models)
    requests[1] = dict(instruction="b", mask=masks[1], methods=["latent"])
    with pytest.raises(InputError, match="region 2: methods .* differ from region 1's"):
        edit_regions(photo, requests, models=models)


def test_regions_from_the_command_line_and_a_manifest(tmp_path):
    res, _, _ = _two_regions_cli(tmp_path, "turns", tmp_path / "cli")
    assert res.exit_code == 0, res.output
    runner = CliRunner()
    record = json.loads((tmp_path / "cli" / "turns" / "t01" / "record.json").read_text())
    assert [r["seed"] for r in record["regions"]] == [1337, 5]
    assert record["overlaps"][0]["regions"] == [1, 2] and record["overlaps"][0]["kept"] == 2
    assert record["mask"]["source"] == "regions" and record["batch"] == {"baseline": 2}
    from maskedit.turns import reproduce_turn  # the turn's record alone gives it again

    again = reproduce_turn(tmp_path / "cli" / "turns" / "t01", load_models("tiny"))
    blended = np.asarray(Image.open(tmp_path / "cli" / "turns" / "t01" / "blended.png"))
    assert np.array_equal(again.blended, blended)

    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 2}\ncases:\n"
        " - id: two\n   image: photo.png\n   regions:\n"
        "     - {instruction: make the jacket red, mask: m0.png}\n"
        "     - {instruction: make it stormy, mask: m2.png, seed: 4}\n"
        " - {id: plain, image: photo.png, instruction: hi, mask: m1.png}\n"
    )
    res = runner.invoke(
        app,
        ["run", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "run"), "--models", "tiny",
         "--clip", "none", "--batch-size", "2"],
    )  # fmt: skip
    assert res.exit_code == 0 and "2 done" in res.stdout, res.output
    record = json.loads((tmp_path / "run" / "two" / "record.json").read_text())
    assert [r["instruction"] for r in record["regions"]] == [
        "make the jacket red",
        "make it stormy",
    ]
    assert record["overlaps"] == []
    photo = np.asarray(Image.open(tmp_path / "run" / "two" / "original.png"))
    union = np.asarray(Image.open(tmp_path / "run" / "two" / "mask.png")) > 0
    blended = np.asarray(Image.open(tmp_path / "run" / "two" / "blended.png"))
    assert np.array_equal(blended[~union], photo[~union])
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows if r["case_id"] == "two"] == ["pixel"]  # no baseline


def test_edit_takes_several_regions_at_once(tmp_path, models):
    """`maskedit edit --region … --region …`: one case folder, each region's instruction in the
    record, the region edited inside its own mask, the later region kept where two overlap, and
    outside every mask the photo bit for bit; the region's result equals its own edit."""
    res, photo, masks = _two_regions_cli(tmp_path, "edit", tmp_path / "e")
    assert res.exit_code == 0, res.output
    runner = CliRunner()
    out = tmp_path / "e"
    record = json.loads((out / "record.json").read_text())
    assert [r["instruction"] for r in record["regions"]] == ["make the jacket red", "make it stormy"]
    assert [r["seed"] for r in record["regions"]] == [1337, 5]
    assert record["overlaps"][0]["regions"] == [1, 2] and record["overlaps"][0]["kept"] == 2
    blended = np.asarray(Image.open(out / "blended.png"))
    union = (masks[0] > 0) | (masks[1] > 0)
    assert np.array_equal(blended[~union], photo[~union])
    alone = edit(photo, "make the jacket red", models=models, mask=masks[0] > 0,
                 settings=EditSettings(steps=2), baseline=False)  # fmt: skip
    only_first = (masks[0] > 0) & ~(masks[1] > 0)
    assert only_first.any()
    assert np.abs(blended[only_first].astype(int) - alone.blended[only_first]).max() <= 2

    for extra, flag in (
        (["--instruction", "x"], "--instruction"),
        (["--point", "3,3"], "--point"),
        (["--target", "the cat"], "--target"),
    ):
        res = runner.invoke(
            app,
            ["edit", str(tmp_path / "photo.png"), "--out", str(tmp_path / "bad"), "--models",
             "tiny", "--region", f"mask={tmp_path / 'm0.png'}; make it red", *extra],
        )  # fmt: skip
        assert res.exit_code == 2, res.output
        assert res.stderr.strip().splitlines() == [
            f"maskedit: error: {flag}: each --region names its own instruction and where; drop it"
        ]
        assert not (tmp_path / "bad").exists()
    res = runner.invoke(app, ["edit", str(tmp_path / "photo.png"), "--out", str(tmp_path / "bad"),
                              "--models", "tiny"])  # fmt: skip
    assert res.exit_code == 2 and "--instruction: missing" in res.stderr
