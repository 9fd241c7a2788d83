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
from PIL import Image

from maskedit.config import MASK_SOURCES
from maskedit.errors import InputError, MaskeditWarning
from maskedit.evaluate import atomic_write_text

MANIFEST_FILE = "manifest.yaml"
CAPTIONS_FILE = "captions.json"
MASKS_DIR = "masks"
REFERENCES_DIR = "references"
TARGET_BACKENDS = ("clipseg", "grounded-sam")
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # as maskedit.config.Case.id


# ---------------------------------------------------------------------------------------------
# writing


def _write_mask(path: Path, mask: np.ndarray) -> None:
    from maskedit.images import write_png

    write_png(path, np.where(mask, 255, 0).astype(np.uint8))


class _NoAliases(yaml.SafeDumper):
    """Write shared captions out in full in every case (no YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _write_manifest(
    out_dir: Path,
    root: Path,
    cases: list[dict[str, Any]],
    captions: dict[str, dict[str, str | None]],
) -> Path:
    manifest = out_dir / MANIFEST_FILE
    doc = {"root": str(root), "defaults": {}, "cases": cases}
    text = yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)
    atomic_write_text(manifest, text)
    atomic_write_text(
        out_dir / CAPTIONS_FILE, json.dumps(captions, indent=2, ensure_ascii=False) + "\n"
    )
    return manifest


def _check_case_id(case_id: str, where: str) -> str:
    if not _CASE_ID.match(case_id):
        raise InputError(
            f"{where}: case id {case_id!r} is not usable as a folder name "
            "(letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return case_id


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"'{path}': file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"'{path}': not valid JSON ({err})") from None


def _image_hw(path: Path) -> tuple[int, int]:
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


def _source_cases(
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


def _check_backend(backend: str) -> str:
    if backend not in TARGET_BACKENDS:
        raise InputError(f"--target-backend '{backend}': expected clipseg or grounded-sam")
    return backend


# ---------------------------------------------------------------------------------------------
# PIE-Bench (Ju et al. 2024, Direct Inversion; github.com/cure-lab/PnPInversion)


def pie_mask_decode(rle: list[int], hw: tuple[int, int] = (512, 512), border: bool = True):
    """PIE-Bench's run-length mask -> HxW bool (True = edit region).

    ``rle`` is ``[start, length, start, length, ...]`` over the row-major flattened image; runs
    are clipped at the end of the image, as in PIE-Bench's ``mask_decode``. With ``border`` (the
    default, as PIE-Bench evaluates) the one-pixel image border is set to True too, "to avoid
    annotation errors in boundary", which keeps the border out of the background metrics: that
    is the *scoring* mask. The annotation alone (``border=False``) is the region to edit.
    """
    h, w = hw
    if len(rle) % 2:
        raise InputError(
            f"PIE-Bench mask: expected [start, length, ...] pairs, got {len(rle)} numbers"
        )
    flat = np.zeros(h * w, dtype=bool)
    for start, length in zip(rle[0::2], rle[1::2], strict=True):
        if start < 0 or length < 0:
            raise InputError(f"PIE-Bench mask: negative run ({start}, {length})")
        flat[start : min(start + length, h * w)] = True
    mask = flat.reshape(h, w)
    if border:
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    return mask


def _strip_brackets(prompt: str) -> str:
    # PIE-Bench marks the edited words with [ ]; its evaluation removes the brackets
    return prompt.replace("[", "").replace("]", "")


def pie_phrase(blended_word: Any) -> str:
    """The phrase to segment for a PIE-Bench entry: the first word of ``blended_word`` (PIE-Bench
    gives the source and the target word, "cat dog"; its prompt-to-prompt runs blend on the
    first), or "auto" (taken from the instruction) when there is none."""
    words = str(blended_word or "").split()
    return words[0] if words else "auto"


def pie_bench_to_manifest(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mask_source: str | Sequence[str] = "annotation",
    target_backend: str = "clipseg",
    border: bool = True,
) -> Path:
    """Convert PIE-Bench (``root/mapping_file.json`` + ``root/annotation_images/``) to a manifest.

    ``mapping_file.json`` maps an image id to ``{"image_path", "original_prompt",
    "editing_prompt", "editing_instruction", "mask", "editing_type_id", "blended_word"}``; the
    image is ``root/annotation_images/<image_path>``. Each case gets the instruction
    ``editing_instruction``, the captions ``source = original_prompt``, ``target =
    editing_prompt`` with PIE-Bench's [ ] removed, and its region from ``mask_source`` (see the
    module's docstring; a phrase is `pie_phrase`). The editing mask is the annotation alone;
    the reference it is scored against adds PIE-Bench's one-pixel border (``border=False``:
    the annotation alone). Returns the manifest's path.
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    sources, backend = mask_sources(mask_source), _check_backend(target_backend)
    mapping = _read_json(root / "mapping_file.json")
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"'{root / 'mapping_file.json'}': expected a non-empty mapping of ids")
    (out_dir / MASKS_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / REFERENCES_DIR).mkdir(parents=True, exist_ok=True)
    cases, captions = [], {}
    for key, item in mapping.items():
        where = f"'{root / 'mapping_file.json'}' entry {key!r}"
        case_id = _check_case_id(str(key), where)
        try:
            image = root / "annotation_images" / item["image_path"]
            rle, instruction = item["mask"], item["editing_instruction"]
            source, target = item["original_prompt"], item["editing_prompt"]
        except (KeyError, TypeError) as err:
            raise InputError(f"{where}: missing key {err}") from None
        if not image.is_file():
            raise InputError(f"{where}: image '{image}' not found")
        hw = _image_hw(image)
        annotation = pie_mask_decode(rle, hw, border=False)
        mask_rel, reference_rel = f"{MASKS_DIR}/{case_id}.png", f"{REFERENCES_DIR}/{case_id}.png"
        _write_mask(out_dir / mask_rel, annotation)
        _write_mask(out_dir / reference_rel, pie_mask_decode(rle, hw, border=border))
        caption = {"source": _strip_brackets(source), "target": _strip_brackets(target)}
        base = {
            "id": case_id,
            "image": str(image),
            "instruction": instruction,
            "captions": caption,
            "reference_mask": reference_rel,
            "benchmark": {"name": "pie-bench", "id": str(key)},
        }
        phrase = pie_phrase(item.get("blended_word"))
        for case in _source_cases(base, sources, mask_rel, annotation, phrase, backend, where):
            cases.append(case)
            captions[case["id"]] = caption
    return _write_manifest(out_dir, root, cases, captions)


# ---------------------------------------------------------------------------------------------
# MagicBrush (Zhang et al. 2023; github.com/OSU-NLP-Group/MagicBrush)


def magicbrush_mask(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """A MagicBrush mask image -> HxW bool edit region, resized (nearest) to the input's size.

    MagicBrush ships "masked images" made for DALL-E 2: the source image with the edit region
    made transparent, so the region is alpha < 128. A mask without transparency (as the Hugging
    Face copy shows it) marks the region in white: all channels >= 250.
    """
    from maskedit.images import _open  # one error message for every unreadable file

    img = _open(path, "mask")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA").getchannel("A"))
        region = alpha < 128 if alpha.min() < 255 else None
    else:
        region = None
    if region is None:
        rgb = np.asarray(img.convert("RGB"))
        region = np.all(rgb >= 250, axis=2)
    if region.shape != tuple(hw):
        pil = Image.fromarray(region.astype(np.uint8) * 255)
        region = np.asarray(pil.resize((hw[1], hw[0]), Image.Resampling.NEAREST)) > 127
    return region


def _magicbrush_descriptions(root: Path, names: tuple[str, ...]) -> dict[str, Any]:
    for name in names:
        if (root / name).is_file():
            return _read_json(root / name)
    return {}


def magicbrush_to_manifest(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mask_source: str | Sequence[str] = "annotation",
    target_backend: str = "clipseg",
) -> Path:
    """Convert a MagicBrush split (dev/test layout) to a manifest; one case per edit turn.

    Layout (the test zip; the dev split exported the same way)::

        root/edit_sessions.json      {img_id: [{"input", "mask", "output", "instruction"}, ...]}
        root/images/<img_id>/<img_id>-input.png, <img_id>-mask1.png, <img_id>-output1.png, ...
        root/global_descriptions.json  optional {img_id: {file name: caption}}
        root/local_descriptions.json   optional {img_id: {output file name: local caption}}

    ``root/<img_id>/...`` without ``images/`` is read too. Turn ``k`` of image ``img_id`` becomes
    case ``<img_id>_<k>``, edited from that turn's ``input`` (for turn >= 2 the ground-truth
    output of the turn before: MagicBrush's single-turn setting). Captions: ``source`` / ``target``
    are the global descriptions of the input and output files; ``local`` (MagicBrush CLIP-T's
    text) is added when local descriptions exist. ``ground_truth`` is the turn's output image,
    read where it is; ``reference_mask`` the annotation; the region comes from ``mask_source``
    (a phrase is "auto": taken from the instruction).
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    sources, backend = mask_sources(mask_source), _check_backend(target_backend)
    sessions = _read_json(root / "edit_sessions.json")
    if not isinstance(sessions, dict) or not sessions:
        raise InputError(f"'{root / 'edit_sessions.json'}': expected a non-empty mapping")
    images = root / "images" if (root / "images").is_dir() else root
    global_desc = _magicbrush_descriptions(root, ("global_descriptions.json",))
    local_desc = _magicbrush_descriptions(root, ("local_descriptions.json", "local_captions.json"))
    (out_dir / MASKS_DIR).mkdir(parents=True, exist_ok=True)
    cases, captions = [], {}
    for img_id, turns in sessions.items():
        for k, turn in enumerate(turns, start=1):
            where = f"'{root / 'edit_sessions.json'}' {img_id!r} turn {k}"
            case_id = _check_case_id(f"{img_id}_{k}", where)
            try:
                input_name, mask_name = turn["input"], turn["mask"]
                output_name, instruction = turn["output"], turn["instruction"]
            except (KeyError, TypeError) as err:
                raise InputError(f"{where}: missing key {err}") from None
            image = images / str(img_id) / input_name
            if not image.is_file():
                raise InputError(f"{where}: input image '{image}' not found")
            truth = images / str(img_id) / output_name
            if not truth.is_file():
                raise InputError(f"{where}: ground-truth image '{truth}' not found")
            mask_rel = f"{MASKS_DIR}/{case_id}.png"
            region = magicbrush_mask(images / str(img_id) / mask_name, _image_hw(image))
            _write_mask(out_dir / mask_rel, region)
            described = global_desc.get(str(img_id), {})
            entry: dict[str, str | None] = {
                "source": described.get(input_name),
                "target": described.get(output_name),
            }
            local = local_desc.get(str(img_id), {})
            if isinstance(local, dict) and local.get(output_name):
                entry["local"] = local[output_name]
            base = {
                "id": case_id,
                "image": str(image),
                "instruction": instruction,
                "captions": entry,
                "reference_mask": mask_rel,
                "ground_truth": str(truth),
                "benchmark": {"name": "magicbrush", "id": case_id},
            }
            for case in _source_cases(base, sources, mask_rel, region, "auto", backend, where):
                cases.append(case)
                captions[case["id"]] = entry
    return _write_manifest(out_dir, root, cases, captions)


def magicbrush_turns_to_manifest(root: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Convert a MagicBrush split to a manifest of multi-turn cases: one case per image.

    MagicBrush's multi-turn ("iterative") setting: case ``<img_id>`` edits the image's first input,
    and its turn k edits maskedit's own output of turn k−1 (`maskedit.turns`) with turn k's mask
    and instruction; the ground-truth outputs are never fed back. Each turn carries its
    ``ground_truth`` (``<img_id>-output<k>.png``, by absolute path) and its captions (the global
    descriptions of its input and output files, and ``local`` when local descriptions exist), so
    that every turn is scored against its own ground truth and the last turn is the final score.
    Layout and masks as `magicbrush_to_manifest`; masks go to ``masks/<img_id>_<k>.png``, and
    ``captions.json`` holds each case's whole-edit captions (the first input's description, the
    last output's).
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    sessions = _read_json(root / "edit_sessions.json")
    if not isinstance(sessions, dict) or not sessions:
        raise InputError(f"'{root / 'edit_sessions.json'}': expected a non-empty mapping")
    images = root / "images" if (root / "images").is_dir() else root
    global_desc = _magicbrush_descriptions(root, ("global_descriptions.json",))
    local_desc = _magicbrush_descriptions(root, ("local_descriptions.json", "local_captions.json"))
    (out_dir / MASKS_DIR).mkdir(parents=True, exist_ok=True)
    cases, captions = [], {}
    for img_id, session in sessions.items():
        where = f"'{root / 'edit_sessions.json'}' {img_id!r}"
        case_id = _check_case_id(str(img_id), where)
        if not isinstance(session, list) or not session:
            raise InputError(f"{where}: expected a non-empty list of turns")
        folder = images / str(img_id)
        described = global_desc.get(str(img_id), {})
        local = local_desc.get(str(img_id), {})
        turns, first_input = [], None
        for k, turn in enumerate(session, start=1):
            try:
                input_name, mask_name = turn["input"], turn["mask"]
                output_name, instruction = turn["output"], turn["instruction"]
            except (KeyError, TypeError) as err:
                raise InputError(f"{where} turn {k}: missing key {err}") from None
            first_input = first_input or folder / input_name
            if not first_input.is_file():
                raise InputError(f"{where} turn 1: input image '{first_input}' not found")
            truth = folder / output_name
            if not truth.is_file():
                raise InputError(f"{where} turn {k}: ground truth '{truth}' not found")
            mask_rel = f"{MASKS_DIR}/{case_id}_{k}.png"
            region = magicbrush_mask(folder / mask_name, _image_hw(first_input))
            _write_mask(out_dir / mask_rel, region)
            entry: dict[str, str | None] = {
                "source": described.get(input_name),
                "target": described.get(output_name),
            }
            if isinstance(local, dict) and local.get(output_name):
                entry["local"] = local[output_name]
            turns.append(
                {
                    "instruction": instruction,
                    "mask": mask_rel,
                    "ground_truth": str(truth.resolve()),
                    "captions": entry,
                }
            )
        cases.append({"id": case_id, "image": str(first_input.resolve()), "turns": turns})
        whole = {
            "source": turns[0]["captions"]["source"],
            "target": turns[-1]["captions"]["target"],
        }
        if turns[-1]["captions"].get("local"):
            whole["local"] = turns[-1]["captions"]["local"]
        captions[case_id] = whole
    return _write_manifest(out_dir, root, cases, captions)


def read_captions(path: str | os.PathLike) -> dict[str, dict[str, str | None]]:
    """A ``captions.json`` written by the converters: ``{case id: {"source", "target", ...}}``."""
    doc = _read_json(Path(path))
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InputError(f"'{path}': expected {{case id: {{'source': ..., 'target': ...}}}}")
    return doc
