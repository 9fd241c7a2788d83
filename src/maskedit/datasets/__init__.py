"""Benchmark folders -> maskedit manifests: PIE-Bench and MagicBrush.

Each converter writes, into ``out_dir``:

- ``masks/<case id>.png``: the benchmark's annotation as a 0/255 greyscale PNG (white = edit),
  the one form every maskedit reader agrees on; the *editing* mask of the annotation source;
- ``references/<case id>.png`` (PIE-Bench): the annotation as the benchmark scores it (PIE-Bench
  adds the one-pixel image border); MagicBrush scores against the annotation itself;
- ``manifest.yaml``: ``{"root": dataset folder, "defaults": {}, "cases": [...]}`` for
  ``maskedit run``. ``root`` declares the dataset folder the cases read their images from, so the
  manifest runs without ``--allow-outside-paths``. Each case has ``id``, ``image`` (absolute),
  ``instruction``, ``captions``, ``reference_mask`` (what every output is scored against),
  ``benchmark`` (name, the dataset's id, the mask source) and its editing region, by
  ``mask_source``: ``annotation`` (``mask``: an upper bound), ``click`` (``point``: one simulated
  click, see `click_point`), ``phrase`` (``target``: a phrase segmented by CLIPSeg or Grounding
  DINO → SAM) or ``relevance`` (``mask_from: edit``: the edit's own relevance map). MagicBrush
  cases also name their ``ground_truth`` image;
- ``captions.json``: ``{case id: {"source": str | None, "target": str | None}}``, the captions
  the CLIP metrics need, also in the cases (``maskedit eval --captions`` reads this file).

Several mask sources at once give one case per source and image, with ids ``<id>-<source>``.
Nothing here imports torch. docs/evaluation.md describes the layouts read.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from maskedit.config import MASK_SOURCES
from maskedit.config.values import kind_of
from maskedit.errors import InputError, MaskeditWarning
from maskedit.outputs import atomic_write_text
from maskedit.paths import lies_within

MANIFEST_FILE = "manifest.yaml"
CAPTIONS_FILE = "captions.json"
MASKS_DIR = "masks"
REFERENCES_DIR = "references"
TARGET_BACKENDS = ("clipseg", "grounded-sam")
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # as maskedit.config.Case.id


# ---------------------------------------------------------------------------------------------
# writing


def write_mask(path: Path, mask: np.ndarray) -> None:
    from maskedit.images import write_png

    write_png(path, np.where(mask, 255, 0).astype(np.uint8))


class _NoAliases(yaml.SafeDumper):
    """Write shared captions out in full in every case (no YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_manifest(
    out_dir: Path,
    root: Path,
    cases: list[dict[str, Any]],
    captions: dict[str, dict[str, str | None]],
) -> Path:
    if not cases:  # e.g. every annotation empty for a click: a manifest would fail to load
        raise InputError(f"'{root}': no case to write (each was left out; see the warnings)")
    manifest = out_dir / MANIFEST_FILE
    doc = {"root": str(root), "defaults": {}, "cases": cases}
    text = yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)
    atomic_write_text(manifest, text)
    atomic_write_text(
        out_dir / CAPTIONS_FILE, json.dumps(captions, indent=2, ensure_ascii=False) + "\n"
    )
    return manifest


def check_case_id(case_id: str, where: str) -> str:
    if not _CASE_ID.match(case_id):
        raise InputError(
            f"{where}: case id {case_id!r} is not usable as a folder name "
            "(letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return case_id


def instruction_text(value: Any, where: str, field: str = "instruction") -> str:
    """An entry's instruction, refused in one line when it is empty or not text (the manifest
    written from it would be refused by `maskedit run`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: {field} is empty")
    if not isinstance(value, str):
        raise InputError(f"{where}: {field}: expected text, got {kind_of(value)}")
    return value


def inside_dataset(path: Path, root: Path, where: str, what: str) -> Path:
    """``path``, a file an entry names, refused in one line when it leads outside the dataset
    folder (an absolute name, '..'): the manifest may read only its ``root``, as the manifest's
    own check has it (`maskedit.paths.lies_within`)."""
    try:
        if lies_within(path, [root]):
            return path
    except (OSError, RuntimeError):  # a symbolic link loop: the file check names it
        return path
    raise InputError(f"{where}: {what} '{path}' leads outside the dataset folder '{root}'")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"'{path}': file not found")
    try:
        # utf-8-sig: a file saved with a byte order mark (Windows editors) reads as without
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"'{path}': not valid JSON ({err})") from None


def dataset_file(root: Path, name: str) -> Path:
    """``root/name``, the file a benchmark folder is known by; when it is missing but a folder
    inside ``root`` holds it (the ``test/`` of an unzipped split, PnPInversion's ``data/``), the
    one-line error names that folder."""
    path = root / name
    if path.is_file():
        return path
    inside = sorted(p.parent for p in root.glob(f"*/{name}")) if root.is_dir() else []
    hint = f" (the dataset folder is '{inside[0]}'?)" if inside else ""
    raise InputError(f"'{path}': file not found{hint}")


def image_hw(path: Path) -> tuple[int, int]:
    from maskedit.images import image_size

    w, h = image_size(path)
    return h, w


# ---------------------------------------------------------------------------------------------
# mask sources


def mask_sources(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"annotation"``, ``"phrase,relevance"`` or a list -> the checked tuple of mask sources."""
    items = value.split(",") if isinstance(value, str) else list(value)
    sources = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    bad = [s for s in sources if s not in MASK_SOURCES]
    if bad or not sources:
        raise InputError(
            f"--mask-source '{value if isinstance(value, str) else ','.join(value)}': "
            f"expected one or more of {', '.join(MASK_SOURCES)}"
        )
    return sources


def click_point(annotation: np.ndarray) -> tuple[int, int] | None:
    """A simulated user's click on an HxW bool annotation: its pixel ``(x, y)`` farthest from the
    annotation's edge (Euclidean distance to the nearest pixel outside it, the image's own border
    counting as outside), the first in row-major order on a tie. None for an empty annotation.

    Deterministic, and inside the region for any shape (a ring's click lands on the ring, not in
    its hole), as interactive-segmentation benchmarks simulate a first click.
    """
    from scipy.ndimage import distance_transform_edt

    if not annotation.any():
        return None
    distance = distance_transform_edt(np.pad(annotation, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def _region(
    source: str, mask_rel: str, annotation: np.ndarray, phrase: str, backend: str
) -> dict[str, Any] | None:
    """A case's editing-region keys for one mask source (None: this source has no region)."""
    if source == "annotation":
        return {"mask": mask_rel}
    if source == "click":
        point = click_point(annotation)
        return None if point is None else {"point": list(point)}
    if source == "phrase":
        return {"target": phrase, "target_backend": backend}
    return {"mask_from": "edit"}


def source_cases(
    base: dict[str, Any],
    sources: tuple[str, ...],
    mask_rel: str,
    annotation: np.ndarray,
    phrase: str,
    backend: str,
    where: str,
) -> list[dict[str, Any]]:
    """One case per mask source (ids ``<id>-<source>`` when there are several)."""
    cases = []
    for source in sources:
        region = _region(source, mask_rel, annotation, phrase, backend)
        if region is None:
            warnings.warn(
                f"{where}: the annotation is empty, so there is no point to click; "
                "the case is left out of the click source",
                MaskeditWarning,
                stacklevel=3,
            )
            continue
        case_id = base["id"] if len(sources) == 1 else f"{base['id']}-{source}"
        head = {"id": case_id, "image": base["image"], "instruction": base["instruction"]}
        benchmark = {**base["benchmark"], "mask_source": source}
        cases.append({**head, **region, **base, **head, "benchmark": benchmark})
    return cases


def check_backend(backend: str) -> str:
    if backend not in TARGET_BACKENDS:
        raise InputError(f"--target-backend '{backend}': expected clipseg or grounded-sam")
    return backend


# ---------------------------------------------------------------------------------------------
# PIE-Bench (Ju et al. 2024, Direct Inversion; github.com/cure-lab/PnPInversion)


# ---------------------------------------------------------------------------------------------
# MagicBrush (Zhang et al. 2023; github.com/OSU-NLP-Group/MagicBrush)


def read_captions(path: str | os.PathLike) -> dict[str, dict[str, str | None]]:
    """A ``captions.json`` written by the converters: ``{case id: {"source", "target", ...}}``."""
    doc = read_json(Path(path))
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(f"'{path}': expected {{case id: {{'source': ..., 'target': ...}}}}")
    return doc
