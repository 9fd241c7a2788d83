"""What a turn is scored by, beyond the usual columns: how far the output drifts from the photo
outside every mask so far (zero for an exact composite). A turn with a ground truth gets
MagicBrush's columns against it, as a one-turn case does (`maskedit.scoring.score_outputs`).
The plain editor's own chain (`maskedit.turn_chain`), when the turn has it, is one more row,
"baseline_chain", scored against its own parent (the chain's previous image) and the turn's mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from maskedit.config import Turn
from maskedit.images import read_image, read_mask, stored_alpha
from maskedit.record import (
    BASELINE_CHAIN,
    BASELINE_CHAIN_FILE,
    OUTPUT_FILES,
    EditResult,
    names_chain,
)
from maskedit.scoring import Scorers, case_columns, score_outputs
from maskedit.tables import read_record


def drift(output: np.ndarray, photo: np.ndarray, union: np.ndarray) -> dict[str, Any]:
    """How far `output` strays from `photo` outside `union` (H×W bool, the turns' masks so far).

    ``drift_mse``: mean squared difference on [0, 1] over the pixels outside (all channels);
    ``drift_max``: the largest difference in grey levels; ``drift_changed``: the share of those
    pixels that differ at all. None when the masks cover the whole image.
    """
    outside = ~union
    if not outside.any():
        return {"drift_mse": None, "drift_max": None, "drift_changed": None}
    diff = np.abs(output[outside].astype(np.int16) - photo[outside].astype(np.int16))
    return {
        "drift_mse": float(np.mean((diff / 255.0) ** 2)),
        "drift_max": int(diff.max()),
        "drift_changed": float(np.mean(diff.any(axis=1))),
    }


def score_turn(result: EditResult, *context: Any) -> list[dict[str, Any]]:
    """A fresh turn's rows: `turn_rows` of its result (`context`: `turn_rows`' arguments after
    the outputs: turn, photo, union before, edit id, scorers)."""
    outputs = dict(result.outputs)
    if result.baseline is not None:
        outputs = {"baseline": result.baseline, **outputs}
    return turn_rows(result.original, result.alpha, outputs, *context)


def turn_rows(
    original: np.ndarray,
    alpha: np.ndarray,
    outputs: dict[str, np.ndarray],
    turn: Turn,
    photo: np.ndarray,
    union_before: np.ndarray,
    edit_id: str,
    scorers: Scorers,
) -> list[dict[str, Any]]:
    """A turn's rows: the usual metrics against its parent (`original`) and its mask, the
    ground truth's columns when there is one, and the drift from the photo outside every mask
    so far. The same for a turn just edited and for one read back from its folder (`maskedit
    eval`)."""
    rows = score_outputs(
        original,
        alpha,
        outputs,
        turn.instruction,
        captions=turn.captions,
        clip=scorers.clip,
        threshold=scorers.threshold,
        ground_truth=read_image(turn.ground_truth) if turn.ground_truth is not None else None,
        backbones=scorers.backbones,
    )
    union = union_before | (stored_alpha(alpha) > 0)  # as mask.png reads back
    named = case_columns(scorers.clip, None)  # the CLIP model, as every row of a case names it
    for row, output in zip(rows, outputs.values(), strict=True):
        row["case_id"] = edit_id
        row.update(drift(output, photo, union), **named)
    return rows


def chain_rows(
    chain: np.ndarray, chain_parent: np.ndarray, alpha: np.ndarray, *context: Any
) -> list[dict[str, Any]]:
    """The "baseline_chain" row: `turn_rows` of the chain's image at this turn against its own
    parent and the turn's mask (`context` as for `score_turn`)."""
    return turn_rows(chain_parent, alpha, {BASELINE_CHAIN: chain}, *context)


def score_turn_folder(
    turn_dir: Path, *context: Any, chain_parent: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """`turn_rows` of a turn read back from its folder: its original.png (the parent), mask.png,
    baseline.png (when there is one) and the outputs its record.json names (`context` as for
    `score_turn`); then the chain's row when its record names baseline_chain.png (`chain_parent`:
    the chain's image at the turn before, or the photo)."""
    record = read_record(turn_dir)
    original = read_image(turn_dir / OUTPUT_FILES["original"])
    alpha = read_mask(turn_dir / OUTPUT_FILES["mask"], original.shape[:2])
    outputs = {}
    if (turn_dir / OUTPUT_FILES["baseline"]).is_file():
        outputs["baseline"] = read_image(turn_dir / OUTPUT_FILES["baseline"])
    outputs |= {m: read_image(turn_dir / f) for m, f in record["methods"].items()}
    rows = turn_rows(original, alpha, outputs, *context)
    if chain_parent is not None and names_chain(record):
        chain = read_image(turn_dir / BASELINE_CHAIN_FILE)
        rows += chain_rows(chain, chain_parent, alpha, *context)
    return rows
