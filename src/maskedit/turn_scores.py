"""What a turn is scored by, beyond the usual columns: how far the output drifts from the photo
outside every mask so far (zero for an exact composite), and MagicBrush's columns against a
turn's ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from maskedit.config import Turn
from maskedit.evaluate import score_outputs
from maskedit.images import read_image
from maskedit.record import EditResult


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


def score_turn(
    result: EditResult,
    turn: Turn,
    photo: np.ndarray,
    union_before: np.ndarray,
    edit_id: str,
    clip: tuple[Any, Any] | None,
    threshold: float | None,
) -> list[dict[str, Any]]:
    """A turn's rows: the usual metrics against its parent and its mask, the drift from the
    photo outside every mask so far, and the ground truth's columns when there is one."""
    outputs = dict(result.outputs)
    if result.baseline is not None:
        outputs = {"baseline": result.baseline, **outputs}
    rows = score_outputs(
        result.original,
        result.alpha,
        outputs,
        turn.instruction,
        captions=turn.captions,
        clip=clip,
        threshold=threshold,
    )
    union = union_before | (result.alpha > 0)
    local = (turn.captions or {}).get("local")
    for row, output in zip(rows, outputs.values(), strict=True):
        row["case_id"] = edit_id
        row.update(drift(output, photo, union))
        if turn.ground_truth is not None:
            row.update(ground_truth_metrics(output, turn.ground_truth, local, clip))
    return rows
