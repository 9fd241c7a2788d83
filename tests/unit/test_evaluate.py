"""maskedit.evaluate on hand-made case folders: every value below is worked out by hand.

The images are 4x5 (20 pixels), black, and the mask is the two left columns (8 pixels):

- baseline of case "a": +100 on the three left columns (12 pixels). Change mean = 12*100/20 = 60,
  threshold max(10, 60) = 60, nothing above 100 is missed: changed = 12 px. IoU = 8/12, leakage =
  4*100 / (12*100) = 1/3. Background MSE on [0, 1] over all 20*3 values: 4*3 values of
  (100/255)^2 -> 0.2 * (100/255)^2.
- "pixel": +100 on the mask only: IoU 1, leakage 0, MSE 0, PSNR +inf (stored None).
- SSIM: none (stored None): PIE-Bench's averages the pixels 5 from every edge, and 4x5 has none.
- "latent": +5 on the mask: change mean 2, threshold max(10, 2) = 10, nothing changed: IoU 0
  (intersection 0, union = the 8 mask pixels), leakage 0 (all change inside).
- case "b": baseline +100 on the mask only: IoU 1, leakage 0.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from run_fixtures import write_case_folder

from maskedit.errors import InputError
from maskedit.evaluate import evaluate_dir, score_case_dir
from maskedit.outputs import write_case_metrics
from maskedit.scoring import score_outputs
from maskedit.tables import collect_rows, summarise, write_tables

H, W = 4, 5
BG_MSE_A = 0.2 * (100 / 255) ** 2


def _images():
    original = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), bool)
    mask[:, :2] = True
    base_a = original.copy()
    base_a[:, :3] = 100
    pixel = original.copy()
    pixel[mask] = 100
    latent = original.copy()
    latent[mask] = 5
    return original, mask, base_a, pixel, latent


@pytest.fixture
def run(tmp_path):
    """Case "a" with pixel + latent, case "b" with pixel only, plus things to ignore."""
    original, mask, base_a, pixel, latent = _images()
    write_case_folder(tmp_path, "a", original, mask, base_a, {"pixel": pixel, "latent": latent})
    write_case_folder(tmp_path, "b", original, mask, pixel.copy(), {"pixel": pixel})
    (tmp_path / ".b.x1y2.partial").mkdir()  # a writer's temp folder
    (tmp_path / "unfinished").mkdir()  # no record.json: not a case
    return tmp_path


def test_rows_by_hand_for_baseline_and_every_method(run):
    rows = score_case_dir(run / "a")
    assert [r["method"] for r in rows] == ["baseline", "pixel", "latent"]
    assert all(r["case_id"] == "a" for r in rows)
    base, pixel, latent = rows
    assert base["iou"] == pytest.approx(8 / 12)
    assert base["leakage"] == pytest.approx(1 / 3)
    assert base["change_threshold"] == pytest.approx(60.0)
    assert base["bg_mse"] == pytest.approx(BG_MSE_A)
    assert base["bg_psnr"] == pytest.approx(10 * math.log10(1 / BG_MSE_A))
    assert base["bg_ssim"] is None  # no pixel 5 from every edge of a 4x5 image
    assert (pixel["iou"], pixel["leakage"], pixel["change_threshold"]) == (1.0, 0.0, 40.0)
    assert (latent["iou"], latent["leakage"], latent["change_threshold"]) == (0.0, 0.0, 10.0)
    assert "clip_cosine" not in base  # no CLIP model given: no CLIP columns


def test_exact_composite_background_is_zero_mse_and_psnr_inf_stored_as_none(run):
    pixel = score_case_dir(run / "a")[1]
    assert pixel["bg_mse"] == 0.0
    assert pixel["bg_psnr"] is None  # +inf has no strict-JSON form; bg_mse == 0 says which None
    assert pixel["bg_ssim"] is None  # 4x5: too small for PIE-Bench's SSIM, identical or not
    write_case_metrics(run / "a", score_case_dir(run / "a"))
    text = (run / "a" / "metrics.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["rows"][1]["bg_psnr"] is None


def test_mask_covering_everything_has_no_background_all_none():
    original, _, base_a, *_ = _images()
    rows = score_outputs(original, np.ones((H, W), np.float32), {"baseline": base_a}, "x")
    assert rows[0]["bg_mse"] is None and rows[0]["bg_psnr"] is None
    assert rows[0]["bg_ssim"] is None
    assert summarise(rows)[0]["bg_psnr_inf"] == 0  # NaN (no background) is not "identical"


def test_threshold_replaces_adaptive_rule(run):
    latent = score_case_dir(run / "a", threshold=3)[2]
    assert latent["change_threshold"] == 3.0
    assert latent["iou"] == 1.0  # +5 > 3 on exactly the mask


def test_soft_alpha_is_binarised_at_one_half():
    original, mask, _, pixel, _ = _images()
    alpha = np.where(mask, 0.6, 0.4).astype(np.float32)  # > 0.5 exactly on the mask
    assert score_outputs(original, alpha, {"pixel": pixel}, "x")[0]["iou"] == 1.0



def test_a_fresh_alpha_scores_as_its_mask_png_reads_back(tmp_path):
    """A feathered edge holds alpha 0.5 exactly, which mask.png stores as 128 (above one half):
    the rows of a fresh edit equal those of its folder read back."""
    from maskedit.images import alpha_to_png_array, read_mask, write_png

    original, mask, base_a, pixel, _ = _images()
    alpha = np.where(mask, 1.0, 0.0).astype(np.float32)
    alpha[:, : alpha.shape[1] // 2] = 0.5  # an edge as feathering leaves it
    write_png(tmp_path / "mask.png", alpha_to_png_array(alpha))
    outputs = {"baseline": base_a, "pixel": pixel}
    read_back = read_mask(tmp_path / "mask.png")
    assert score_outputs(original, alpha, outputs, "x") == score_outputs(
        original, read_back, outputs, "x"
    )

def test_an_empty_mask_has_no_iou_and_the_unmasked_edit_leaks_everything():
    """No region: an output that changed nothing is not a perfect overlap (it was 1.0 and
    topped the summary); leakage still tells the unmasked edit (1.0) from the input (0.0)."""
    original, _, base_a, _, _ = _images()
    empty = np.zeros(original.shape[:2], np.float32)
    rows = score_outputs(original, empty, {"baseline": base_a, "pixel": original.copy()}, "x")
    assert [r["iou"] for r in rows] == [None, None]
    assert [r["leakage"] for r in rows] == [1.0, 0.0]


def test_mode_1_mask_png_scores_like_0_255(tmp_path):
    # the seed study's bug: a bool mask saved as PNG reads back 0/1 and must not become ~0.004
    original, mask, base_a, pixel, _ = _images()
    write_case_folder(tmp_path / "L", "a", original, mask, base_a, {"pixel": pixel})
    write_case_folder(tmp_path / "1", "a", original, mask, base_a, {"pixel": pixel}, mask_mode="1")
    assert score_case_dir(tmp_path / "L" / "a") == score_case_dir(tmp_path / "1" / "a")


def test_output_of_another_size_is_refused(tmp_path):
    original, mask, base_a, pixel, _ = _images()
    write_case_folder(tmp_path, "a", original, mask, base_a[:, :4].copy(), {"pixel": pixel})
    with pytest.raises(InputError, match="baseline.png"):
        score_case_dir(tmp_path / "a")


def test_score_case_dir_writes_nothing(run):
    before = sorted(p.name for p in (run / "a").iterdir())
    score_case_dir(run / "a")
    assert sorted(p.name for p in (run / "a").iterdir()) == before


def test_evaluate_dir_order_and_files(run):
    rows = evaluate_dir(run)
    assert [(r["case_id"], r["method"]) for r in rows] == [
        ("a", "baseline"),
        ("a", "pixel"),
        ("a", "latent"),
        ("b", "baseline"),
        ("b", "pixel"),
    ]
    assert (run / "a" / "metrics.json").is_file() and (run / "b" / "metrics.json").is_file()
    assert not (run / "unfinished" / "metrics.json").exists()
    assert collect_rows(run) == rows
    lines = (run / "results.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_write_tables_rebuilds_never_appends(run):
    evaluate_dir(run)
    first = {f: (run / f).read_bytes() for f in ("results.jsonl", "summary.csv")}
    with open(run / "results.jsonl", "a") as f:  # e.g. a runner's status line appended later
        f.write('{"case_id": "a", "status": "ok"}\n')
    evaluate_dir(run)
    write_tables(run, collect_rows(run))
    assert {f: (run / f).read_bytes() for f in first} == first
    assert len((run / "results.jsonl").read_text().splitlines()) == 5
    assert not [p for p in run.iterdir() if p.name.startswith(".") and p.is_file()]  # no temps


def test_summary_means_and_stds_by_hand(run):
    summary = {s["method"]: s for s in summarise(evaluate_dir(run))}
    assert list(summary) == ["baseline", "pixel", "latent"]
    base = summary["baseline"]
    assert base["n"] == 2
    # IoU per case: a = 2/3, b = 1 -> mean 5/6, population std 1/6; mIoU = mean over cases
    assert base["iou_mean"] == pytest.approx(5 / 6) and base["iou_std"] == pytest.approx(1 / 6)
    assert base["miou"] == base["iou_mean"]
    assert base["leakage_mean"] == pytest.approx(1 / 6)
    assert base["leakage_std"] == pytest.approx(1 / 6)
    assert base["bg_psnr_n"] == 1 and base["bg_psnr_inf"] == 1  # case b's baseline is exact
    assert base["bg_psnr_mean"] == pytest.approx(10 * math.log10(1 / BG_MSE_A))
    pixel = summary["pixel"]
    assert (pixel["n"], pixel["miou"], pixel["iou_std"]) == (2, 1.0, 0.0)
    assert pixel["bg_psnr_mean"] is None and pixel["bg_psnr_n"] == 0
    assert pixel["bg_psnr_inf"] == 2
    assert (summary["latent"]["n"], summary["latent"]["miou"]) == (1, 0.0)


def test_summary_csv_columns(run):
    evaluate_dir(run)
    with open(run / "summary.csv", newline="") as f:
        table = {r["method"]: r for r in csv.DictReader(f)}
    assert list(table) == ["baseline", "pixel", "latent"]
    assert float(table["baseline"]["iou_mean"]) == pytest.approx(5 / 6)
    assert float(table["baseline"]["miou"]) == pytest.approx(5 / 6)
    assert table["pixel"]["bg_psnr_mean"] == ""  # no finite PSNR: empty cell, not "inf"
    assert table["pixel"]["bg_psnr_inf"] == "2"


def test_empty_run_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no finished case"):
        evaluate_dir(tmp_path)


@pytest.fixture(scope="module")
def tiny_clip():
    from maskedit.tiny import build_tiny_clip

    return build_tiny_clip(seed=0)


def test_clip_columns_with_tiny_clip(tmp_path, tiny_clip):
    from maskedit.metrics import clip_cosine, clip_directional, clip_score, clip_score_region

    original, mask, base_a, pixel, _ = _images()
    caps = {"source": "a black photo", "target": "a red photo"}
    write_case_folder(tmp_path, "a", original, mask, base_a, {"pixel": pixel}, captions=caps)
    rows = score_case_dir(tmp_path / "a", clip=tiny_clip)
    model, processor = tiny_clip
    for row, image in zip(rows, (base_a, pixel), strict=True):
        assert row["clip_cosine"] == pytest.approx(
            clip_cosine(model, processor, image, "make it red"), abs=1e-6
        )  # seed study: against the instruction
        assert row["clip_score"] == pytest.approx(
            clip_score(model, processor, image, "a red photo"), abs=1e-4
        )  # torchmetrics/PIE-Bench: against the target caption
        assert row["clip_score_region"] == pytest.approx(
            clip_score_region(model, processor, image, mask, "a red photo"), abs=1e-4
        )
        assert row["clip_directional"] == pytest.approx(
            clip_directional(model, processor, original, image, "a black photo", "a red photo"),
            abs=1e-5,
        )
        assert row["clip_score_text"] == "target" and row["clip_model"]
        assert 0 <= row["clip_score"] <= 100 and -1 <= row["clip_cosine"] <= 1


def test_clip_without_captions_scores_the_instruction_and_skips_directional(run, tiny_clip):
    rows = evaluate_dir(run, clip=tiny_clip)
    assert all(r["clip_score_text"] == "instruction" for r in rows)
    assert all("clip_directional" not in r for r in rows)
    # captions given to evaluate_dir (a dataset's captions.json) override the records
    caps = {"a": {"source": "black", "target": "red"}}
    rows = evaluate_dir(run, clip=tiny_clip, captions=caps)
    assert [("clip_directional" in r) for r in rows] == [True, True, True, False, False]
    assert "clip_score_mean" in summarise(rows)[0]
