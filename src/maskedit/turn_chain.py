"""The plain editor's own chain beside a multi-turn edit (a case's `baseline_chain`).

A turn's baseline.png is the editor's unmasked edit of the turn's parent, and that parent is the
masked chain's output: its drift is one unmasked edit's. The chain is the plain editor edited over
its own outputs, as MagicBrush's multi-turn protocol runs every model: turn k's
``baseline_chain.png`` is the unmasked edit of turn k−1's ``baseline_chain.png`` (the photo for
turn 1) by turn k's instruction, settings and seed. A several-region turn has no unmasked
baseline, so it has no chain image, and the chain stops there: the turns after it have none.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from maskedit.case import edit
from maskedit.config import Turn
from maskedit.errors import MaskeditWarning
from maskedit.images import read_image, write_png
from maskedit.models import Models
from maskedit.outputs import atomic_write_text, write_case_metrics
from maskedit.record import BASELINE_CHAIN, BASELINE_CHAIN_FILE, OUTPUT_FILES
from maskedit.scoring import Scorers
from maskedit.tables import read_record
from maskedit.turn_scores import score_turn_folder

if TYPE_CHECKING:
    from maskedit.turns import TurnNode, TurnsEdit


def chain_parent(
    edit_folder: TurnsEdit, parent: str | None, *, warn: bool = False
) -> np.ndarray | None:
    """What the chain edits next: the photo (`parent` None) or the parent turn's chain image;
    None when that turn has none (the chain stopped at a several-region turn), which `warn` says
    in a warning (a turn about to be made; not when turns are scored again)."""
    if parent is None:
        return edit_folder.photo
    path = edit_folder.turn_dir(parent) / BASELINE_CHAIN_FILE
    if path.is_file():
        return read_image(path)
    if warn:
        warnings.warn(
            f"baseline_chain: turn '{parent}' has no chain image (the chain stopped at a "
            "several-region turn), so the turn after it has none either",
            MaskeditWarning,
            stacklevel=2,
        )
    return None


def chain_edit(
    parent_chain: np.ndarray,
    turn: Turn,
    original: np.ndarray,
    baseline: np.ndarray | None,
    models: Models,
) -> np.ndarray | None:
    """H×W×3 uint8: the unmasked edit of `parent_chain` by `turn`, whose masked edit edited
    `original` with the unmasked `baseline`; None for a several-region turn (no baseline).

    Where the chain's parent is the masked turn's parent (turn 1: the photo) the turn's own
    baseline is that edit already, and no editor runs. Otherwise `maskedit.edit` makes it with a
    mask that covers the image and only the pixel method, which reuses the baseline: one editor
    call, no segmenter, the same baseline job as any edit's.
    """
    if len(turn.regions) != 1 or baseline is None:
        warnings.warn(
            "baseline_chain: a turn of several regions has no unmasked edit, so the chain stops "
            "here",
            MaskeditWarning,
            stacklevel=2,
        )
        return None
    if np.array_equal(parent_chain, original):
        return baseline
    region = turn.regions[0]
    unshaped = {"dilate": 0, "erode": 0, "feather": 0.0, "fill_holes": False, "largest_only": False}
    settings = region.settings.model_copy(
        update={"methods": ("pixel",), "harmonize": "none", **unshaped}
    )
    whole = np.ones(parent_chain.shape[:2], dtype=bool)
    with warnings.catch_warnings():  # its notes (a long instruction, tiling) are the turn's own
        warnings.simplefilter("ignore", MaskeditWarning)
        made = edit(parent_chain, region.instruction, models=models, settings=settings, mask=whole)
    return made.baseline


def add_chains(
    edit_folder: TurnsEdit, nodes: list[TurnNode], models: Models, scorers: Scorers
) -> None:
    """The chain for finished turns made without it (`--baseline-chain` turned on for turns
    already made), in order from the photo: each gets `add_chain`, and its node says so."""
    for node in nodes:
        finished = (edit_folder.turn_dir(node.id) / OUTPUT_FILES["record"]).is_file()
        if finished and not node.chain:
            add_chain(edit_folder, node, models, scorers)
            edit_folder.nodes[node.id] = replace(node, chain=True)


def add_chain(edit_folder: TurnsEdit, node: TurnNode, models: Models, scorers: Scorers) -> None:
    """The chain's image for a finished turn made without it: baseline_chain.png from the
    turn's own original.png and baseline.png, the record naming it, and the turn's metrics
    scored again with its row. The masked turn is not edited again; the chain costs one editor
    call (none at turn 1)."""
    turn_dir = edit_folder.turn_dir(node.id)
    before_chain = chain_parent(edit_folder, node.parent, warn=True)
    if before_chain is None:
        return
    baseline_path = turn_dir / OUTPUT_FILES["baseline"]
    chained = chain_edit(
        before_chain,
        node.turn,
        read_image(turn_dir / OUTPUT_FILES["original"]),
        read_image(baseline_path) if baseline_path.is_file() else None,
        models,
    )
    if chained is None:
        return
    write_png(turn_dir / BASELINE_CHAIN_FILE, chained)
    record = read_record(turn_dir)
    record["outputs"] = {**record.get("outputs", {}), BASELINE_CHAIN: BASELINE_CHAIN_FILE}
    atomic_write_text(turn_dir / OUTPUT_FILES["record"], json.dumps(record, indent=2) + "\n")
    before = edit_folder.path(node.parent) if node.parent is not None else []
    context = (node.turn, edit_folder.photo, edit_folder.union(before), edit_folder.edit_id)
    rows = score_turn_folder(turn_dir, *context, scorers, chain_parent=before_chain)
    for row in rows:
        row.update(turn=len(before) + 1, turn_id=node.id)
    write_case_metrics(turn_dir, rows)
