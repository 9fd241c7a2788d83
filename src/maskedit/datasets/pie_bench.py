"""PIE-Bench → a manifest: its mapping_file.json, run-length masks and bracketed prompts, as its
own evaluation code reads them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from maskedit import datasets as common
from maskedit.config.values import kind_of
from maskedit.datasets.conversion import Conversion
from maskedit.errors import InputError


def pie_mask_decode(rle: list[int], hw: tuple[int, int] = (512, 512), border: bool = True):
    """PIE-Bench's run-length mask -> HxW bool (True = edit region).

    ``rle`` is ``[start, length, start, length, ...]`` over the row-major flattened image; runs
    are clipped at the end of the image, as in PIE-Bench's ``mask_decode``. With ``border`` (the
    default, as PIE-Bench evaluates) the one-pixel image border is set to True too, "to avoid
    annotation errors in boundary", which keeps the border out of the background metrics: that
    is the *scoring* mask. The annotation alone (``border=False``) is the region to edit.
    """
    h, w = hw
    if not isinstance(rle, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in rle
    ):
        raise InputError(
            f"PIE-Bench mask: expected a list of whole numbers [start, length, ...], got "
            f"{str(rle)[:60]!r}"
        )
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
    return _with_border(mask) if border else mask


def _annotation(rle: list[int], image: Path) -> np.ndarray:
    """The entry's mask over the image as maskedit reads it (upright). PIE-Bench's runs go over the
    stored pixels, which its code never turns; an image with an EXIF orientation is shown turned,
    so the decoded mask is turned the same way (by PIL, as `maskedit.images` turns the photo)."""
    from maskedit.images import stored_size

    (w, h), orientation = stored_size(image)
    mask = pie_mask_decode(rle, (h, w), border=False)
    if orientation == 1:
        return mask
    turned = Image.fromarray(mask)
    turned.getexif()[0x0112] = orientation
    return np.asarray(ImageOps.exif_transpose(turned), dtype=bool).copy()


def _with_border(mask: np.ndarray) -> np.ndarray:
    """PIE-Bench's scoring mask: the annotation with the one-pixel image border set."""
    mask = mask.copy()
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    return mask


def _strip_brackets(prompt: str | None) -> str | None:
    # PIE-Bench marks the edited words with [ ]; its evaluation removes the brackets
    return None if prompt is None else prompt.replace("[", "").replace("]", "")


_FIELDS = ("image_path", "mask", "editing_instruction", "original_prompt", "editing_prompt")


def _fields(item: Any, where: str) -> tuple[str, Any, str, str | None, str | None]:
    """An entry's image path, mask, instruction and prompts, each of the type the manifest
    takes (the prompts are captions: text or null), so that the manifest runs as written."""
    if not isinstance(item, dict):
        raise InputError(
            f"{where}: expected a mapping of {', '.join(_FIELDS)}, got {kind_of(item)}"
        )
    for key in _FIELDS:
        if key not in item:
            raise InputError(f"{where}: missing key '{key}'")
    image_path = item["image_path"]
    if not isinstance(image_path, str) or not image_path:
        raise InputError(f"{where}: image_path {image_path!r} is not a file name")
    instruction = common.instruction_text(item["editing_instruction"], where, "editing_instruction")
    for key in ("original_prompt", "editing_prompt"):
        if item[key] is not None and not isinstance(item[key], str):
            raise InputError(f"{where}: {key}: expected text or null, got {kind_of(item[key])}")
    return image_path, item["mask"], instruction, item["original_prompt"], item["editing_prompt"]


def pie_phrase(blended_word: Any) -> str:
    """The phrase to segment for a PIE-Bench entry: the first word of ``blended_word`` (PIE-Bench
    gives the source and the target word, "cat dog"; its prompt-to-prompt runs blend on the
    first), or "auto" (taken from the instruction) when there is none."""
    words = str(blended_word or "").split()
    return words[0] if words else "auto"


def _image_file(root: Path, image_path: str) -> Path:
    """An entry's image: ``root/annotation_images/<image_path>``, read as a Windows path (with
    backslashes) when no file has that name as written."""
    image = root / "annotation_images" / image_path
    if not image.is_file() and "\\" in str(image_path):
        image = root / "annotation_images" / PureWindowsPath(image_path).as_posix()
    return image


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
    sources, backend = common.mask_sources(mask_source), common.check_backend(target_backend)
    mapping = common.read_json(common.dataset_file(root, "mapping_file.json"))
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"'{root / 'mapping_file.json'}': expected a non-empty mapping of ids")
    with Conversion(out_dir, root) as out:
        cases, captions = [], {}
        for key, item in mapping.items():
            where = f"'{root / 'mapping_file.json'}' entry {key!r}"
            case_id = out.case_id(str(key), where)
            image_path, rle, instruction, source, target = _fields(item, where)
            image = common.inside_dataset(_image_file(root, image_path), root, where, "image")
            if not image.is_file():
                raise InputError(f"{where}: image '{image}' not found")
            try:
                annotation = _annotation(rle, image)
            except InputError as err:
                raise InputError(f"{where}: {err}") from None
            mask_rel, reference_rel = (
                f"{common.MASKS_DIR}/{case_id}.png",
                f"{common.REFERENCES_DIR}/{case_id}.png",
            )
            common.write_mask(out.path(mask_rel), annotation)
            reference = _with_border(annotation) if border else annotation
            common.write_mask(out.path(reference_rel), reference)
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
            for case in common.source_cases(
                base, sources, mask_rel, annotation, phrase, backend, where
            ):
                cases.append(case)
                captions[case["id"]] = caption
        return out.finish(root, cases, captions)
