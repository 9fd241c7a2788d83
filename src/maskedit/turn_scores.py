"""What a turn is scored by, beyond the usual columns: how far the output drifts from the photo
outside every mask so far (zero for an exact composite), and MagicBrush's columns against a
turn's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from maskedit.config import Turn
from maskedit.images import read_image, read_mask
from maskedit.record import OUTPUT_FILES, EditResult
from maskedit.scoring import score_outputs
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


def ground_truth_metrics(
    output: np.ndarray, truth: str, caption: str | None, clip: tuple[Any, Any] | None
) -> dict[str, Any]:
    """MagicBrush's columns against a ground-truth image file (L1, L2; CLIP-I and CLIP-T with
    a CLIP model)."""
    from maskedit.metrics.magicbrush import magicbrush_metrics

    return magicbrush_metrics(output, read_image(truth), caption, clip=clip)


def score_turn(result: EditResult, *context: Any) -> list[dict[str, Any]]:
    """A fresh turn's rows: `turn_rows` of its result (`context`: `turn_rows`' arguments after
    the outputs: turn, photo, union before, edit id, clip, threshold)."""
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
    clip: tuple[Any, Any] | None,
    threshold: float | None,
) -> list[dict[str, Any]]:
    """A turn's rows: the usual metrics against its parent (`original`) and its mask, the drift
    from the photo outside every mask so far, and the ground truth's columns when there is one.
    The same for a turn just edited and for one read back from its folder (`maskedit eval`)."""
    rows = score_outputs(
        original,
        alpha,
        outputs,
        turn.instruction,
        captions=turn.captions,
        clip=clip,
        threshold=threshold,
    )
    union = union_before | (alpha > 0)
    local = (turn.captions or {}).get("local")
    for row, output in zip(rows, outputs.values(), strict=True):
        row["case_id"] = edit_id
        row.update(drift(output, photo, union))
        if turn.ground_truth is not None:
            row.update(ground_truth_metrics(output, turn.ground_truth, local, clip))
    return rows


def score_turn_folder(turn_dir: Path, *context: Any) -> list[dict[str, Any]]:
    """`turn_rows` of a turn read back from its folder: its original.png (the parent), mask.png,
    baseline.png (when there is one) and the outputs its record.json names (`context` as for
    `score_turn`)."""
    record = read_record(turn_dir)
    original = read_image(turn_dir / OUTPUT_FILES["original"])
    alpha = read_mask(turn_dir / OUTPUT_FILES["mask"], original.shape[:2])
    outputs = {}
    if (turn_dir / OUTPUT_FILES["baseline"]).is_file():
        outputs["baseline"] = read_image(turn_dir / OUTPUT_FILES["baseline"])
    outputs |= {m: read_image(turn_dir / f) for m, f in record["methods"].items()}
    return turn_rows(original, alpha, outputs, *context)
