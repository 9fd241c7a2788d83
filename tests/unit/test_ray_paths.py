"""What a Ray actor is sent: a case whose every file is named by an absolute path (actors do
not share the driver's working folder). No Ray needed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from maskedit.config import load_manifest
from maskedit.ray_runner import _absolute_paths


def _files(case) -> list[str]:
    named = [case.image, *case.references, case.reference_mask, case.ground_truth]
    named += [r.prompts.mask for r in case.all_regions]
    named += [t.ground_truth for t in case.turns]
    return [str(f) for f in named if f is not None]


def test_every_file_a_case_names_goes_to_the_actors_absolute(tmp_path, monkeypatch):
    for name in ("p.png", "ref.png", "gt.png", "gt2.png"):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / name)
    for name in ("m.png", "rm.png"):
        Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / name)
    (tmp_path / "m.yaml").write_text(
        "cases:\n"
        " - {id: a, image: p.png, instruction: hi, mask: m.png, references: [ref.png],"
        " reference_mask: rm.png, ground_truth: gt.png}\n"
        " - id: t\n   image: p.png\n   turns:\n"
        "     - {instruction: hi, mask: m.png, ground_truth: gt.png}\n"
        "     - {instruction: ho, mask: m.png, ground_truth: gt2.png}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # a relative manifest path: relative file paths
    manifest = load_manifest(Path(tmp_path.name) / "m.yaml")
    for case in manifest.cases:
        assert any(not os.path.isabs(f) for f in _files(case))
        sent = _absolute_paths(case)
        assert all(os.path.isabs(f) for f in _files(sent)), _files(sent)
        assert len(_files(sent)) == len(_files(case))
        for f in _files(sent):
            assert Path(f).is_file()
