"""Several regions in one edit, each with its own instruction and settings.

The regions' edits are `maskedit.batch.edit_many` requests on the same input, so their matching
editor calls (same working size, steps and guidance scales) share one denoiser batch. Each
region's result is its own masked edit, exactly as it would be alone (up to the batch's float
order); they are then laid over the input in order, each inside its own mask at native
resolution (`maskedit.composite.composite_regions`): where masks overlap the later region wins,
and `overlaps` says where. Outside the union of the masks the output is the input bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.batch import edit_many
from maskedit.composite import composite_regions
from maskedit.config import Region
from maskedit.errors import InputError, MaskeditError
from maskedit.images import image_and_source
from maskedit.models import Models
from maskedit.record import EditResult, build_record
from maskedit.request import EditRequest

# What each region's entry in record.json keeps of its own record.
_REGION_KEYS = ("instruction", "seed", "settings", "mask", "batch", "method_info", "warnings")


@dataclass
class RegionsResult:
    """A several-region edit: the whole (`result`), each region's own edit, and the overlaps."""

    result: EditResult  # the input, the union of the masks, each method's combined output
    regions: list[EditResult]  # each region's own edit of the same input
    overlaps: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The keys a record.json adds: each region's instruction, mask and settings, and the
        overlaps ({"regions": [i, j], "pixels": n, "kept": j}, 1-based; the later is kept)."""
        regions = []
        for k, region in enumerate(self.regions, start=1):
            full = build_record(region)
            regions.append({"region": k, **{key: full[key] for key in _REGION_KEYS}})
        return {"regions": regions, "overlaps": self.overlaps}


def _as_request(image: np.ndarray, region: Region | dict[str, Any], several: bool) -> EditRequest:
    """A region (or a dict of `EditRequest` fields) as the request for its own edit."""
    if isinstance(region, Region):
        fields: dict[str, Any] = {
            "instruction": region.instruction,
            "prompts": region.prompts,
            "settings": region.settings,
        }
    else:
        fields = dict(region)
        fields.pop("image", None)
    if several:  # the combined edit has no single unmasked baseline: only pixel needs one
        fields.setdefault("baseline", False)
    return EditRequest(image=image, **fields)


def edit_regions(
    image: np.ndarray | str | Path,
    regions: Sequence[Region | dict[str, Any]],
    *,
    models: Models,
    batch_size: int | None = None,
) -> RegionsResult:
    """Edit `image` in several regions at once, each by its own instruction inside its own mask.

    `regions`: `Region`s, or dicts of `EditRequest` fields (instruction, points, box, mask,
    target, mask_from, prompts, settings, methods), in order: a later region wins where masks
    overlap. Every region must run the same methods. `batch_size` (default: all) caps how many
    editor calls share one batch. One region is exactly `maskedit.edit`.
    """
    if not regions:
        raise InputError("regions: none given")
    photo = image_and_source(image)[0]
    several = len(regions) > 1
    requests = [_as_request(photo, region, several) for region in regions]
    t0 = time.perf_counter()
    names = [f"region {k}" if several else None for k in range(1, len(requests) + 1)]
    results = edit_many(
        requests, models=models, batch_size=batch_size or len(requests), names=names
    )
    seconds = time.perf_counter() - t0
    for k, result in enumerate(results, start=1):
        if isinstance(result, MaskeditError):
            raise type(result)(f"region {k}: {result}" if several else str(result))
    edits: list[EditResult] = list(results)  # type: ignore[arg-type]
    if isinstance(image, (str, Path)):
        for result in edits:
            result.image_source = str(image)
    if not several:
        return RegionsResult(edits[0], edits)
    methods = list(edits[0].outputs)
    for k, result in enumerate(edits[1:], start=2):
        if list(result.outputs) != methods:
            raise InputError(
                f"region {k}: methods {list(result.outputs)} differ from region 1's {methods}; "
                "every region of an edit runs the same methods"
            )
    return RegionsResult(_combined(photo, edits, methods, seconds), edits, _overlaps(edits))


def _overlaps(edits: list[EditResult]) -> list[dict[str, Any]]:
    """Each pair of regions whose masks share pixels: how many, and which region they keep."""
    inside = [result.alpha > 0 for result in edits]
    out = []
    for i in range(len(inside)):
        for j in range(i + 1, len(inside)):
            pixels = int(np.count_nonzero(inside[i] & inside[j]))
            if pixels:
                out.append({"regions": [i + 1, j + 1], "pixels": pixels, "kept": j + 1})
    return out


def _combined(
    photo: np.ndarray, edits: list[EditResult], methods: list[str], seconds: float
) -> EditResult:
    """The whole edit: each method's regions composited in order; the union of the masks."""
    first = edits[0]
    outputs = {
        method: composite_regions(photo, [(r.outputs[method], r.alpha) for r in edits])
        for method in methods
    }
    union = np.maximum.reduce([r.alpha for r in edits])
    batch: dict[str, int] = {}
    for result in edits:
        for key, value in result.batch.items():
            batch[key] = max(batch.get(key, 1), value)
    return EditResult(
        original=photo,
        alpha=union,
        baseline=None,
        outputs=outputs,
        instruction="; ".join(r.instruction for r in edits),
        settings=first.settings,
        mask_source="regions",
        prompts=None,
        sam=None,
        working_hw=first.working_hw,
        models=first.models,
        timings={"regions": seconds},
        image_source=first.image_source,
        warnings=[f"region {k}: {w}" for k, r in enumerate(edits, start=1) for w in r.warnings],
        method_info={m: {"regions": [r.method_info.get(m, {}) for r in edits]} for m in methods},
        raw_area=float(np.mean(np.maximum.reduce([r.alpha > 0 for r in edits]))),
        mask_info={"regions": len(edits)},
        batch=batch,
    )
