"""Scoring against a reference mask and a ground truth, and the LPIPS / DINO columns.

Hand-made case: 4x5 black images; the run's own mask is the two left columns (8 px), the
reference (a dataset's annotation) the left column only (4 px). The "pixel" output is +100 on the
own mask, an exact composite:

- against the own mask its background is untouched: MSE 0, PSNR inf (what every masked method
  scores by construction);
- against the reference, column 1 changed outside it: 4 px x 3 channels of (100/255)^2 over all
  60 values -> MSE 0.2 (100/255)^2; the change (threshold max(10, 8*100/20 = 40)) is 8 px, so
  IoU = 4/8 and leakage = 4*100 / (8*100) = 1/2.

Ground truth: the original + 50 everywhere, so every value of the pixel output is 50 away from
it: L1 = 50/255, L2 = (50/255)^2.
"""

from __future__ import annotations

import csv
import json
import math
import warnings

import numpy as np
import pytest
from PIL import Image
from run_fixtures import write_case_folder

from maskedit.errors import InputError, MaskeditWarning, MissingWeightsError
from maskedit.evaluate import evaluate_dir, score_case_dir
from maskedit.metric_models import load_backbones
from maskedit.scoring import Backbones, score_outputs
from maskedit.tables import summarise

H, W = 4, 5
BG_MSE = 0.2 * (100 / 255) ** 2


def _case():
    original = np.zeros((H, W, 3), np.uint8)
    own = np.zeros((H, W), bool)
    own[:, :2] = True
    reference = np.zeros((H, W), bool)
    reference[:, :1] = True
    pixel = original.copy()
    pixel[own] = 100
    return original, own, reference, pixel


def _with_reference(tmp_path, case_id="a"):
    original, own, reference, pixel = _case()
    case = write_case_folder(tmp_path, case_id, original, own, pixel.copy(), {"pixel": pixel})
    Image.fromarray(np.where(reference, 255, 0).astype(np.uint8)).save(case / "reference_mask.png")
    return case


def test_own_mask_scores_a_masked_method_perfect_by_construction():
    original, own, _, pixel = _case()
    row = score_outputs(original, own, {"pixel": pixel}, "x")[0]
    assert row["scored_against"] == "own mask"
    assert (row["bg_mse"], row["bg_psnr"], row["iou"]) == (0.0, None, 1.0)


def test_a_reference_mask_scores_every_region_metric_by_hand():
    original, own, reference, pixel = _case()
    row = score_outputs(original, own, {"pixel": pixel}, "x", reference=reference)[0]
    assert row["scored_against"] == "annotation"
    assert row["bg_mse"] == pytest.approx(BG_MSE)
    assert row["bg_psnr"] == pytest.approx(10 * math.log10(1 / BG_MSE))
    assert row["bg_ssim"] is None  # no pixel 5 from every edge of 4x5: PIE-Bench's has no SSIM
    assert row["iou"] == pytest.approx(0.5) and row["leakage"] == pytest.approx(0.5)


def test_case_folder_with_reference_mask_png_is_scored_against_it(tmp_path):
    rows = score_case_dir(_with_reference(tmp_path))
    assert [r["scored_against"] for r in rows] == ["annotation", "annotation"]
    assert rows[1]["bg_mse"] == pytest.approx(BG_MSE)
    assert rows[1]["mask_iou"] == 0.5  # the own mask (8 px) against the reference (4 px)


def test_summary_says_which_mask_and_a_mixed_table_is_refused(tmp_path):
    _with_reference(tmp_path)
    evaluate_dir(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as f:
        assert {r["scored_against"] for r in csv.DictReader(f)} == {"annotation"}
    original, own, _, pixel = _case()
    write_case_folder(tmp_path, "b", original, own, pixel.copy(), {"pixel": pixel})
    with pytest.raises(InputError) as err:
        evaluate_dir(tmp_path)
    assert "1 case(s) scored against the annotation and 1 against their own mask" in str(err.value)
    assert "\n" not in str(err.value)
    rows = [*score_case_dir(tmp_path / "a"), *score_case_dir(tmp_path / "b")]
    with pytest.raises(InputError, match="one table cannot compare them"):
        summarise(rows)


def test_rows_from_before_the_column_count_as_own_mask():
    rows = [{"case_id": "a", "method": "pixel", "iou": 1.0}]
    assert summarise(rows)[0]["scored_against"] == "own mask"


def test_ground_truth_columns_by_hand_and_only_what_can_be_computed():
    original, own, _, pixel = _case()
    truth = np.full((H, W, 3), 50, np.uint8)
    row = score_outputs(original, own, {"pixel": pixel}, "x", ground_truth=truth)[0]
    assert row["l1"] == pytest.approx(50 / 255)
    assert row["l2"] == pytest.approx((50 / 255) ** 2)
    # no CLIP and no DINO given: those columns are absent, not zero
    assert not {"clip_i", "clip_t", "dino"} & set(row)
    assert "l1" not in score_outputs(original, own, {"pixel": pixel}, "x")[0]


@pytest.fixture(scope="module")
def tiny_clip():
    from maskedit.tiny import build_tiny_clip

    return build_tiny_clip(seed=0)


@pytest.fixture(scope="module")
def tiny_backbones():
    from maskedit.tiny.metrics import build_tiny_dino, build_tiny_lpips

    return Backbones(
        lpips=build_tiny_lpips(), structure=build_tiny_dino(seed=1), dino=build_tiny_dino()
    )


def _photo(seed, hw=(48, 64)):
    return np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)


def test_magicbrush_columns_against_the_ground_truth_and_local_caption(
    tmp_path, tiny_clip, tiny_backbones
):
    from maskedit.metrics import clip_i, clip_t, dino_similarity, l1_distance

    original, edit, truth = _photo(0), _photo(1), _photo(2, (64, 64))  # the truth at its own size
    mask = np.zeros(original.shape[:2], bool)
    mask[10:30, 10:40] = True
    case = write_case_folder(tmp_path, "mb", original, mask, edit, {"pixel": edit.copy()})
    Image.fromarray(truth).save(case / "ground_truth.png")
    rows = score_case_dir(case, clip=tiny_clip, backbones=tiny_backbones)
    assert "clip_t" not in rows[0]  # no local caption: CLIP-T is not computed
    model, processor = tiny_clip
    assert rows[0]["l1"] == pytest.approx(l1_distance(edit, truth))
    assert rows[0]["clip_i"] == pytest.approx(clip_i(model, edit, truth), abs=1e-6)
    assert rows[0]["dino"] == pytest.approx(
        dino_similarity(tiny_backbones.dino, edit, truth), abs=1e-6
    )
    captions = {"source": None, "target": None, "local": "a hat"}
    rows = score_case_dir(case, clip=tiny_clip, captions=captions)
    assert rows[0]["clip_t"] == pytest.approx(clip_t(model, processor, edit, "a hat"), abs=1e-6)
    assert "dino" not in rows[0]  # no DINO given


def test_an_empty_region_has_no_clip_edited_score(tiny_clip):
    """PIE-Bench writes "nan" for CLIP edited when the mask is empty: the score of an all-black
    image is no score of an edited region, so the column is null, never a number."""
    original, edit = _photo(0), _photo(1)
    own = np.zeros(original.shape[:2], bool)
    own[10:30, 10:40] = True
    empty = np.zeros_like(own)
    row = score_outputs(original, own, {"pixel": edit}, "x", clip=tiny_clip, reference=empty)[0]
    assert row["clip_score_region"] is None
    assert isinstance(row["clip_score"], float)
    row = score_outputs(original, own, {"pixel": edit}, "x", clip=tiny_clip)[0]
    assert isinstance(row["clip_score_region"], float)


def test_lpips_and_structure_distance_columns(tiny_backbones):
    from maskedit.metrics import masked_lpips, structure_distance

    original, edit = _photo(3), _photo(4)
    own = np.zeros(original.shape[:2], bool)
    own[8:40, 8:56] = True
    reference = np.zeros_like(own)
    reference[16:32, 16:48] = True
    row = score_outputs(
        original, own, {"x": edit}, "x", reference=reference, backbones=tiny_backbones
    )[0]
    assert row["bg_lpips"] == pytest.approx(
        masked_lpips(tiny_backbones.lpips, edit, original, reference), abs=1e-6
    )  # the background of the reference, not of the own mask
    assert row["bg_lpips"] != pytest.approx(
        masked_lpips(tiny_backbones.lpips, edit, original, own), abs=1e-6
    )
    assert row["structure_distance"] == pytest.approx(
        structure_distance(tiny_backbones.structure, edit, original), abs=1e-9
    )
    plain = score_outputs(original, own, {"x": edit}, "x")[0]
    assert not {"bg_lpips", "structure_distance"} & set(plain)


@pytest.mark.parametrize("hw", [(1, 300), (8, 8), (300, 1), (17, 3000)])
def test_images_too_thin_for_a_network_leave_its_cell_empty(tiny_backbones, hw):
    """SqueezeNet's pools need 17 px a side, a ViT a whole patch after PIE-Bench's resize: a
    thinner image gets no LPIPS / structure distance (null), not a crash of the run."""
    from maskedit.metrics.lpips import MIN_SIDE
    from maskedit.metrics.structure import resized_hw

    original, edit = _photo(3, hw), _photo(4, hw)
    own = np.zeros(hw, bool)
    own[: max(1, hw[0] // 2)] = True
    row = score_outputs(original, own, {"x": edit}, "x", backbones=tiny_backbones)[0]
    assert (row["bg_lpips"] is None) == (min(hw) < MIN_SIDE)
    patch = tiny_backbones.structure.config.patch_size
    assert (row["structure_distance"] is None) == (min(resized_hw(*hw)) < patch)
    assert row["iou"] is not None


def test_load_backbones_loads_what_the_benchmarks_report():
    assert load_backbones(benchmarks=()) == Backbones()  # auto: nothing needed, nothing loaded
    pie = load_backbones(benchmarks={"pie-bench"}, tiny=True, device="cpu")
    assert pie.lpips is not None and pie.structure is not None and pie.dino is None
    mb = load_backbones(benchmarks={"magicbrush"}, tiny=True, device="cpu")
    assert (mb.lpips, mb.structure) == (None, None) and mb.dino is not None
    none = load_backbones("none", "none", "none", benchmarks={"pie-bench"}, tiny=True)
    assert none == Backbones()


def test_metric_choices_load_as_the_flags_say():
    """The flags' one object (what `maskedit run` loads here and sends to Ray actors)."""
    from maskedit.cli.options import BackboneFlags
    from maskedit.metric_models import MetricChoices, case_benchmarks

    choices = BackboneFlags(dino="none").choices("tiny")
    assert choices == MetricChoices(clip="tiny", dino="none")
    clip, pie = choices.load({"pie-bench"}, tiny=True, device="cpu")
    assert clip is not None and pie.lpips is not None and pie.structure is not None
    assert choices.load({"magicbrush"}, tiny=True, device="cpu")[1] == Backbones()  # dino: none
    assert MetricChoices(clip="none").load({"magicbrush"}, tiny=True)[0] is None
    assert case_benchmarks([]) == frozenset()


def test_missing_weights_leave_the_column_out_with_one_warning_each(tmp_path, monkeypatch):
    import torch

    from maskedit.models import metric_nets as models

    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))  # no SqueezeNet weights there
    monkeypatch.setattr(models, "DEFAULT_DINO_STRUCTURE_ID", str(tmp_path / "no-dino"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backbones = load_backbones(benchmarks={"pie-bench"}, device="cpu")
        with pytest.raises(MissingWeightsError):  # a model the user named must load
            load_backbones(lpips=str(tmp_path / "hub"), benchmarks={"pie-bench"}, device="cpu")
    finally:
        torch.hub.set_dir(hub)
    assert backbones == Backbones()
    mine = [str(w.message) for w in caught if issubclass(w.category, MaskeditWarning)]
    assert len(mine) == 2, mine
    assert mine[0].startswith("LPIPS skipped") and mine[1].startswith("DINO metrics skipped")
    original, own, _, pixel = _case()
    row = score_outputs(original, own, {"pixel": pixel}, "x", backbones=backbones)[0]
    assert not {"bg_lpips", "structure_distance"} & set(row)


def test_a_mixed_run_scores_each_benchmarks_cases_with_its_own_clip(tmp_path, monkeypatch):
    """PIE-Bench and MagicBrush cases in one run: with --clip auto the MagicBrush (and any other)
    cases get ViT-B/32 and the PIE-Bench cases PIE-Bench's ViT-L/14, each as its own evaluation
    code scores them; a run of one benchmark, a named --clip or tiny models load one CLIP."""
    import maskedit.models as models_module
    from maskedit.config import load_manifest
    from maskedit.metric_models import MetricChoices
    from maskedit.models import load_clip, load_models
    from maskedit.models.metric_nets import DEFAULT_CLIP_PIE_ID
    from maskedit.runner import run_manifest
    from maskedit.tiny.clip import build_tiny_clip

    asked = []
    monkeypatch.setattr(
        models_module, "clip_for_metrics", lambda choice, **kw: asked.append(kw["default"]) or kw["default"]
    )
    both = {"pie-bench", "magicbrush"}
    assert MetricChoices().benchmark_clips(both) == {"pie-bench": DEFAULT_CLIP_PIE_ID}
    assert asked == [DEFAULT_CLIP_PIE_ID]
    assert MetricChoices().benchmark_clips({"pie-bench"}) == {}
    assert MetricChoices().benchmark_clips({"magicbrush"}) == {}
    assert MetricChoices(clip="openai/clip-vit-base-patch32").benchmark_clips(both) == {}
    assert MetricChoices().benchmark_clips(both, tiny=True) == {}
    monkeypatch.undo()

    for seed in (1, 2):  # two CLIPs with names, so that the rows say which scored them
        model, processor = build_tiny_clip(seed=seed)
        model.save_pretrained(tmp_path / f"clip{seed}")
        processor.save_pretrained(tmp_path / f"clip{seed}")
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "p.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[2:20, 2:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    case = (
        " - {{id: {0}, image: p.png, instruction: hi, mask: m.png, steps: 1,"
        " benchmark: {{name: {0}, mask_source: annotation}}}}\n"
    )
    (tmp_path / "m.yaml").write_text(
        "cases:\n" + case.format("pie-bench") + case.format("magicbrush")
        + " - {id: plain, image: p.png, instruction: hi, mask: m.png, steps: 1}\n"
    )
    manifest = load_manifest(tmp_path / "m.yaml")
    summary = run_manifest(
        manifest,
        load_models("tiny", need_sam=False),
        tmp_path / "out",
        progress=False,
        clip=load_clip(str(tmp_path / "clip1")),
        clips={"pie-bench": load_clip(str(tmp_path / "clip2"))},
    )
    assert not summary.failed, summary.failed
    assert summary.clip_models and summary.clip_per_benchmark  # summary.csv mixes them, by design
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    models = {row["case_id"]: row["clip_model"] for row in rows}
    assert models == {
        "pie-bench": str(tmp_path / "clip2"),
        "magicbrush": str(tmp_path / "clip1"),
        "plain": str(tmp_path / "clip1"),
    }
    kept = json.loads((tmp_path / "out" / "pie-bench" / "metrics.json").read_text())["scoring"]
    assert kept["clip"] == str(tmp_path / "clip2")  # a resume compares each case's own CLIP
