"""Benchmarks end to end with tiny models: convert → run (as written) → eval → report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
HW = 32


def _rle(mask: np.ndarray) -> list[int]:
    """PIE-Bench's [start, length, ...] runs over the row-major flattened mask."""
    flat = np.concatenate([[0], mask.reshape(-1).astype(np.int8), [0]])
    edges = np.diff(flat)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [int(v) for s, e in zip(starts, ends, strict=True) for v in (s, e - s)]


def _pie_bench(root: Path) -> Path:
    """Two PIE-Bench entries: an object on a gradient each, annotated by a box."""
    entries = {}
    y, x = np.mgrid[0:HW, 0:HW]
    for i, (key, words, box) in enumerate(
        [("000000000000", "cat dog", (6, 20, 8, 24)), ("111000000001", "", (12, 28, 4, 16))]
    ):
        image = np.stack([x * 8, y * 8, (x + y) * 4], -1).astype(np.uint8)
        y0, y1, x0, x1 = box
        image[y0:y1, x0:x1] = (200, 40 + 100 * i, 40)
        path = root / "annotation_images" / f"{i}_random" / f"{key}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=95)
        annotation = np.zeros((HW, HW), bool)
        annotation[y0:y1, x0:x1] = True
        entries[key] = {
            "image_path": f"{i}_random/{key}.jpg",
            "original_prompt": "a [cat] on a mat",
            "editing_prompt": "a [dog] on a mat",
            "editing_instruction": "Make the cat a dog",
            "editing_type_id": str(i),
            "blended_word": words,
            "mask": _rle(annotation),
        }
    (root / "mapping_file.json").write_text(json.dumps(entries))
    return root


def _one_step(manifest: Path) -> None:
    """Tiny models need one denoising step to check the plumbing."""
    doc = yaml.safe_load(manifest.read_text())
    doc["defaults"] = {"steps": 1}
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_pie_bench_convert_run_eval_report(tmp_path):
    root = _pie_bench(tmp_path / "PIE-Bench")
    conv, out = tmp_path / "converted", tmp_path / "results"
    res = runner.invoke(
        app,
        [
            "convert",
            "pie-bench",
            str(root),
            str(conv),
            "--mask-source",
            "annotation,phrase,relevance",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "wrote 6 cases" in res.stdout
    _one_step(conv / "manifest.yaml")
    # the manifest runs as written: its root declares the dataset folder (no --allow-outside-paths)
    res = runner.invoke(
        app,
        [
            "run",
            str(conv / "manifest.yaml"),
            "--out",
            str(out),
            "--models",
            "tiny",
            "--methods",
            "pixel",
        ],
    )
    assert res.exit_code == 0, res.output
    case = out / "000000000000-annotation"
    reference = np.asarray(Image.open(case / "reference_mask.png")) > 127
    mask = np.asarray(Image.open(case / "mask.png")) > 127
    assert reference[0].all() and not mask[0].any()  # the border scores, it never edits
    assert (reference & ~mask).sum() == 4 * HW - 4  # and is all that tells them apart
    record = json.loads((case / "record.json").read_text())
    assert record["benchmark"] == {
        "name": "pie-bench",
        "mask_source": "annotation",
        "id": "000000000000",
    }
    assert record["captions"]["target"] == "a dog on a mat"

    res = runner.invoke(app, ["eval", str(out)])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert len(rows) == 12 and {r["scored_against"] for r in rows} == {"annotation"}
    assert {r["mask_source"] for r in rows} == {"annotation", "phrase", "relevance"}
    # every PIE-Bench column, with the tiny backbones a tiny run gets
    for key in ("structure_distance", "bg_psnr", "bg_lpips", "bg_mse", "bg_ssim", "clip_score"):
        assert all(key in r for r in rows), key
    pixel = [r for r in rows if r["method"] == "pixel" and r["mask_source"] == "annotation"]
    assert all(r["bg_mse"] == 0.0 and r["bg_lpips"] == 0.0 for r in pixel)  # exact composite

    (tmp_path / "published.csv").write_text(
        "method,bg_psnr,clip_whole\nA published method,22.5,24.1\n"
    )
    res = runner.invoke(app, ["report", str(out), "--reference", str(tmp_path / "published.csv")])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "| Method | Mask source | n | Distance ×10³ ↓ | PSNR ↑ | LPIPS ×10³ ↓ |" in res.stdout
    table = [line for line in lines if line.startswith("| ") and "Method" not in line]
    assert [line.split(" | ")[:3] for line in table] == [
        ["| baseline", "none (unmasked)", "2"],
        ["| pixel", "annotation (upper bound)", "2"],
        ["| pixel", "phrase", "2"],
        ["| pixel", "relevance map", "2"],
        ["| A published method (published)", "published", ""],
    ]
    assert "| ∞ |" in table[1]  # the upper bound keeps the annotation's background exactly
    page = (out / "report.html").read_text()
    assert "<h2>Benchmark</h2>" in page and "A published method" in page


def test_magicbrush_convert_run_scores_against_the_ground_truth(tmp_path):
    root = tmp_path / "MagicBrush"
    folder = root / "images" / "7"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("7-input.png", "7-output1.png"):
        Image.fromarray(rng.integers(0, 256, (HW, HW, 3), dtype=np.uint8)).save(folder / name)
    rgba = np.full((HW, HW, 4), 200, np.uint8)
    rgba[8:20, 8:20, 3] = 0  # the transparent edit region
    Image.fromarray(rgba, "RGBA").save(folder / "7-mask1.png")
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    (root / "edit_sessions.json").write_text(json.dumps({"7": [{**turn, "instruction": "x"}]}))
    (root / "local_descriptions.json").write_text(json.dumps({"7": {"7-output1.png": "a hat"}}))
    conv, out = tmp_path / "converted", tmp_path / "results"
    res = runner.invoke(
        app, ["convert", "magicbrush", str(root), str(conv), "--mask-source", "click"]
    )
    assert res.exit_code == 0, res.output
    _one_step(conv / "manifest.yaml")
    res = runner.invoke(
        app, ["run", str(conv / "manifest.yaml"), "--out", str(out), "--models", "tiny"]
    )
    assert res.exit_code == 0, res.output
    assert (out / "7_1" / "ground_truth.png").read_bytes() == (
        folder / "7-output1.png"
    ).read_bytes()
    rows = _rows(out)  # scored at run time
    for key in ("l1", "l2", "clip_i", "clip_t", "dino"):
        assert all(key in r for r in rows), key
    assert "bg_lpips" not in rows[0]  # not a MagicBrush column: not loaded
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert "| L1 ↓ | L2 ↓ | CLIP-I ↑ | DINO ↑ | CLIP-T ↑ |" in res.stdout
    assert "| pixel | one simulated click | 1 |" in res.stdout


def test_convert_errors_are_one_line(tmp_path):
    res = runner.invoke(app, ["convert", "pie-bench", str(tmp_path / "none"), str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "mapping_file.json': file not found" in res.output
    root = _pie_bench(tmp_path / "pie")
    res = runner.invoke(
        app, ["convert", "pie-bench", str(root), str(tmp_path / "o"), "--mask-source", "boxes"]
    )
    assert res.exit_code == 2 and "--mask-source 'boxes'" in res.output
