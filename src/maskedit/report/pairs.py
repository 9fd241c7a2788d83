"""How much two methods' outputs differ, case by case: the report's comparison view.

For every pair of outputs of a case (the baseline and each method), the mean absolute difference
of their pixels (0-255 levels) and the share of pixels that differ at all. Pure: arrays in, floats
out; `case_outputs` reads the files a record names (only inside its case folder).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskedit.record import BASELINE_CHAIN, BASELINE_CHAIN_FILE

BASELINE = "baseline"


def inside(case_dir: Path, name: Any) -> Path | None:
    """case_dir/name when `name` is a plain relative file name that stays inside the case folder
    and exists; else None (a record must not point the report anywhere else)."""
    if not isinstance(name, str) or not name or "\\" in name:
        return None
    path = (case_dir / name).resolve()
    if not path.is_relative_to(case_dir.resolve()) or not path.is_file():
        return None
    return path


def case_outputs(case_dir: Path, record: dict[str, Any]) -> dict[str, Path]:
    """The case's outputs by name: the baseline, each method's file the record names, then a
    multi-turn edit's plain-editor chain."""
    out: dict[str, Path] = {}
    baseline = inside(case_dir, "baseline.png")
    if baseline is not None:
        out[BASELINE] = baseline
    methods = record.get("methods")
    if isinstance(methods, dict):
        for method, name in methods.items():
            path = inside(case_dir, name)
            if path is not None and method != BASELINE:
                out[str(method)] = path
    chain = inside(case_dir, BASELINE_CHAIN_FILE)
    if chain is not None:
        out[BASELINE_CHAIN] = chain
    return out


def difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean |a − b| in 0-255 levels, share of pixels that differ in any channel)."""
    if a.shape != b.shape:
        raise ValueError(f"difference: shapes {a.shape} and {b.shape} differ")
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(delta.mean()), float(np.any(delta > 0, axis=-1).mean())


def pair_differences(images: dict[str, np.ndarray]) -> dict[tuple[str, str], tuple[float, float]]:
    """`difference` for every pair of outputs (in the given order) of the same size."""
    out = {}
    for a, b in itertools.combinations(images, 2):
        if images[a].shape == images[b].shape:
            out[(a, b)] = difference(images[a], images[b])
    return out


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
