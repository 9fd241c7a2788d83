"""The area Qwen-Image-Edit pipelines resize their images to, held at maskedit's working size.

`QwenImageEditPipeline` and `QwenImageEditPlusPipeline` resize every input image to about 1024²
pixels (the aspect kept, sides rounded to 32) before the VAE encodes it, whatever `height` and
`width` say: the area is the literal `1024 * 1024` (Edit) or the module constant `VAE_IMAGE_SIZE`
(Plus), both handed to the pipeline module's `calculate_dimensions`, and no call argument changes
it. FLUX.1 Kontext has the same rule with an argument, `max_area`, which maskedit sets to the
working area (`h × w`) so that the photo's own aspect and size are kept.

For Qwen the one place to say it is that module function: while `source_area(pipe, area)` is
active, `calculate_dimensions` answers the 1024² request as a request for `area` (other requests,
such as Plus's 384² vision-language images, are left alone). An image whose sides are multiples of
32 and `area = h × w` is then encoded at exactly h × w, on the same latent grid as the noise, which
latent blending needs; with the default area nothing is patched. The patch is on the diffusers
module, so maskedit's calls hold a lock while it is on: two threads of maskedit never see each
other's area (a Qwen pipeline called outside maskedit at the same moment would).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

PIPELINE_AREA = 1024 * 1024  # what the pipelines resize to when left alone
VL_MAX_ASPECT = 200  # transformers' Qwen2-VL `smart_resize` refuses more elongated images
_LOCK = threading.RLock()


def pipeline_module(pipe):
    """The module of the pipeline class (or base class) that defines `calculate_dimensions`."""
    for cls in type(pipe).__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and hasattr(module, "calculate_dimensions"):
            return module
    raise TypeError(f"{type(pipe).__name__}: its module has no calculate_dimensions")


def pipeline_hw(pipe, image_hw: tuple[int, int], area: int = PIPELINE_AREA) -> tuple[int, int]:
    """(height, width) the pipeline resizes an image of `image_hw` to when asked for `area`."""
    module = pipeline_module(pipe)
    calculate = getattr(module.calculate_dimensions, "__wrapped__", module.calculate_dimensions)
    h, w = image_hw
    out = calculate(area, w / h)
    return int(out[1]), int(out[0])


def unresizable(pipe, image_hw: tuple[int, int], area: int) -> str | None:
    """Why the pipeline cannot take an image of `image_hw` while `source_area(pipe, area)` holds,
    or None. `calculate_dimensions` rounds each side to 32 px, so a very elongated image gets a
    side of 0 px for the VAE (at ~`area`) or, in Plus, for the vision-language model (at its
    `CONDITION_IMAGE_SIZE`, ~384²), whose processor also refuses images over 200:1."""
    h, w = pipeline_hw(pipe, image_hw, area)
    if min(h, w) == 0:
        return f"its pipeline would resize it to {w}×{h} px for the VAE"
    condition = getattr(pipeline_module(pipe), "CONDITION_IMAGE_SIZE", None)
    if condition is None:
        return None
    h, w = pipeline_hw(pipe, image_hw, condition)
    if min(h, w) == 0 or max(h, w) / min(h, w) > VL_MAX_ASPECT:
        return (
            f"its pipeline would resize it to {w}×{h} px for the vision-language model, which "
            f"takes images up to {VL_MAX_ASPECT}:1"
        )
    return None


@contextlib.contextmanager
def source_area(pipe, area: int) -> Iterator[None]:
    """While active, `pipe` (and every pipeline of its module) resizes images to ~`area` pixels
    instead of ~1024². `area == PIPELINE_AREA` patches nothing: the plain diffusers call."""
    if area <= 0:
        raise ValueError(f"source_area: {area} pixels")
    if area == PIPELINE_AREA:
        yield
        return
    module = pipeline_module(pipe)
    with _LOCK:
        original = module.calculate_dimensions

        def calculate_dimensions(target_area, ratio):
            return original(area if target_area == PIPELINE_AREA else target_area, ratio)

        calculate_dimensions.__wrapped__ = original
        module.calculate_dimensions = calculate_dimensions
        try:
            yield
        finally:
            module.calculate_dimensions = original
