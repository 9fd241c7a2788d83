"""What the benchmarks time: the inputs, the plain diffusers call and maskedit's calls on it.

Every call here is a zero-argument function that does one whole edit (or one batch of edits) and
returns its result, ready for `harness.measure`. A plain call and maskedit's calls use the same
pipeline object, the same settings and the same pixel count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from harness import Row

INSTRUCTION = "make the jacket red"
WORK_MASK_FRACTION = 0.25
SEED = 1337


def photo(hw: tuple[int, int]) -> np.ndarray:
    """A natural photo (scikit-image's astronaut, bundled) tiled or resized to `hw`, uint8 RGB."""
    from maskedit.images import resize_rgb, sample_image

    tile = sample_image("astronaut")  # 512×512
    h, w = hw
    if h <= tile.shape[0] and w <= tile.shape[1]:
        return resize_rgb(tile, hw)
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:h, :w])


def square_mask(side: int, fraction: float) -> np.ndarray:
    """A centred square covering `fraction` of a side×side image (exactly 25 % at fraction .25)."""
    s = round(side * fraction**0.5)
    m = np.zeros((side, side), dtype=bool)
    o = (side - s) // 2
    m[o : o + s, o : o + s] = True
    return m


def disk_mask(side: int, fraction: float) -> np.ndarray:
    """A filled disk covering about `fraction` of a side×side image, off-centre."""
    r = side * (fraction / np.pi) ** 0.5
    yy, xx = np.mgrid[:side, :side]
    return (xx - 0.40 * side) ** 2 + (yy - 0.55 * side) ** 2 <= r * r


def editor_settings(editor: str, size: int, steps: int):
    """maskedit's settings for `editor` at `size` (its own guidance defaults), seed `SEED`."""
    import maskedit
    from maskedit.editing.editors import resolve_settings
    from maskedit.families import editor_spec

    settings = maskedit.EditSettings(steps=steps, working_size=size, seed=SEED)
    return resolve_settings(settings, editor_spec(editor))


def plain_call(models, image: np.ndarray, settings) -> Callable[[], np.ndarray]:
    """The editor's diffusers call with the arguments a user passes (a fresh generator each run;
    `plain_kwargs` is checked equal to hand-written calls in tests/equivalence/test_editors.py)."""
    from maskedit.editing.editors import call_pipeline, plain_kwargs, to_uint8

    def call() -> np.ndarray:
        kwargs = plain_kwargs(models.pipe, image, INSTRUCTION, settings)
        return to_uint8(call_pipeline(models.pipe, kwargs, image.shape[:2])[0])

    return call


def masked_call(models, image: np.ndarray, mask: np.ndarray, settings, method: str) -> Callable:
    """`maskedit.edit` with one method alone, no baseline (pixel needs one: plain + composite)."""
    import maskedit

    alone = maskedit.EditSettings(**{**settings.model_dump(), "methods": (method,)})
    return lambda: maskedit.edit(
        image, INSTRUCTION, models=models, mask=mask, settings=alone, baseline=False
    )


def end_to_end(models, image: np.ndarray, settings) -> Callable:
    """A warm user edit: models loaded, a new photo (fresh SAM cache), one click, pixel method."""
    import dataclasses

    import maskedit
    from maskedit.masks.sam import SamPredictor

    h, w = image.shape[:2]
    pixel = maskedit.EditSettings(**{**settings.model_dump(), "methods": ("pixel",)})

    def call():
        sam = SamPredictor(models.sam.model, models.sam.processor)  # an empty embedding cache
        fresh = dataclasses.replace(models, sam=sam)
        return maskedit.edit(
            image, INSTRUCTION, models=fresh, points=[(w / 2, h / 2)], settings=pixel
        )

    return call


def batch_workload(
    models, per_call: int, cases: int, size: int, steps: int
) -> tuple[list[Row], dict[str, Callable[[], Any]]]:
    """`cases` IP2P edits of the same size: plain diffusers one per call and `per_call` per call
    (lists of prompts, images and generators); `maskedit.batch.edit_many` with batch size 1 and
    `per_call` (pixel method). Rows in that order."""
    from PIL import Image

    import maskedit
    from maskedit.batch import edit_many

    n = per_call
    images = [
        photo((size, size))[:, ::-1].copy() if k % 2 else photo((size, size)) for k in range(cases)
    ]
    mask = square_mask(size, WORK_MASK_FRACTION)
    requests = [
        dict(
            image=images[k],
            instruction=f"{INSTRUCTION} {k}",
            mask=mask,
            settings=maskedit.EditSettings(
                steps=steps, working_size=size, seed=SEED + k, text_cfg=7.5, image_cfg=1.5
            ),
        )
        for k in range(cases)
    ]

    def plain(per: int):
        def call():
            out = []
            for start in range(0, cases, per):
                ks = range(start, min(start + per, cases))
                prompts = [f"{INSTRUCTION} {k}" for k in ks]
                out += list(
                    models.pipe(
                        prompts if per > 1 else prompts[0],
                        image=[Image.fromarray(images[k]) for k in ks]
                        if per > 1
                        else Image.fromarray(images[start]),
                        num_inference_steps=steps,
                        guidance_scale=7.5,
                        image_guidance_scale=1.5,
                        generator=[torch.Generator().manual_seed(SEED + k) for k in ks]
                        if per > 1
                        else torch.Generator().manual_seed(SEED + start),
                        output_type="np",
                    ).images
                )
            return out

        return call

    def ours(batch_size: int):
        return lambda: edit_many(requests, models=models, batch_size=batch_size)

    rows = [
        Row("plain ×1", f"{cases} diffusers calls, one case each"),
        Row(f"plain ×{n}", f"{-(-cases // n)} diffusers call(s) of {n} cases (lists)"),
        Row("maskedit --batch-size 1", f"`edit_many`, {cases} cases, pixel method"),
        Row(f"maskedit --batch-size {n}", f"`edit_many`, {cases} cases, pixel method"),
    ]
    calls = [plain(1), plain(n), ours(1), ours(n)]
    return rows, {row.name: call for row, call in zip(rows, calls, strict=True)}
