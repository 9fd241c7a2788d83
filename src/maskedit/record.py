"""The record.json schema, in one place."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from maskedit.case import EditResult

SCHEMA_VERSION = 1
OUTPUT_FILES = {
    "original": "original.png",
    "mask": "mask.png",
    "baseline": "baseline.png",
    "blended": "blended.png",
    "grid": "grid.png",
    "record": "record.json",
}
_LIBRARIES = (
    "maskedit",
    "torch",
    "diffusers",
    "transformers",
    "numpy",
    "pillow",
    "scipy",
    "opencv-python-headless",
    "huggingface-hub",
)


def method_files(methods: list[str]) -> dict[str, str]:
    """Where each method's result is written: `blended.png` for a single method, else
    `blended_<method>.png` for every method (and `blended.png` repeats the first)."""
    if len(methods) == 1:
        return {methods[0]: OUTPUT_FILES["blended"]}
    return {m: f"blended_{m}.png" for m in methods}


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_record(result: EditResult, case_id: str | None = None) -> dict[str, Any]:
    """Everything needed to reproduce and audit one edit (JSON-serialisable)."""
    h, w = result.original.shape[:2]
    p = result.prompts
    models = result.models
    tiny = models.get("kind") == "tiny"
    return {
        "schema": SCHEMA_VERSION,
        "case_id": case_id,
        "tiny_models": tiny,
        "note": models.get("note") or None,
        "instruction": result.instruction,
        "image": {"source": result.image_source, "width": w, "height": h},
        "working_size": {"width": result.working_hw[1], "height": result.working_hw[0]},
        "method": result.method,
        "methods": method_files(list(result.outputs)),
        "method_info": result.method_info,
        "batch": result.batch,
        "settings": result.settings.model_dump(),
        "seed": result.settings.seed,
        "mask": {
            "source": result.mask_source,
            "points": [list(pt) for pt in p.points] if p else [],
            "box": list(p.box) if p and p.box else None,
            "file": str(p.mask) if p and p.mask else None,
            "sam": result.sam.to_record() if result.sam else None,
            **result.mask_info,
            "area_fraction_raw": round(result.raw_area, 6),
            "area_fraction": round(float(np.mean(result.alpha > 0)), 6),
        },
        "models": models,
        "versions": library_versions(),
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": list(result.warnings),
        "outputs": {
            k: v for k, v in OUTPUT_FILES.items() if k != "baseline" or result.baseline is not None
        },
    }
