"""A multi-turn edit's own files, for the turn `head` is at: the photo, the union of the masks
so far, head's outputs, baseline and chain image (`maskedit.turn_chain`), grid.png, strip.png
(every turn), metrics.json (the whole edit scored as its last turn) and record.json, written
last so that a folder holding one is whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskedit.grid import turns_grid, turns_strip
from maskedit.images import alpha_to_png_array, read_image, write_png
from maskedit.outputs import atomic_write_text, write_case_metrics
from maskedit.record import (
    BASELINE_CHAIN,
    BASELINE_CHAIN_FILE,
    HISTORY_FILE,
    OUTPUT_FILES,
    STRIP_FILE,
    TURNS_DIR,
    names_chain,
)
from maskedit.scoring import Scorers, case_columns, score_outputs, scoring_key
from maskedit.tables import MULTI_TURN, read_record

if TYPE_CHECKING:
    from maskedit.turns import TurnNode, TurnsEdit

# The edit folder's files that show `head` (rewritten by `write_summary`).
_SUMMARY_FILES = (
    "mask.png",
    "baseline.png",
    BASELINE_CHAIN_FILE,
    "grid.png",
    STRIP_FILE,
    "metrics.json",
)


def write_summary(
    edit: TurnsEdit,
    scorers: Scorers | None = None,
    *,
    metrics: bool = True,
    fingerprint: str | None = None,
) -> None:
    """Rewrite the edit folder's files for head, from the turn folders on disk.

    record.json goes first and comes back last, so a folder that has one is whole. At the
    photo (everything undone) only original.png and strip.png remain. `fingerprint`: what
    made it, when a run's case made it (`maskedit.fingerprints`); kept while head stays.
    """
    record_path = edit.folder / OUTPUT_FILES["record"]
    if fingerprint is None:
        fingerprint = _fingerprint_at_head(edit, record_path)
    record_path.unlink(missing_ok=True)
    for name in _SUMMARY_FILES:
        (edit.folder / name).unlink(missing_ok=True)
    for stale in edit.folder.glob("blended*.png"):
        stale.unlink()
    path = edit.path()
    write_png(edit.folder / STRIP_FILE, _strip(edit, path))
    if not path:
        return
    head_dir = edit.turn_dir(path[-1].id)
    head = read_record(head_dir)
    photo, union = edit.photo, edit.union(path)
    outputs = {m: read_image(head_dir / f) for m, f in head["methods"].items()}
    for method, name in head["methods"].items():
        write_png(edit.folder / name, outputs[method])
    if len(outputs) > 1:  # blended.png repeats the first method, as in any case folder
        write_png(edit.folder / OUTPUT_FILES["blended"], outputs[head["method"]])
    write_png(edit.folder / OUTPUT_FILES["mask"], alpha_to_png_array(union))
    scored = dict(outputs)
    if (head_dir / OUTPUT_FILES["baseline"]).is_file():
        baseline = read_image(head_dir / OUTPUT_FILES["baseline"])
        write_png(edit.folder / OUTPUT_FILES["baseline"], baseline)
        scored = {"baseline": baseline, **outputs}
    grid = turns_grid(edit.photo, union, scored, len(path), head)
    write_png(edit.folder / OUTPUT_FILES["grid"], grid)
    if names_chain(head):  # the plain editor's chain, scored as a method
        chain = read_image(head_dir / BASELINE_CHAIN_FILE)
        write_png(edit.folder / BASELINE_CHAIN_FILE, chain)
        scored[BASELINE_CHAIN] = chain
    captions = _captions(path)
    if metrics:
        scorers = scorers or Scorers()
        truth = path[-1].turn.ground_truth  # the whole edit is scored as its last turn
        rows = score_outputs(
            photo,
            union,
            scored,
            head["instruction"],
            captions=captions,
            clip=scorers.clip,
            threshold=scorers.threshold,
            ground_truth=read_image(truth) if truth is not None else None,
            backbones=scorers.backbones,
        )
        columns = case_columns(scorers.clip, edit.benchmark)
        firsts = {read_record(edit.turn_dir(node.id))["method"] for node in path}
        for row in rows:
            row.update(case_id=edit.edit_id, turns=len(path), **columns)
            if edit.benchmark:  # the benchmark's multi-turn setting (`_own_chain`)
                row.update(setting=MULTI_TURN, own_chain=_own_chain(row["method"], firsts))
        write_case_metrics(edit.folder, rows, scoring_key(scorers))
    h, w = photo.shape[:2]
    record = {k: v for k, v in head.items() if k not in ("turn", "regions", "overlaps")}
    record.update(
        case_id=edit.edit_id,
        image={"source": edit.source, "width": w, "height": h},
        mask={"source": "turns", "area_fraction": round(float(np.mean(union)), 6)},
        turns={
            "head": path[-1].id,
            "path": [node.id for node in path],
            "made": len(edit.nodes),
            "history": HISTORY_FILE,
            "folders": TURNS_DIR,
            "strip": STRIP_FILE,
        },
        captions=captions,
    )
    if edit.benchmark:  # what `maskedit eval` picks the metric networks by
        record["benchmark"] = edit.benchmark
    if fingerprint is not None:
        record["fingerprint"] = fingerprint
    atomic_write_text(record_path, json.dumps(record, indent=2) + "\n")


def _fingerprint_at_head(edit: TurnsEdit, record_path: Path) -> str | None:
    """The fingerprint of the summary there now, if it shows the head there is now."""
    try:
        record = json.loads(record_path.read_bytes())
        kept = record["fingerprint"]
        same = record["turns"]["head"] == edit.head and edit.head is not None
        return kept if same and isinstance(kept, str) else None
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return None


def _own_chain(method: str, firsts: set[str]) -> bool:
    """Whether the edit's `method` output is that method's own chain: every turn edited its
    output of the turn before, as a benchmark's multi-turn setting runs a model. True for the
    plain editor's chain and for the method each turn ran first (its output is the next turn's
    parent); the other methods and the baseline edit the first method's chain."""
    return method == BASELINE_CHAIN or firsts == {method}


def _captions(path: list[TurnNode]) -> dict[str, str | None] | None:
    """The whole edit's captions: the first turn's source, the last turn's target."""
    first, last = path[0].turn.captions, path[-1].turn.captions
    if first is None and last is None:
        return None
    return {
        "source": (first or {}).get("source"),
        "target": (last or {}).get("target"),
        "local": (last or {}).get("local"),
    }


def _strip(edit: TurnsEdit, path: list[TurnNode]) -> np.ndarray:
    turns = [
        (node.turn.instruction, edit.image_at(node.id), read_record(edit.turn_dir(node.id)))
        for node in path
    ]
    return turns_strip(edit.photo, turns)
