"""Comparing edits on the page: one labelled result per method and seed, a history of the runs of
one photo to A/B against, and plain words when the results are bound to look alike.

A `Run` is what one press of Run made: per seed one `maskedit.edit` call with every ticked method
(one shared baseline per seed). Outputs whose pixels are identical are shown once, under all their
names, with a note, never as look-alike pictures under separate labels. Pure: arrays in, values out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from maskedit.app.run import RunJob
    from maskedit.record import EditResult

FULL_FRAME = 0.95  # a mask over this share of the photo leaves the methods nothing to differ on
MAX_HISTORY = 12  # runs of one photo kept for A/B (each holds its images)
ORIGINAL = "original"


def photo_key(image: np.ndarray) -> str:
    """A short fingerprint of a photo's pixels: runs of the same photo share it."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=8).hexdigest()
    return f"{digest}-{image.shape[1]}x{image.shape[0]}"


@dataclass(frozen=True)
class Output:
    """One picture of a run: a method's result (or several methods' identical results)."""

    methods: tuple[str, ...]
    seed: int
    image: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """ "pixel · seed 1337"; identical results of several methods: "pixel = crop · seed 1"."""
        return f"{' = '.join(self.methods)} · seed {self.seed}"


@dataclass(frozen=True)
class Run:
    """One press of Run on one photo: the outputs of every method and seed, the baselines."""

    number: int
    photo: str  # photo_key of the original
    instruction: str
    original: np.ndarray
    baselines: dict[int, np.ndarray]  # seed → the unmasked edit
    outputs: tuple[Output, ...]
    notes: tuple[str, ...] = ()
    folders: tuple[Path, ...] = ()  # the case folder of each seed
    files: tuple[Path, ...] = ()  # what the page offers for download
    job: RunJob | None = None  # what was run: "Keep editing" makes one output a turn from it
    # seed → its EditResult and the keys its record added: what "Keep editing" writes as the turn
    made: dict[int, tuple[EditResult, dict]] = field(default_factory=dict)


def group_identical(
    result: EditResult, seed: int, metrics: dict[str, dict[str, float]] | None = None
) -> list[Output]:
    """The result's outputs in method order, those with identical pixels merged into one."""
    groups: list[tuple[list[str], np.ndarray]] = []
    for method, image in result.outputs.items():
        for names, seen in groups:
            if seen.shape == image.shape and np.array_equal(seen, image):
                names.append(method)
                break
        else:
            groups.append(([method], image))
    metrics = metrics or {}
    return [Output(tuple(names), seed, image, metrics.get(names[0], {})) for names, image in groups]


def alike_notes(
    tiny: bool, alpha: np.ndarray, outputs: list[Output] | tuple[Output, ...], n_methods: int
) -> list[str]:
    """Why the methods' pictures look alike, when they are bound to, in plain words."""
    notes = []
    if tiny and n_methods > 1:
        notes.append(
            "Tiny random models: every method edits noise with noise, so their results look "
            "alike and say nothing about which method is better."
        )
    area = float(np.mean(alpha > 0)) if alpha.size else 0.0
    if area >= FULL_FRAME and n_methods > 1:
        notes.append(
            f"The mask covers {100 * area:.0f} % of the photo: with (nearly) everything allowed to "
            "change, the methods differ only in the rest, so their results look alike."
        )
    for out in outputs:
        if len(out.methods) > 1:
            notes.append(
                f"{', '.join(out.methods)} gave identical pixels (seed {out.seed}): shown once."
            )
    return notes


def gallery(run: Run) -> list[tuple[np.ndarray, str]]:
    """The run's pictures with their captions: the baseline of each seed, then every output
    with its metrics in short."""
    items: list[tuple[np.ndarray, str]] = []
    for seed, baseline in run.baselines.items():
        items.append((baseline, f"baseline (unmasked) · seed {seed}"))
    for out in run.outputs:
        items.append((out.image, caption(out)))
    return items


def caption(out: Output) -> str:
    """An output's label and its metrics, short: "pixel · seed 1 · area 23.1 % · outside 0 ✓"."""
    from maskedit.app.results import OUTSIDE

    parts = [out.label]
    area = out.metrics.get("mask area fraction")
    if area is not None:
        parts.append(f"area {100 * area:.1f} %")
    outside = out.metrics.get(OUTSIDE)
    if outside is not None:
        parts.append(f"outside Δ {outside:g} " + ("✓" if outside == 0 else "✗"))
    return " · ".join(parts)


def add_run(runs: list[Run], run: Run, limit: int = MAX_HISTORY) -> list[Run]:
    """The history after `run`: earlier runs of the same photo kept (newest last, at most
    `limit`); runs of other photos dropped."""
    kept = [r for r in runs if r.photo == run.photo]
    return [*kept, run][-limit:]


def for_photo(runs: list[Run] | None, key: str | None) -> list[Run]:
    """The history's runs of one photo (none for another photo)."""
    return [r for r in (runs or []) if r.photo == key]


def next_number(runs: list[Run] | None, key: str) -> int:
    return max((r.number for r in for_photo(runs, key)), default=0) + 1


def choices(runs: list[Run]) -> list[tuple[str, str]]:
    """(label, key) of every picture in the history, for the A/B pickers: the original first,
    then per run its baselines and outputs, newest run first."""
    out = [("original photo", ORIGINAL)]
    for run in reversed(runs):
        for seed in run.baselines:
            out.append((f"run {run.number} · baseline · seed {seed}", f"{run.number}/b/{seed}"))
        for i, o in enumerate(run.outputs):
            out.append((f"run {run.number} · {o.label}", f"{run.number}/o/{i}"))
    return out


def picture(runs: list[Run], key: str | None) -> np.ndarray | None:
    """The picture a `choices` key names; None when it is not in the history (any more)."""
    if not runs or not key:
        return None
    if key == ORIGINAL:
        return runs[-1].original
    try:
        number, kind, index = key.split("/")
        run = next(r for r in runs if r.number == int(number))
        return run.baselines[int(index)] if kind == "b" else run.outputs[int(index)].image
    except (ValueError, StopIteration, KeyError, IndexError):
        return None


def output_choices(run: Run | None) -> list[tuple[str, str]]:
    """(label, index) of each output of a run: what "Keep editing this result" can keep."""
    return [] if run is None else [(o.label, str(i)) for i, o in enumerate(run.outputs)]


def default_pair(runs: list[Run]) -> tuple[str | None, str | None]:
    """A/B to start with: the latest run's first output against the one before it, or else
    against the original photo."""
    if not runs:
        return None, None
    latest = runs[-1]
    a = f"{latest.number}/o/0"
    if len(latest.outputs) > 1:
        return f"{latest.number}/o/1", a
    if len(runs) > 1:
        return f"{runs[-2].number}/o/0", a
    return ORIGINAL, a
