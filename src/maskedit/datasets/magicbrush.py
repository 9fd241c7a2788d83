"""MagicBrush → a manifest: one case per turn (single-turn) or one multi-turn case per image,
with its masks, ground truths and captions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskedit.config.values import kind_of
from maskedit.datasets import (
    MASKS_DIR,
    check_backend,
    dataset_file,
    image_hw,
    instruction_text,
    mask_sources,
    read_json,
    source_cases,
    write_mask,
)
from maskedit.datasets.conversion import Conversion
from maskedit.datasets.magicbrush_parquet import (
    DEFAULT_SPLIT,
    parquet_files,
    unpack_magicbrush_parquet,
)
from maskedit.errors import InputError


def magicbrush_mask(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """A MagicBrush mask image -> HxW bool edit region, resized (nearest) to the input's size.

    MagicBrush ships "masked images" made for DALL-E 2: the source image with the edit region
    made transparent, so the region is alpha < 128. A mask without transparency (as the Hugging
    Face copy shows it) marks the region in white: all channels >= 250. So does a mask drawn
    white on a transparent background, whose opaque part is all white and whose transparent
    part is not (a picture with a hole is not all white where it is opaque).
    """
    from maskedit.images import _open  # one error message for every unreadable file

    img = _open(path, "mask")
    rgb = np.asarray(img.convert("RGB"))
    white = np.all(rgb >= 250, axis=2)
    region = white
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        clear = np.asarray(img.convert("RGBA").getchannel("A")) < 128
        opaque = ~clear
        white_shape = opaque.any() and white[opaque].all() and not white[clear].all()
        if clear.any() and not white_shape:  # a picture with a transparent hole
            region = clear
    if region.shape != tuple(hw):
        pil = Image.fromarray(region.astype(np.uint8) * 255)
        region = np.asarray(pil.resize((hw[1], hw[0]), Image.Resampling.NEAREST)) > 127
    return region


def _magicbrush_descriptions(root: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The first of ``names`` in ``root`` as ``{img_id: {file name: caption}}``, each caption
    text or null (the captions of the manifest), checked; {} when there is none."""
    for name in names:
        if (root / name).is_file():
            doc = read_json(root / name)
            if not isinstance(doc, dict):
                shape = "{img_id: {file name: caption}}"
                raise InputError(f"'{root / name}': expected {shape}, got {kind_of(doc)}")
            for img_id, captions in doc.items():
                if not isinstance(captions, dict):
                    raise InputError(
                        f"'{root / name}' {img_id!r}: expected {{file name: caption}}, got "
                        f"{kind_of(captions)}"
                    )
                for file, caption in captions.items():
                    if caption is not None and not isinstance(caption, str):
                        raise InputError(
                            f"'{root / name}' {img_id!r} {file!r}: expected a caption (text or "
                            f"null), got {kind_of(caption)}"
                        )
            return doc
    return {}


def _turn(turn: Any, where: str) -> tuple[str, str, str, Any]:
    """A session turn's input, mask and output file names and its instruction, checked."""
    if not isinstance(turn, dict):
        raise InputError(
            f"{where}: expected {{'input', 'mask', 'output', 'instruction'}}, "
            f"got a {type(turn).__name__}"
        )
    for key in ("input", "mask", "output", "instruction"):
        if key not in turn:
            raise InputError(f"{where}: missing key '{key}'")
    for key in ("input", "mask", "output"):  # a name in the image's folder, never a path
        name = turn[key]
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
            raise InputError(f"{where}: {key} {name!r} is not a file name")
    instruction = instruction_text(turn["instruction"], where)
    return turn["input"], turn["mask"], turn["output"], instruction


def _split_folder(root: Path, out_dir: Path, split: str) -> Path:
    """``root`` when it holds ``edit_sessions.json`` (a released zip, unzipped); the Hugging Face
    copy's parquet files of ``split`` unpacked into ``out_dir/magicbrush-<split>/`` otherwise."""
    if (root / "edit_sessions.json").is_file():
        return root
    files = parquet_files(root, split)
    if not files:
        return root  # `_read_split` names the missing file
    return unpack_magicbrush_parquet(files, out_dir.absolute() / f"magicbrush-{split}")


def _read_split(root: Path) -> tuple[dict[str, Any], Path, dict[str, Any], dict[str, Any]]:
    """A MagicBrush split's sessions, its images folder and its global and local descriptions."""
    sessions = read_json(dataset_file(root, "edit_sessions.json"))
    if not isinstance(sessions, dict) or not sessions:
        raise InputError(f"'{root / 'edit_sessions.json'}': expected a non-empty mapping")
    images = root / "images" if (root / "images").is_dir() else root
    global_desc = _magicbrush_descriptions(root, ("global_descriptions.json",))
    local_desc = _magicbrush_descriptions(root, ("local_descriptions.json", "local_captions.json"))
    return sessions, images, global_desc, local_desc


def magicbrush_to_manifest(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mask_source: str | Sequence[str] = "annotation",
    target_backend: str = "clipseg",
    split: str = DEFAULT_SPLIT,
) -> Path:
    """Convert a MagicBrush split (dev/test layout) to a manifest; one case per edit turn.

    Layout (the test zip; the dev split exported the same way)::

        root/edit_sessions.json      {img_id: [{"input", "mask", "output", "instruction"}, ...]}
        root/images/<img_id>/<img_id>-input.png, <img_id>-mask1.png, <img_id>-output1.png, ...
        root/global_descriptions.json  optional {img_id: {file name: caption}}
        root/local_descriptions.json   optional {img_id: {output file name: local caption}}

    ``root/<img_id>/...`` without ``images/`` is read too, and so is the Hugging Face copy
    (``osunlp/MagicBrush``: ``data/<split>-*.parquet``, ``split`` "dev" by default), unpacked
    into this layout in ``out_dir/magicbrush-<split>/`` (it has no descriptions). Turn ``k`` of
    image ``img_id`` becomes case ``<img_id>_<k>``, edited from that turn's ``input`` (for
    turn >= 2 the ground-truth output of the turn before: MagicBrush's single-turn setting).
    Captions: ``source`` / ``target`` are the global descriptions of the input and output files;
    ``local`` (MagicBrush CLIP-T's text) is added when local descriptions exist. ``ground_truth``
    is the turn's output image, read where it is; ``reference_mask`` the annotation; the region
    comes from ``mask_source``
    (a phrase is "auto": taken from the instruction).
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    sources, backend = mask_sources(mask_source), check_backend(target_backend)
    with Conversion(out_dir, root) as out:
        root = _split_folder(root, out_dir, split)
        sessions, images, global_desc, local_desc = _read_split(root)
        cases, captions = [], {}
        for img_id, turns in sessions.items():
            if not isinstance(turns, list):
                where = f"'{root / 'edit_sessions.json'}' {img_id!r}"
                raise InputError(f"{where}: expected a list of turns, got a {type(turns).__name__}")
            for k, turn in enumerate(turns, start=1):
                where = f"'{root / 'edit_sessions.json'}' {img_id!r} turn {k}"
                case_id = out.case_id(f"{img_id}_{k}", where)
                input_name, mask_name, output_name, instruction = _turn(turn, where)
                image = images / str(img_id) / input_name
                if not image.is_file():
                    raise InputError(f"{where}: input image '{image}' not found")
                truth = images / str(img_id) / output_name
                if not truth.is_file():
                    raise InputError(f"{where}: ground-truth image '{truth}' not found")
                mask_rel = f"{MASKS_DIR}/{case_id}.png"
                region = magicbrush_mask(images / str(img_id) / mask_name, image_hw(image))
                write_mask(out.path(mask_rel), region)
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
                for case in source_cases(base, sources, mask_rel, region, "auto", backend, where):
                    cases.append(case)
                    captions[case["id"]] = entry
        return out.finish(root, cases, captions)


def magicbrush_turns_to_manifest(
    root: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = DEFAULT_SPLIT
) -> Path:
    """Convert a MagicBrush split to a manifest of multi-turn cases: one case per image.

    MagicBrush's multi-turn ("iterative") setting: case ``<img_id>`` edits the image's first input,
    and its turn k edits maskedit's own output of turn k−1 (`maskedit.turns`) with turn k's mask
    and instruction; the ground-truth outputs are never fed back. Each turn carries its
    ``ground_truth`` (``<img_id>-output<k>.png``, by absolute path) and its captions (the global
    descriptions of its input and output files, and ``local`` when local descriptions exist), so
    that every turn is scored against its own ground truth and the last turn is the final score;
    the case's ``benchmark`` tag (MagicBrush, annotation masks) has the run load MagicBrush's
    networks (DINO ViT-S/16 with ``--dino auto``), so every turn has all five columns. Layout and
    masks as `magicbrush_to_manifest`; masks go to ``masks/<img_id>_<k>.png``, and
    ``captions.json`` holds each case's whole-edit captions (the first input's description, the
    last output's). Each case has ``baseline_chain: true``: the plain editor also edits its own
    last output, turn after turn (`maskedit.turn_chain`), as the benchmark runs every model. The
    Hugging Face copy is read as by `magicbrush_to_manifest`.
    """
    root, out_dir = Path(root).absolute(), Path(out_dir)
    with Conversion(out_dir, root) as out:
        root = _split_folder(root, out_dir, split)
        sessions, images, global_desc, local_desc = _read_split(root)
        cases, captions = [], {}
        for img_id, session in sessions.items():
            where = f"'{root / 'edit_sessions.json'}' {img_id!r}"
            case_id = out.case_id(str(img_id), where)
            if not isinstance(session, list) or not session:
                raise InputError(f"{where}: expected a non-empty list of turns")
            folder = images / str(img_id)
            described = global_desc.get(str(img_id), {})
            local = local_desc.get(str(img_id), {})
            turns, first_input = [], None
            for k, turn in enumerate(session, start=1):
                input_name, mask_name, output_name, instruction = _turn(turn, f"{where} turn {k}")
                first_input = first_input or folder / input_name
                if not first_input.is_file():
                    raise InputError(f"{where} turn 1: input image '{first_input}' not found")
                truth = folder / output_name
                if not truth.is_file():
                    raise InputError(f"{where} turn {k}: ground truth '{truth}' not found")
                mask_rel = f"{MASKS_DIR}/{case_id}_{k}.png"
                region = magicbrush_mask(folder / mask_name, image_hw(first_input))
                write_mask(out.path(mask_rel), region)
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
            tag = {"name": "magicbrush", "mask_source": "annotation", "id": case_id}
            cases.append(
                {
                    "id": case_id,
                    "image": str(first_input.resolve()),
                    "benchmark": tag,
                    "baseline_chain": True,  # the protocol: every model edits its own last output
                    "turns": turns,
                }
            )
            whole = {
                "source": turns[0]["captions"]["source"],
                "target": turns[-1]["captions"]["target"],
            }
            if turns[-1]["captions"].get("local"):
                whole["local"] = turns[-1]["captions"]["local"]
            captions[case_id] = whole
        return out.finish(root, cases, captions)
