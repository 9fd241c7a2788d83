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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.case import edit
from maskedit.config import Turn
from maskedit.errors import InputError, MaskeditWarning
from maskedit.images import read_image, read_mask, write_png
from maskedit.models import Models
from maskedit.outputs import METRICS_FILE, atomic_write_text, write_case_metrics
from maskedit.record import BASELINE_CHAIN, BASELINE_CHAIN_FILE, OUTPUT_FILES, names_chain
from maskedit.scoring import Scorers
from maskedit.tables import read_metrics, read_record
from maskedit.turn_history import same_models
from maskedit.turn_scores import chain_rows, score_turn_folder

if TYPE_CHECKING:
    from maskedit.turns import TurnNode, TurnsEdit


def chain_parent(
    edit_folder: TurnsEdit, parent: str | None, *, warn: bool = False
) -> np.ndarray | None:
    """What the chain edits next: the photo (`parent` None) or the parent turn's chain image;
    None when that turn has none (the chain stopped before it), which `warn` says in a warning (a
    turn about to be made; not when turns are scored again)."""
    if parent is None:
        return edit_folder.photo
    path = edit_folder.turn_dir(parent) / BASELINE_CHAIN_FILE
    if path.is_file():
        return read_image(path)
    if warn:
        warnings.warn(
            f"baseline_chain: turn '{parent}' has no chain image (the chain stops at a "
            "several-region turn, or where other models made a turn), so the turn after it has "
            "none either",
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
    edit_folder: TurnsEdit,
    nodes: list[TurnNode],
    models: Models,
    scorers: Scorers,
    models_key: Callable[[Turn], dict[str, Any]],
) -> None:
    """The chain for the finished turns of a path made without it (`--baseline-chain` turned
    on for turns already made), in order from the photo; each node then says it has the chain,
    saved at once. What a turn has is read from its files, not from that flag, so an upgrade cut
    short, or a history whose turns were flagged without their image, is completed: a turn whose
    record names no chain image gets one (`add_chain`) where its parent has one (or is the
    photo) and it has one region. Only the models that made a turn (`models_key`, as the history
    keeps them) make its chain: at a turn of other models the chain stops, with a warning."""
    for node in nodes:
        turn_dir = edit_folder.turn_dir(node.id)
        if not (turn_dir / OUTPUT_FILES["record"]).is_file():
            return  # not finished: the run makes it again, with its chain
        parent_has = node.parent is None or has_chain(edit_folder.turn_dir(node.parent))
        if parent_has and len(node.turn.regions) == 1 and not has_chain(turn_dir):
            if not same_models(node.models, models_key(node.turn)):
                warnings.warn(
                    f"baseline_chain: turn '{node.id}' was made by other models than these, so "
                    "its chain is not added and the chain stops there",
                    MaskeditWarning,
                    stacklevel=3,
                )
                return
            add_chain(edit_folder, node, models, scorers)
        if not node.chain:
            edit_folder.nodes[node.id] = replace(node, chain=True)
            edit_folder.save()


def has_chain(turn_dir: Path) -> bool:
    """Whether a finished turn's record names its chain image (written last of its files)."""
    try:
        return names_chain(read_record(turn_dir))
    except InputError:
        return False


def add_chain(edit_folder: TurnsEdit, node: TurnNode, models: Models, scorers: Scorers) -> None:
    """The chain's image for a finished turn made without it, from the turn's own original.png
    and baseline.png: baseline_chain.png, its row added to the turn's metrics.json (the other
    rows as they were scored), then the record naming it. The masked turn is not edited again;
    the chain costs one editor call (none at turn 1)."""
    turn_dir = edit_folder.turn_dir(node.id)
    before_chain = chain_parent(edit_folder, node.parent)
    original = read_image(turn_dir / OUTPUT_FILES["original"])
    baseline_path = turn_dir / OUTPUT_FILES["baseline"]
    baseline = read_image(baseline_path) if baseline_path.is_file() else None
    if before_chain is None or baseline is None:
        return
    chained = chain_edit(before_chain, node.turn, original, baseline, models)
    if chained is None:
        return
    write_png(turn_dir / BASELINE_CHAIN_FILE, chained)
    before = edit_folder.path(node.parent) if node.parent is not None else []
    context = (node.turn, edit_folder.photo, edit_folder.union(before), edit_folder.edit_id)
    alpha = read_mask(turn_dir / OUTPUT_FILES["mask"], original.shape[:2])
    if (turn_dir / METRICS_FILE).is_file():
        rows = [r for r in read_metrics(turn_dir) if r["method"] != BASELINE_CHAIN]
    else:
        rows = score_turn_folder(turn_dir, *context, scorers)
    rows += chain_rows(chained, before_chain, alpha, *context, scorers)
    for row in rows:
        row.update(turn=len(before) + 1, turn_id=node.id)
    write_case_metrics(turn_dir, rows)
    record = read_record(turn_dir)
    record["outputs"] = {**record.get("outputs", {}), BASELINE_CHAIN: BASELINE_CHAIN_FILE}
    atomic_write_text(turn_dir / OUTPUT_FILES["record"], json.dumps(record, indent=2) + "\n")
