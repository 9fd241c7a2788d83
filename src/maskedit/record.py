"""What one edit produced (`EditResult`) and the record.json schema, in one place."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.config import EditSettings, Prompts

if TYPE_CHECKING:  # the record is read by the report, which never imports torch
    from maskedit.masks.sam import SamPrediction

SCHEMA_VERSION = 1
OUTPUT_FILES = {
    "original": "original.png",
    "mask": "mask.png",
    "baseline": "baseline.png",
    "blended": "blended.png",
    "grid": "grid.png",
    "record": "record.json",
}
GROUND_TRUTH_FILE = "ground_truth.png"  # a dataset's target image (MagicBrush)
# A multi-turn edit's turn, with its case's `baseline_chain`: the plain editor's own chain
# (`maskedit.turn_chain`), named in the turn's record.json `outputs` and scored as this method.
BASELINE_CHAIN = "baseline_chain"
BASELINE_CHAIN_FILE = "baseline_chain.png"
# Other files a case folder may hold (besides `blended_<method>.png`): what maskedit writes there.
CASE_FILES = frozenset(OUTPUT_FILES.values()) | {
    "reference_mask.png",
    "metrics.json",
    GROUND_TRUTH_FILE,
    BASELINE_CHAIN_FILE,
}
# What a multi-turn edit's folder holds besides a case folder's files (`maskedit.turns`).
HISTORY_FILE = "history.json"
TURNS_DIR = "turns"
STRIP_FILE = "strip.png"
LOCK_FILE = ".maskedit.lock"  # one writer at a time (`maskedit.run_folder.run_lock`)
# `masks`: the web app's region layers and kept turns' masks, written into its turns folder
TURNS_FILES = frozenset({HISTORY_FILE, TURNS_DIR, STRIP_FILE, LOCK_FILE, "masks"})
# What a file browser writes into any folder the user opens (Finder, Explorer, network shares):
# not the user's work, so it never keeps maskedit from replacing its own folder
OS_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})
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


@dataclass
class EditResult:
    """Everything one edit produced, at the input's native resolution."""

    original: np.ndarray  # H×W×3 uint8, upright
    alpha: np.ndarray  # H×W float32 in [0, 1], 1 = edit allowed
    baseline: np.ndarray | None  # H×W×3 uint8: the unmasked edit at native size (None: skipped)
    outputs: dict[str, np.ndarray]  # method → H×W×3 uint8; equals `original` where alpha == 0
    instruction: str
    settings: EditSettings
    mask_source: str  # "sam", "file", "array", "target:<backend>" or "edit"
    prompts: Prompts | None
    sam: SamPrediction | None
    working_hw: tuple[int, int]
    models: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    image_source: str = "array"
    warnings: list[str] = field(default_factory=list)
    method_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw_area: float = 0.0  # mask area fraction before shaping
    mask_info: dict[str, Any] = field(default_factory=dict)  # phrase/relevance facts, reference IoU
    reference: np.ndarray | None = None  # a given mask the automatic one is scored against
    batch: dict[str, int] = field(default_factory=dict)  # baseline: cases in its shared call
    # reference images given with the image (editors that take them): source, width, height
    references: list[dict[str, Any]] = field(default_factory=list)

    @property
    def method(self) -> str:
        """The first (primary) method; its result is `blended`."""
        return next(iter(self.outputs))

    @property
    def blended(self) -> np.ndarray:
        return self.outputs[self.method]

    def to_record(self, case_id: str | None = None) -> dict[str, Any]:
        return build_record(self, case_id)


def is_case_record(doc: Any) -> bool:
    """Whether a parsed record.json is one maskedit wrote: its schema and the library versions
    it records are the marker that lets `--force` and resume replace a folder."""
    if not isinstance(doc, dict):
        return False
    versions = doc.get("versions")
    return (
        doc.get("schema") == SCHEMA_VERSION
        and isinstance(versions, dict)
        and "maskedit" in versions
        and isinstance(doc.get("outputs"), dict)
    )


def names_chain(record: dict[str, Any]) -> bool:
    """Whether a turn's record.json names its chain image (written last of the turn's files)."""
    named = record.get("outputs")
    return isinstance(named, dict) and BASELINE_CHAIN in named


def is_case_file(name: str, turns: bool = False) -> bool:
    """A file name maskedit writes into a case folder (its temp files included); with `turns`,
    into a multi-turn edit's folder."""
    if name in CASE_FILES or (turns and name in TURNS_FILES):
        return True
    if name in OS_FILES or name.startswith("._"):  # "._x": macOS metadata on foreign disks
        return True
    if name.startswith("blended_") and name.endswith(".png"):
        return True
    return name.startswith(".") and name.endswith(".tmp")  # an atomic write cut short


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
        "references": list(result.references),
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
        "outputs": output_files(result),
    }


def output_files(result: EditResult) -> dict[str, str]:
    """What record.json's `outputs` names: the case folder's files (baseline.png when made)."""
    return {k: v for k, v in OUTPUT_FILES.items() if k != "baseline" or result.baseline is not None}
