"""The page's history of one photo: the turns kept (a `maskedit.turns.TurnsEdit` in the session's
folder), the region layers of the next run, and the history as one zip.

A run on the page is an ordinary edit of the photo on the canvas. "Keep editing this result"
makes one of its outputs (a method and a seed) the next turn of the photo's `TurnsEdit`: the
library edits that turn again from head's image with that seed and method, so the turn's folder
holds its own record, mask and outputs, and the canvas then shows the turn's output. Undo, redo
and going to a turn are the library's; a turn kept after an undo starts a branch.

Region layers are masks, each with its own instruction, written as mask files into the session's
folder: a run edits them all in one `maskedit.edit_regions` call, the later layer winning where
they overlap. No Gradio here: web.py wires these to the widgets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskedit.config import EditSettings, Prompts, Turn
from maskedit.config import Region as RegionSpec
from maskedit.errors import InputError
from maskedit.images import alpha_to_png_array, write_png

if TYPE_CHECKING:
    from maskedit.record import EditResult
    from maskedit.turns import TurnsEdit

MASKS_DIR = "masks"  # the session's mask files: region layers and kept turns
MAX_LAYERS = 8  # one editor call per layer and method in one batch: keep a run a few minutes
OVERLAP_NOTE = "Where layers overlap, the later layer wins."


@dataclass(frozen=True)
class Layer:
    """One region layer: its instruction and its mask (a PNG in the session's masks folder)."""

    instruction: str
    mask_file: Path
    area: float  # the mask's share of the photo
    hw: tuple[int, int]  # the photo's size the mask was made on
    source: str  # how the mask came about, in words ("SAM, 1 include", "a phrase", …)

    def spec(self, settings: EditSettings) -> RegionSpec:
        """The library's region for this layer, edited with `settings`."""
        return RegionSpec(
            instruction=self.instruction, prompts=Prompts(mask=self.mask_file), settings=settings
        )


def mask_file(folder: Path, mask: np.ndarray) -> Path:
    """`mask` (H×W bool or alpha in [0, 1]) as folder/masks/<digest>.png, written once."""
    png = alpha_to_png_array(np.asarray(mask, dtype=np.float32))
    digest = hashlib.blake2b(png.tobytes(), digest_size=8).hexdigest()
    path = Path(folder) / MASKS_DIR / f"mask-{digest}-{png.shape[1]}x{png.shape[0]}.png"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, png)
    return path


def own_masks(layers: tuple[Layer, ...], folder: Path) -> tuple[Layer, ...]:
    """The layers with their mask files copied into folder/masks (a turn's masks live with it)."""
    from dataclasses import replace

    out = []
    for layer in layers:
        target = Path(folder) / MASKS_DIR / layer.mask_file.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(layer.mask_file, target)
        out.append(replace(layer, mask_file=target))
    return tuple(out)


# --- region layers --------------------------------------------------------------------------


def add_layer(
    layers: tuple[Layer, ...],
    folder: Path,
    mask: np.ndarray | None,
    instruction: str | None,
    source: str = "",
) -> tuple[Layer, ...]:
    """The layers with the current mask and instruction added last (it wins on overlap)."""
    if mask is None or not np.any(mask):
        raise InputError("region layer: no mask yet; click on the object (or describe it) first")
    text = (instruction or "").strip()
    if not text:
        raise InputError("region layer: the instruction is empty; say what to change there")
    if len(layers) >= MAX_LAYERS:
        raise InputError(f"region layers: at most {MAX_LAYERS}; remove one first")
    hw = tuple(np.shape(mask)[:2])
    if layers and layers[0].hw != hw:
        raise InputError("region layer: the layers were made on another photo; remove them first")
    area = float(np.mean(np.asarray(mask) > 0))
    return (*layers, Layer(text, mask_file(folder, mask), area, hw, source))


def remove_layer(layers: tuple[Layer, ...], choice: str | int | None) -> tuple[Layer, ...]:
    """The layers without the one `choice` names (its number, 1-based, as `layer_choices` give)."""
    labels = layer_choices(layers)
    index = next((i for i, (label, key) in enumerate(labels) if choice in (label, key)), None)
    if index is None:
        raise InputError("region layer: pick the layer to remove")
    return layers[:index] + layers[index + 1 :]


def layer_choices(layers: tuple[Layer, ...]) -> list[tuple[str, str]]:
    """(label, key) per layer for the remove picker: "1. make the cat red"."""
    return [(f"{k}. {layer.instruction}", str(k)) for k, layer in enumerate(layers, start=1)]


def layers_html(layers: tuple[Layer, ...]) -> str:
    """The layers as a numbered list (text escaped) and what Run does with them."""
    if not layers:
        return ""
    items = "".join(
        f"<li>{html.escape(layer.instruction)} <small>({100 * layer.area:.1f} % of the photo"
        f"{', ' + html.escape(layer.source) if layer.source else ''})</small></li>"
        for layer in layers
    )
    return (
        f"<p>Run edits these {len(layers)} region layer(s) in one edit (the mask on the canvas "
        f"is not used until added). {OVERLAP_NOTE}</p><ol>{items}</ol>"
    )


def union_mask(layers: tuple[Layer, ...], hw: tuple[int, int]) -> np.ndarray:
    """H×W bool: where any layer's mask is not zero."""
    from maskedit.images import read_mask

    union = np.zeros(hw, dtype=bool)
    for layer in layers:
        union |= read_mask(layer.mask_file, hw) > 0
    return union


# --- turns ------------------------------------------------------------------------------------


def turns_folder(session: Path, photo_key: str) -> Path:
    """Where the turns of one photo live: <session>/turns-<photo key>."""
    return Path(session) / f"turns-{photo_key}"


def kept_turn(
    instruction: str,
    mask: Path | None,
    layers: tuple[Layer, ...],
    settings: EditSettings,
    method: str,
) -> Turn:
    """The turn that makes one output of a run again: its region(s), that seed and that method."""
    one = replace_methods(settings, method)
    if layers:
        return Turn(regions=tuple(layer.spec(one) for layer in layers))
    if mask is None:
        raise InputError("keep editing: this run has no mask to edit again")
    return Turn(
        regions=(RegionSpec(instruction=instruction, prompts=Prompts(mask=mask), settings=one),)
    )


def replace_methods(settings: EditSettings, method: str) -> EditSettings:
    return settings.model_copy(update={"methods": (method,)})


def kept_result(result: EditResult, method: str) -> EditResult:
    """A run's result as the turn that keeps `method`'s output: that output alone, the settings
    naming that method, as `kept_turn`'s edit would have made it."""
    return dataclasses.replace(
        result,
        outputs={method: result.outputs[method]},
        settings=replace_methods(result.settings, method),
        method_info={m: v for m, v in result.method_info.items() if m == method},
    )


def check_head(edit: TurnsEdit, image: np.ndarray) -> None:
    """The run being kept was made on head's image (else the canvas and the history disagree)."""
    if not np.array_equal(edit.image_at(edit.head), image):
        raise InputError(
            "keep editing: this result was made on another photo than the history's last turn; "
            "run the edit again on the photo shown"
        )


def thumbnails(edit: TurnsEdit | None) -> list[tuple[np.ndarray, str]]:
    """The photo and each turn on the way to head, captioned "turn k: instruction"."""
    if edit is None:
        return []
    items = [(edit.photo, "photo")]
    for k, node in enumerate(edit.path(), start=1):
        items.append((edit.image_at(node.id), f"turn {k}: {node.turn.instruction}"))
    return items


def history_words(edit: TurnsEdit | None) -> str:
    """One line: where head is, what undo and redo would do."""
    if edit is None:
        return "No turns yet: run an edit, then press 'Keep editing this result'."
    depth, made = len(edit.path()), len(edit.nodes)
    redo = len(edit.redo_stack)
    return (
        f"Turn {depth} of this path ({made} turn(s) made, {redo} to redo). Click a thumbnail to go "
        "back to it; a turn kept from there starts a branch, and the history keeps both."
    )


def at_index(edit: TurnsEdit, index: int) -> str | None:
    """The turn a thumbnail shows (`thumbnails` order): None for the photo."""
    path = edit.path()
    if not 0 <= index <= len(path):
        raise InputError(f"history: no thumbnail {index}")
    return None if index == 0 else path[index - 1].id


def history_zip(edit: TurnsEdit, out: Path) -> Path:
    """The edit folder (history.json, every turn's folder, the strip and the head's files) as
    `out`.zip, written after the folder's summary is brought up to head."""
    edit.write_summary(metrics=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    archive = shutil.make_archive(
        str(out), "zip", root_dir=edit.folder.parent, base_dir=edit.folder.name
    )
    return Path(archive)
