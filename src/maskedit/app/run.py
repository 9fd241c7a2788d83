"""A run, checked before any model is touched: the page's widgets → `maskedit.edit`'s arguments.

`prepare_run` turns what the page holds into a `RunJob` (the photo and its mask as they were when
Run was pressed, one `EditSettings` per seed with every ticked method, the prompts the record
keeps) or one InputError naming what is missing or wrong. The page then calls, per seed,
`maskedit.edit(job.image, instruction, models=..., mask=job.mask, settings=..., progress=...)`,
the CLI's call (several methods share one baseline), and shows `progress_text` per step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from maskedit.app.clicks import Clicks
from maskedit.config import METHODS, EditSettings
from maskedit.errors import InputError

if TYPE_CHECKING:
    from maskedit.app.history import Layer

MAX_SEEDS = 8  # one baseline and one output per method for each: keep a run a few minutes
SEED_LIMIT = 2**63  # EditSettings.seed: 0 ≤ seed < 2^63


@dataclass(frozen=True)
class RunJob:
    """A checked run: the photo (H×W×3 uint8) and its H×W bool mask, snapshotted together when
    Run was pressed (the library shapes the mask by the settings); one `EditSettings` per seed,
    each with every method; the instruction; the page's prompts for record.json's `"app"`.
    With region `layers` the run edits them all in one edit; `mask` is then their union."""

    image: np.ndarray
    mask: np.ndarray
    settings: tuple[EditSettings, ...]
    app_info: dict[str, Any]
    instruction: str = ""
    layers: tuple[Layer, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        return self.settings[0].methods

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(s.seed for s in self.settings)


def parse_seeds(text: str | float | int | None) -> tuple[int, ...]:
    """ "1337" or "1, 2, 3" (commas or spaces) → the seeds, in order, repeats dropped.

    Each must be a whole number from 0 to 2^63 − 1; at most MAX_SEEDS of them.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = f"{text:.0f}" if float(text).is_integer() else str(text)
    parts = [p for p in re.split(r"[,\s]+", str(text or "").strip()) if p]
    if not parts:
        raise InputError("seed: is empty; type a whole number such as 1337 (or several: 1, 2, 3)")
    seeds: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or int(part) >= SEED_LIMIT:
            raise InputError(
                f"seed '{part}': use whole numbers from 0 to {SEED_LIMIT - 1}, e.g. 1337"
            )
        if int(part) not in seeds:
            seeds.append(int(part))
    if len(seeds) > MAX_SEEDS:
        raise InputError(f"seeds: {len(seeds)} given; at most {MAX_SEEDS} in one run")
    return tuple(seeds)


def _methods(method: str | Sequence[str] | None) -> tuple[str, ...]:
    methods = (method,) if isinstance(method, str) else tuple(method or ())
    if not methods:
        raise InputError("method: none ticked; tick at least one (pixel is the plain composite)")
    for m in methods:
        if m not in METHODS:
            raise InputError(f"method '{m}': choose one of {', '.join(METHODS)}")
    return tuple(m for m in METHODS if m in methods)  # the page's order, whatever was ticked


def prepare_run(
    image: np.ndarray | None,
    clicks: Clicks,
    mask: np.ndarray | None,
    target: dict[str, Any] | None,
    instruction: str | None,
    *sliders: Any,
) -> RunJob:
    """Check everything the page gives and build the run; InputError names the first problem.

    `target`: the region's record entry (None: `mask` is SAM's answer to `clicks`).
    `sliders`: the methods, mask and diffusion settings, as `_all_settings` takes them.
    """
    if image is None:
        raise InputError("load a photo first")
    if mask is None or (target is None and not clicks.has_region):
        raise InputError(
            "no region yet: click on the object (include point), draw a box, "
            "or describe it and press 'Mask from phrase'"
        )
    if not (instruction or "").strip():
        raise InputError("instruction: is empty; say what to change, e.g. 'make the shirt red'")
    settings = _all_settings(*sliders)
    methods = settings[0].methods
    if mask.shape != image.shape[:2]:
        raise InputError("the mask was made on another photo: click on this one again")
    if not mask.any():  # shaping neither empties a mask nor fills an empty one
        raise InputError("the mask is empty: click on the object")
    app_info = {
        **(target or {}),
        **clicks.to_record(),
        "dilate_px": settings[0].dilate,
        "feather_px": settings[0].feather,
        "method": methods[0],
    }
    return RunJob(
        image=image,
        mask=mask,
        settings=settings,
        app_info=app_info,
        instruction=instruction.strip(),
    )


def _all_settings(
    method: str | Sequence[str],
    dilate_px: float,
    feather_px: float,
    seed: str | float,
    steps: float,
    text_cfg: float,
    image_cfg: float | None,
) -> tuple[EditSettings, ...]:
    """One `EditSettings` per seed, each with every ticked method; InputError names a bad one.

    `method`: one method or several; `seed`: a number, or text with several ("1, 2").
    `image_cfg`: None for guidance-distilled editors, which have no image-guidance scale.
    """
    methods = _methods(method)
    seeds = parse_seeds(seed)
    try:
        return tuple(
            EditSettings(
                seed=s,
                steps=int(steps),
                text_cfg=text_cfg,
                image_cfg=image_cfg,
                methods=methods,
                dilate=int(dilate_px),
                feather=float(feather_px),
            )
            for s in seeds
        )
    except (ValidationError, TypeError, ValueError) as err:
        raise InputError(f"settings: {str(err).splitlines()[0]}") from None


def prepare_layers_run(
    image: np.ndarray | None,
    layers: tuple[Layer, ...],
    *sliders: Any,
) -> RunJob:
    """A run of several region layers in one edit (each with its own instruction; the sliders'
    settings, as `_all_settings` takes them, apply to every layer); InputError names the first
    problem."""
    from maskedit.app.history import union_mask

    if image is None:
        raise InputError("load a photo first")
    if not layers:
        raise InputError("region layers: none added")
    if any(layer.hw != image.shape[:2] for layer in layers):
        raise InputError("region layers: made on another photo; remove them and add them again")
    settings = _all_settings(*sliders)
    app_info = {
        "mask_source": "region layers",
        "layers": [
            {"instruction": layer.instruction, "mask": layer.mask_file.name, "from": layer.source}
            for layer in layers
        ],
        "dilate_px": settings[0].dilate,
        "feather_px": settings[0].feather,
        "method": settings[0].methods[0],
    }
    return RunJob(
        image=image,
        mask=union_mask(layers, image.shape[:2]),
        settings=settings,
        app_info=app_info,
        instruction="; ".join(layer.instruction for layer in layers),
        layers=tuple(layers),
    )


def progress_text(stage: str, step: int, total: int) -> tuple[float, str]:
    """The progress bar's (fraction, text) for `edit`'s `progress(stage, step, total)`.

    Each editor run (the unmasked baseline, then the method's own run when it has one) fills the
    bar from 5 % to 90 %; the rest is reading and writing.
    """
    return 0.05 + 0.85 * step / total, f"{stage}: diffusion step {step}/{total}"


class RunProgress:
    """The whole run's progress bar over every seed's edit: `(fraction, text)` per step.

    Per seed, `edit` runs the editor once for the baseline and once more for each method with
    its own denoising (every method but pixel, which composites the baseline). The bar moves
    only forwards: each of those runs has an equal share.
    """

    def __init__(self, n_seeds: int, methods: Sequence[str]):
        self.n_seeds = n_seeds
        self.runs_per_seed = 1 + sum(m != "pixel" for m in methods)
        self.stages: list[str] = []  # the stages seen for the current seed, in order
        self.seed = 0

    def start_seed(self, index: int) -> None:
        self.seed, self.stages = index, []

    def __call__(self, stage: str, step: int, total: int) -> tuple[float, str]:
        if stage not in self.stages:
            self.stages.append(stage)
        done = min(self.stages.index(stage), self.runs_per_seed - 1) + step / total
        fraction = 0.02 + 0.93 * (self.seed + done / self.runs_per_seed) / self.n_seeds
        text = f"{stage}: diffusion step {step}/{total}"
        if self.n_seeds > 1:
            text = f"seed {self.seed + 1}/{self.n_seeds} · {text}"
        return fraction, text

    def writing(self) -> tuple[float, str]:
        """Between a seed's edit and the next: its case folder is written."""
        return 0.02 + 0.93 * (self.seed + 1) / self.n_seeds, "writing outputs"
