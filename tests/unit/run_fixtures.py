"""Writers of small on-disk fixtures for the evaluation, report and dataset tests (tests only).

- `write_case_folder`: a finished case folder as the runner writes it (original, mask, baseline,
  one image per method, record.json; grid.png optional).
- `write_pie_bench`: a PIE-Bench root (mapping_file.json + annotation_images/).
- `write_magicbrush`: a MagicBrush split (edit_sessions.json + images/<img_id>/...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def write_case_folder(
    out_dir: Path,
    case_id: str,
    original: np.ndarray,
    mask: np.ndarray,
    baseline: np.ndarray,
    methods: dict[str, np.ndarray],
    *,
    instruction: str = "make it red",
    tiny: bool = False,
    captions: dict[str, str | None] | None = None,
    grid: bool = True,
    mask_mode: str = "L",
) -> Path:
    """One case folder; ``methods`` in order, the first also written as blended.png.

    With one method its file is blended.png; with several, every method also gets
    blended_<method>.png and the record points there (the runner's contract).
    """
    case = out_dir / case_id
    case.mkdir(parents=True)
    Image.fromarray(original).save(case / "original.png")
    if mask_mode == "1":
        Image.fromarray(mask.astype(bool)).save(case / "mask.png")  # a mode "1" PNG: 0/1
    else:
        Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(case / "mask.png")
    Image.fromarray(baseline).save(case / "baseline.png")
    names = list(methods)
    Image.fromarray(methods[names[0]]).save(case / "blended.png")
    files = {}
    for name, image in methods.items():
        file = "blended.png" if len(names) == 1 else f"blended_{name}.png"
        Image.fromarray(image).save(case / file)
        files[name] = file
    if grid:
        panels = [original, baseline, *methods.values()]
        Image.fromarray(np.concatenate(panels, axis=1)).save(case / "grid.png")
    record: dict[str, Any] = {
        "schema": 1,
        "case_id": case_id,
        "tiny_models": tiny,
        "note": "TINY RANDOM MODELS: a plumbing check, not an edit" if tiny else None,
        "instruction": instruction,
        "image": {"source": "test", "width": original.shape[1], "height": original.shape[0]},
        "method": names[0],
        "methods": files,
        "seed": 1337,
    }
    if captions is not None:
        record["captions"] = captions
    (case / "record.json").write_text(json.dumps(record), encoding="utf-8")
    return case


def write_pie_bench(root: Path, entries: dict[str, dict[str, Any]], hw: tuple[int, int]) -> Path:
    """A PIE-Bench root: a random image per entry under annotation_images/ and mapping_file.json.

    ``entries`` maps id -> mapping fields (image_path, prompts, instruction, mask RLE, ...).
    """
    rng = np.random.default_rng(0)
    for item in entries.values():
        path = root / "annotation_images" / item["image_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(path)
    (root / "mapping_file.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


def write_magicbrush(
    root: Path,
    sessions: dict[str, list[dict[str, str]]],
    masks: dict[str, Image.Image],
    hw: tuple[int, int],
    *,
    global_descriptions: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A MagicBrush split: edit_sessions.json, images/<img_id>/ with every input and output named
    in the sessions (random pixels) and the given mask images (file name -> PIL image)."""
    rng = np.random.default_rng(1)
    for img_id, turns in sessions.items():
        folder = root / "images" / img_id
        folder.mkdir(parents=True, exist_ok=True)
        for turn in turns:
            for key in ("input", "output"):
                if not (folder / turn[key]).exists():
                    pixels = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
                    Image.fromarray(pixels).save(folder / turn[key])
            masks[turn["mask"]].save(folder / turn["mask"])
    (root / "edit_sessions.json").write_text(json.dumps(sessions), encoding="utf-8")
    if global_descriptions is not None:
        (root / "global_descriptions.json").write_text(
            json.dumps(global_descriptions), encoding="utf-8"
        )
    return root
