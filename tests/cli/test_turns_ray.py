"""A manifest case with turns on Ray actors: the same turn folders as the local runner."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from maskedit.config import load_manifest  # noqa: E402
from maskedit.ray_runner import run_manifest_ray  # noqa: E402

TINY = {"kind": "tiny", "device": "cpu", "need_sam": True}


def test_a_turns_case_runs_on_ray_like_here(tmp_path, monkeypatch):
    from maskedit.models import load_models
    from maskedit.runner import run_manifest

    y, x = np.mgrid[0:60, 0:90]
    Image.fromarray(np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)).save(tmp_path / "p.png")
    mask = np.zeros((60, 90), np.uint8)
    mask[10:30, 10:40] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - id: walk\n   image: p.png\n   steps: 2\n   turns:\n"
        "     - {instruction: make it red, mask: m.png}\n"
        "     - {instruction: make it blue, box: [50, 5, 85, 40]}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # relative paths: the actors must get absolute ones
    manifest = load_manifest(Path(tmp_path.name) / "m.yaml")
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert run_manifest(manifest, load_models(**TINY), local, progress=False).done == ["walk"]
    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING)
    try:
        summary = run_manifest_ray(
            manifest, remote, model_options=TINY, num_actors=1, progress=False
        )
    finally:
        ray.shutdown()
    assert summary.done == ["walk"] and not summary.failed
    for turn in ("t01", "t02"):
        for name in ("original.png", "mask.png", "blended.png", "baseline.png"):
            a = (local / "walk" / "turns" / turn / name).read_bytes()
            assert a == (remote / "walk" / "turns" / turn / name).read_bytes(), (turn, name)
    record = json.loads((remote / "walk" / "record.json").read_text())
    assert record["turns"]["path"] == ["t01", "t02"]
