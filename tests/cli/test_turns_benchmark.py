"""MagicBrush's multi-turn setting end to end with tiny models: convert, run, score every turn
against its ground truth, and the report's per-turn curves."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app
from maskedit.datasets.magicbrush import magicbrush_turns_to_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from run_fixtures import write_magicbrush  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
HW = (48, 64)


def _split(root: Path) -> Path:
    sessions, masks = {}, {}
    for img_id, n in (("11", 3), ("22", 2)):
        turns = []
        for k in range(1, n + 1):
            source = f"{img_id}-input.png" if k == 1 else f"{img_id}-output{k - 1}.png"
            turns.append(
                {
                    "input": source,
                    "mask": f"{img_id}-mask{k}.png",
                    "output": f"{img_id}-output{k}.png",
                    "instruction": f"edit {k}",
                }
            )
            region = np.zeros(HW, np.uint8)
            region[4 + 12 * (k - 1) : 14 + 12 * (k - 1), 8:40] = 255
            masks[f"{img_id}-mask{k}.png"] = Image.fromarray(region)  # white = edit
        sessions[img_id] = turns
    captions = {
        "11": {
            "11-input.png": "a photo",
            "11-output1.png": "a photo with a hat",
            "11-output3.png": "a photo with a hat, a ball and a kite",
        }
    }
    return write_magicbrush(root, sessions, masks, HW, global_descriptions=captions)


def _convert_and_run(root: Path, tmp_path: Path, runner: CliRunner):
    """The split as one multi-turn case per image, run with tiny models (2 steps, pixel and
    latent); returns the run folder and the command's result."""
    manifest = magicbrush_turns_to_manifest(root, tmp_path / "conv")
    doc = yaml.safe_load(manifest.read_text())
    doc["defaults"] = {"steps": 2, "methods": ["pixel", "latent"]}
    manifest.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    args = ["--models", "tiny", "--allow-outside-paths"]
    return out, runner.invoke(app, ["run", str(manifest), "--out", str(out), *args])


def test_magicbrush_multi_turn_runs_scores_every_turn_and_reports_curves(tmp_path):
    root = _split(tmp_path / "mb")
    runner = CliRunner()
    out, res = _convert_and_run(root, tmp_path, runner)
    assert res.exit_code == 0, res.output
    assert "2 done" in res.stdout

    case = out / "11"
    record = json.loads((case / "record.json").read_text())
    assert record["turns"]["path"] == ["t01", "t02", "t03"]
    images = root / "images" / "11"
    for k, turn_id in enumerate(record["turns"]["path"], start=1):
        turn_dir = case / "turns" / turn_id
        rows = json.loads((turn_dir / "metrics.json").read_text())["rows"]
        by_method = {row["method"]: row for row in rows}
        assert set(by_method) == {"baseline", "pixel", "latent", "baseline_chain"}
        truth = np.asarray(Image.open(images / f"11-output{k}.png"))
        for method, file in (("pixel", "blended_pixel.png"), ("latent", "blended_latent.png")):
            row = by_method[method]
            assert row["drift_max"] == 0 and row["turn"] == k
            mine = np.asarray(Image.open(turn_dir / file)).astype(np.float64) / 255
            assert row["l1"] == pytest.approx(np.mean(np.abs(mine - truth / 255)))
            assert isinstance(row["clip_i"], float)  # the tiny CLIP scored it
            assert isinstance(row["dino"], float)  # the case's tag loaded (the tiny) DINO
        assert by_method["baseline"]["drift_max"] > 0
        # the plain editor's own chain: turn k edits turn k−1's chain image, unmasked
        chain = np.asarray(Image.open(turn_dir / "baseline_chain.png")).astype(np.float64) / 255
        assert by_method["baseline_chain"]["l1"] == pytest.approx(np.mean(np.abs(chain - truth / 255)))
        assert by_method["baseline_chain"]["drift_max"] > 0
        if k == 1:
            assert np.array_equal(chain, np.asarray(Image.open(turn_dir / "baseline.png")) / 255)
        if k > 1:  # iterative: maskedit's own output of the turn before, not the ground truth
            parent = np.asarray(Image.open(turn_dir / "original.png"))
            before = case / "turns" / record["turns"]["path"][k - 2] / "blended.png"
            assert np.array_equal(parent, np.asarray(Image.open(before)))
            assert not np.array_equal(
                parent, np.asarray(Image.open(images / f"11-output{k - 1}.png"))
            )
    first = json.loads((case / "turns" / "t01" / "record.json").read_text())
    assert first["captions"] == {"source": "a photo", "target": "a photo with a hat"}
    # the whole edit's rows: the final turn against its ground truth, drift as bg metrics
    final = {r["method"]: r for r in json.loads((case / "metrics.json").read_text())["rows"]}
    last = {
        r["method"]: r for r in json.loads((case / "turns/t03/metrics.json").read_text())["rows"]
    }
    for method in ("pixel", "latent"):
        assert final[method]["turns"] == 3 and final[method]["bg_mse"] == 0
        assert final[method]["l1"] == pytest.approx(last[method]["l1"])
        assert final[method]["dino"] == pytest.approx(last[method]["dino"])
    assert final["baseline"]["bg_mse"] > 0
    assert final["baseline_chain"]["turns"] == 3 and final["baseline_chain"]["bg_mse"] > 0
    assert final["baseline_chain"]["l1"] == pytest.approx(last["baseline_chain"]["l1"])
    assert final["baseline_chain"]["dino"] == pytest.approx(last["baseline_chain"]["dino"])

    # MagicBrush's multi-turn table: each chain's final turn, tagged as the case is
    assert {r["benchmark"] for r in final.values()} == {"magicbrush"}
    assert {r["setting"] for r in final.values()} == {"multi-turn"}
    assert {m for m, r in final.items() if r["own_chain"]} == {"pixel", "baseline_chain"}
    finals = [
        {r["method"]: r for r in json.loads((out / c / "metrics.json").read_text())["rows"]}
        for c in ("11", "22")
    ]
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    table = res.stdout[res.stdout.index("**MagicBrush multi-turn**") :]
    lines = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    assert set(lines) == {"| Method", "| baseline_chain", "| pixel"}
    for method in ("pixel", "baseline_chain"):
        l1 = sum(f[method]["l1"] for f in finals) / 2
        assert f" | 2 | {l1:.4f} | " in lines[f"| {method}"]
    assert "Left out (baseline, latent)" in table
    page = (out / "report.html").read_text()
    assert "<h3>MagicBrush multi-turn</h3>" in page
    assert "Turns (2 multi-turn cases, up to 3 turns)" in page
    for label in ("pixels outside the masks changed (share)", "L1 to the ground truth",
                  "CLIP-I to the ground truth", "DINO to the ground truth"):  # fmt: skip
        assert f'alt="{label} per turn"' in page
    assert 'alt="turns of 11"' in page


def test_eval_scores_a_multi_turn_run_as_the_run_did(tmp_path):
    """`maskedit eval` on a multi-turn run rewrites every turn's metrics.json and the edit's own
    with the rows the run wrote (drift, ground-truth columns, turn numbers included), from the
    images on disk alone; a turn whose files were changed afterwards is scored as it is now."""
    runner = CliRunner()
    out, res = _convert_and_run(_split(tmp_path / "mb"), tmp_path, runner)
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("*/turns/*/metrics.json")) + sorted(out.glob("*/metrics.json"))
    assert len(files) == 3 + 2 + 2  # five turns, two edits
    written = {f: json.loads(f.read_text())["rows"] for f in files}
    assert all("baseline_chain" in {r["method"] for r in rows} for rows in written.values())
    for f in files:
        f.unlink()  # eval must write them anew, not keep the run's

    res = runner.invoke(app, ["eval", str(out), "--clip", "tiny"])
    assert res.exit_code == 0, res.output
    for f in files:
        again = json.loads(f.read_text())["rows"]
        assert again == written[f], f

    # A turn's output changed on disk: eval scores what is there (its drift is no longer zero).
    turn_dir = out / "11" / "turns" / "t02"
    record = json.loads((turn_dir / "record.json").read_text())
    path = turn_dir / record["methods"]["pixel"]
    image = np.asarray(Image.open(path)).copy()
    image[-1, -1] = 255 - image[-1, -1]  # a pixel outside every mask
    Image.fromarray(image).save(path)
    res = runner.invoke(app, ["eval", str(out), "--clip", "tiny"])
    assert res.exit_code == 0, res.output
    rows = {r["method"]: r for r in json.loads((turn_dir / "metrics.json").read_text())["rows"]}
    assert rows["pixel"]["drift_max"] > 0 and rows["latent"]["drift_max"] == 0
