"""One edit as a caller describes it (`EditRequest`), and each of its fields read into what the
orchestrator (`maskedit.case`) works with: the instruction, the settings with the editor's
defaults, the region as `Prompts`, masks and references in memory. Every value of a wrong type
or shape is one line naming the field; nothing here touches a model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import ValidationError

from maskedit.config import EditSettings, Prompts
from maskedit.config.loading import _one_line, shown
from maskedit.editing.editors import resolve_settings, too_elongated
from maskedit.errors import InputError
from maskedit.families import EDITORS, EditorSpec
from maskedit.images import alpha_from_array, image_and_source, pil_mask, read_mask


@dataclass(frozen=True)
class EditRequest:
    """One edit, described once: what `edit` takes and what a manifest case gives.

    `image`: a path (or ``skimage:NAME``), an H×W×3 uint8 array or a PIL image (read like a file).
    The region is one of: `points` ((x, y[, label]) in image pixels, label 1 include / 0 exclude; a
    list or an N×2 / N×3 array) and/or `box` ((x0, y0, x1, y1)); `mask` (a file, a PIL image, or an
    H×W array: bool, float alpha in [0, 1], or integers read as a mask file's, 0/1 or 0/255);
    `target` (a phrase, or "auto" to take it from the instruction); `mask_from="edit"` (where the
    instruction acts); or `prompts` (a `Prompts`, as manifests give, or a dict of its fields), which
    replaces all of these. `methods` ("pixel", "latent", "guidance", "crop", or several) overrides
    `settings.methods`; `settings` is an `EditSettings` or a dict of its fields. `baseline=False`
    skips the unmasked edit when no method needs it (the pixel method does). `references`: more
    images (paths or arrays) for editors that take them (qwen-edit-plus, flux2-klein); the mask and
    the edit apply to `image`, the references go to every editor call whole. `reference` (a file or
    an H×W array) is a mask the outputs are scored against, never edited with: a dataset's
    annotation.
    """

    image: np.ndarray | Image.Image | str | Path
    instruction: str
    points: list[tuple[float, float] | tuple[float, float, int]] | np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | Image.Image | str | Path | None = None
    settings: EditSettings | dict[str, Any] | None = None
    methods: str | list[str] | tuple[str, ...] | None = None
    baseline: bool = True
    target: str | None = None
    mask_from: str | None = None
    prompts: Prompts | dict[str, Any] | None = None
    references: list[np.ndarray | Image.Image | str | Path] | tuple[Any, ...] | None = None
    reference: np.ndarray | Image.Image | str | Path | None = None


FIELDS = tuple(f.name for f in fields(EditRequest))


def request_from(values: Mapping[str, Any], where: str, noun: str = "field") -> EditRequest:
    """An `EditRequest` from its fields by name. A misspelt or missing one is one line naming
    `where` it was given and the fields there are (the dataclass's TypeError names neither)."""
    for key in values:
        if key not in FIELDS:
            raise InputError(f"{where}unknown {noun} {shown(key)!r} (known: {', '.join(FIELDS)})")
    for key in ("image", "instruction"):
        if key not in values:
            raise InputError(f"{where}{key} is missing")
    return EditRequest(**values)


def masks_in_memory(request: EditRequest, hw: tuple[int, int]) -> EditRequest:
    """The request with a mask or reference mask given as a PIL image turned into its alpha (read
    as a mask file of its mode is, and sized as a file is checked); a mask of any other type is
    one line."""
    changes: dict[str, Any] = {}
    for key, what in (("mask", "mask"), ("reference", "reference mask")):
        value = getattr(request, key)
        if isinstance(value, Image.Image):
            alpha = pil_mask(value, what)
            if alpha.shape != hw:
                raise InputError(
                    f"{what} (PIL image): size {alpha.shape[1]}×{alpha.shape[0]} does not match "
                    f"the image's {hw[1]}×{hw[0]}"
                )
            changes[key] = alpha
        elif value is not None and not isinstance(value, np.ndarray | str | os.PathLike):
            raise InputError(
                f"{what}: got {type(value).__name__}, expected a file path, an H×W array "
                "(bool, or alpha in [0, 1]) or a PIL image"
            )
    return replace(request, **changes) if changes else request


def reference_alpha(reference: np.ndarray | str | Path, hw: tuple[int, int]) -> np.ndarray:
    """The scoring mask at the image's size, alpha in [0, 1]."""
    if not isinstance(reference, np.ndarray):
        return read_mask(reference, hw)
    if reference.shape != hw:
        raise InputError(f"reference mask array: shape {reference.shape} does not match {hw}")
    return alpha_from_array(reference, "reference mask array")


def references_of(
    given: Any, spec: EditorSpec
) -> tuple[tuple[np.ndarray, ...], list[dict[str, Any]]]:
    """The reference images (read upright, like the image) and what the record says of each."""
    if not given:
        return (), []
    if isinstance(given, str | Path | np.ndarray | Image.Image):
        raise InputError("references: expected a list of images, got a single one")
    if not spec.family.references:
        takers = [name for name, e in EDITORS.items() if e.family.references]
        raise InputError(
            f"references: the '{spec.name}' editor takes one image; reference images need "
            f"--editor {' or '.join(takers)}"
        )
    images, sources = [], []
    for i, item in enumerate(given):
        try:
            image, source = image_and_source(item)
        except InputError as err:
            raise InputError(f"reference {i + 1}: {err}") from None
        if min(image.shape[:2]) < spec.family.min_image_side:
            raise InputError(
                f"reference {i + 1}: {image.shape[1]}×{image.shape[0]} is too small; the "
                f"'{spec.name}' editor needs sides of at least {spec.family.min_image_side} px"
            )
        if too_elongated(spec.family, image.shape[:2]):
            raise InputError(
                f"reference {i + 1}: {image.shape[1]}×{image.shape[0]} is too elongated; the "
                f"'{spec.name}' editor takes images up to {spec.family.max_image_aspect:g}:1"
            )
        images.append(image)
        sources.append({"source": source, "width": image.shape[1], "height": image.shape[0]})
    return tuple(images), sources


def settings_of(request: EditRequest, spec: EditorSpec) -> EditSettings:
    given = request.settings
    if isinstance(given, Mapping):  # EditSettings' fields as a dict
        try:
            given = EditSettings(**given)
        except ValidationError as err:
            raise InputError(f"settings: {_one_line(err)}") from None
    elif given is not None and not isinstance(given, EditSettings):
        raise InputError(
            f"settings: got {type(given).__name__}, expected an EditSettings or a dict of its "
            "fields"
        )
    settings = resolve_settings(given or EditSettings(), spec)
    if request.methods is None:
        return settings
    try:
        return EditSettings(**{**settings.model_dump(), "methods": request.methods})
    except ValidationError as err:
        msg = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise InputError(f"methods: {msg}") from None


def instruction_of(text: Any) -> str:
    if not isinstance(text, str):
        raise InputError(
            f"instruction: got {type(text).__name__}, expected a string, e.g. 'make the shirt red'"
        )
    if not text.strip():
        raise InputError("instruction: is empty; say what to change, e.g. 'make the shirt red'")
    return text.strip()


TAKES = {
    "points": "a list of (x, y) or (x, y, label) points",
    "box": "(x0, y0, x1, y1) in pixels",
}


def points_of(points: Any) -> list[tuple]:
    """Points as (x, y, label) tuples, label 1 where left out; a list or an N×2 / N×3 array."""
    if points is None:
        return []
    if isinstance(points, np.ndarray):
        points = points.tolist()  # Python numbers, whatever the array's dtype
    try:
        rows = [tuple(p) for p in points]
    except TypeError:
        rows = None
    if rows is None or any(len(p) not in (2, 3) for p in rows):
        raise InputError(f"points: got {shown(points)}, expected {TAKES['points']}")
    return [p if len(p) == 3 else (*p, 1) for p in rows]


def box_of(box: Any) -> tuple | None:
    """The box as a tuple (its values are checked with the other prompts)."""
    if box is None:
        return None
    try:
        return tuple(box)
    except TypeError:
        raise InputError(f"box: got {shown(box)}, expected {TAKES['box']}") from None


def as_prompts(request: EditRequest) -> Prompts | None:
    """The request's region as `Prompts` (None for a mask array, which needs no prompts).

    `prompts`, when given, replaces the other region fields: a `Prompts` or a dict of its fields.
    """
    given = request.prompts
    if isinstance(given, Mapping):
        try:
            return Prompts(**given)
        except ValidationError as err:
            raise InputError(f"prompts: {_one_line(err)}") from None
    if given is not None:
        if not isinstance(given, Prompts):
            raise InputError(
                f"prompts: got {type(given).__name__}, expected a Prompts or a dict of its fields"
            )
        return given
    points, box, mask = request.points, request.box, request.mask
    if isinstance(mask, np.ndarray):
        if points is not None or box is not None:
            raise InputError("give either a mask or SAM prompts (points/box), not both")
        return None
    pts = points_of(points)
    automatic = {"target": request.target, "mask_from": request.mask_from}
    try:
        return Prompts(
            points=pts,
            box=box_of(box),
            mask=Path(mask) if mask is not None else None,
            **{k: v for k, v in automatic.items() if v is not None},
        )
    except ValidationError as err:
        first = err.errors()[0]
        msg, field = first["msg"].removeprefix("Value error, "), first["loc"][:1]
        if field in (("points",), ("box",)) and first["type"] != "value_error":
            given = points if field == ("points",) else box  # a number too many, or not one
            raise InputError(
                f"{field[0]}: got {shown(given)}, expected {TAKES[field[0]]}"
            ) from None
        raise InputError(f"{field[0] if field else 'prompts'}: {msg}") from None
