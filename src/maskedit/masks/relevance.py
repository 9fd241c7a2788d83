"""A mask from the edit itself: where the instruction changes IP2P's noise prediction.

Watch Your Steps (Mirzaei et al., 2023) localises an instruction by its relevance map

    R = mean_c |ε(z_t, c_img, c_text) − ε(z_t, c_img, ∅)|

the size of the text-guidance term at each latent cell. IP2P already computes both predictions in
its classifier-free-guidance batch [text+image, image only, unconditional], so R is
`mean over channels |chunk0 − chunk1|` of the UNet output:

- `record_relevance` reads it from the edit's own forwards (a UNet forward hook, no extra call),
  for methods that apply the mask after the edit (`pixel`);
- `relevance_prepass` runs at most `MAX_PREPASS_FORWARDS` (4) extra batched UNet forwards, one per
  noise level, for methods that need the mask before the edit (`latent`, `guidance`, `crop`).

`relevance_to_mask` turns a map into an image-size mask (min-max normalised, Otsu by default);
`refine_with_sam` snaps that coarse mask to an object with SAM.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from maskedit.errors import InputError, MaskeditError, RunFailure
from maskedit.masks.sam import SamPredictor
from maskedit.masks.text import mask_box

RELEVANCE_LEVELS = (0.9, 0.7, 0.5, 0.3)  # fractions of the noise schedule for the pre-pass
MAX_PREPASS_FORWARDS = 4  # the pre-pass budget: one batched UNet forward per level, at most 4


def _relevance(noise: torch.Tensor) -> torch.Tensor:
    """(h, w) float32: mean over batch and channels of |ε_text − ε_image| in [text, image, …]."""
    full, image = noise.chunk(3)[:2] if noise.shape[0] % 3 == 0 else noise.chunk(2)
    return (full.float() - image.float()).abs().mean(dim=(0, 1))


class RelevanceRecorder:
    """Accumulates the relevance map of every classifier-free-guidance UNet forward it sees."""

    def __init__(self) -> None:
        self.calls = 0  # forwards recorded (IP2P's 3-way batches)
        self._sum: torch.Tensor | None = None

    def add(self, noise: torch.Tensor) -> None:
        rel = _relevance(noise)
        self._sum = rel if self._sum is None else self._sum + rel
        self.calls += 1

    def map(self) -> np.ndarray:
        """The mean map over the recorded steps, (h, w) float32 at latent size."""
        if self._sum is None:
            raise RunFailure(
                "mask from the edit: no classifier-free-guidance step was recorded; the relevance "
                "map needs text_cfg > 1 and image_cfg >= 1"
            )
        return (self._sum / self.calls).cpu().numpy().astype(np.float32)


@contextlib.contextmanager
def record_relevance(unet) -> Iterator[RelevanceRecorder]:
    """While active, every 3-way-batched UNet forward adds its relevance map to the recorder.

    The hook only reads the output: the edit is unchanged and costs no extra UNet call. It sees the
    output as earlier-registered hooks left it (register it before masked guidance, if both).
    """
    recorder = RelevanceRecorder()

    def hook(module, args, output):
        noise = output[0] if isinstance(output, tuple) else output.sample
        if noise.shape[0] % 3 == 0:  # IP2P's [text, image, uncond] batch; anything else: ignore
            recorder.add(noise.detach())

    handle = unet.register_forward_hook(hook)
    try:
        yield recorder
    finally:
        handle.remove()


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(levels)
    ok = 1 <= len(levels) <= MAX_PREPASS_FORWARDS and all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1 for v in levels
    )
    if not ok:
        raise InputError(
            f"relevance levels: got {levels!r}, expected 1 to {MAX_PREPASS_FORWARDS} noise "
            "fractions in (0, 1]"
        )
    return tuple(float(v) for v in levels)


def relevance_prepass(
    pipe,
    image_working: np.ndarray,
    instruction: str,
    *,
    seed: int,
    text_cfg: float,
    image_cfg: float,
    levels: Sequence[float] = RELEVANCE_LEVELS,
) -> tuple[np.ndarray, int]:
    """The relevance map before the edit: ((h, w) float32 at latent size, UNet forwards used).

    `image_working` is the H×W×3 uint8 image at the editor's working size. The source latent z₀
    (the VAE latent × scaling factor, as IP2P's image conditioning is encoded) is noised to each
    fraction in `levels` of the schedule with the scheduler's own `add_noise` and one ε drawn from
    `seed`; each level costs one UNet forward on the batch [text+image, image only]. The budget is
    one forward per level, at most `MAX_PREPASS_FORWARDS` (4). The guidance scales must be ones
    for which the edit has a text term (`text_cfg > 1`, `image_cfg >= 1`), as for the recorder.
    """
    # 1. Check inputs
    levels = _check_levels(levels)
    if not (text_cfg > 1 and image_cfg >= 1):
        raise InputError(
            f"mask from the edit: text_cfg {text_cfg} and image_cfg {image_cfg} leave the edit "
            "without a text-guidance term to localise; expected text_cfg > 1 and image_cfg >= 1"
        )
    try:
        total, calls = _prepass(pipe, image_working, instruction, seed, levels)
    except (MaskeditError, torch.cuda.OutOfMemoryError, MemoryError):
        raise
    except Exception as err:  # a scheduler that cannot noise to a level (no add_noise), …
        what = " ".join(f"{type(err).__name__}: {err}".split())
        raise RunFailure(
            f"the relevance pre-pass ({type(pipe.scheduler).__name__}) failed: {what}"
        ) from err
    if hasattr(pipe, "maybe_free_model_hooks"):
        pipe.maybe_free_model_hooks()
    return (total / calls).cpu().numpy().astype(np.float32), calls


def _longest_schedule(scheduler) -> int:
    """The most timesteps the scheduler lays out: its training steps, or for schedulers
    distilled to a few steps (LCM, TCD) their `original_inference_steps`, all they take."""
    steps = scheduler.config.num_train_timesteps
    return min(steps, scheduler.config.get("original_inference_steps") or steps)


def _prepass(pipe, image_working, instruction, seed, levels) -> tuple[torch.Tensor, int]:
    """Steps 2-4 of `relevance_prepass`: the summed map and the forwards it took."""
    from PIL import Image

    device = pipe._execution_device
    with torch.inference_mode():
        # 2. Encode the prompt: [instruction, ""] as the pipeline's first two guidance rows
        embeds = pipe._encode_prompt(instruction, device, 1, True)[:2]
        # 3. Image latents exactly as the pipeline prepares them (unscaled `latent_dist.mode()`)
        pixels = pipe.image_processor.preprocess(Image.fromarray(image_working))
        image_latents = pipe.prepare_image_latents(pixels, 1, 1, embeds.dtype, device, False)
        z0 = image_latents * pipe.vae.config.scaling_factor
        # a CPU generator, as every editor call draws its noise: the same ε on every device
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(z0.shape, generator=generator, dtype=torch.float32)
        noise = noise.to(device=device, dtype=z0.dtype)
        cond = torch.cat([image_latents, image_latents])
        # 4. One batched forward per noise level
        total = None
        calls = 0
        for level in levels:
            # A fresh scheduler per level: its step index is set by the first timestep it sees.
            scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
            scheduler.set_timesteps(_longest_schedule(scheduler), device=device)
            ts = scheduler.timesteps
            t = ts[round((1 - level) * (len(ts) - 1))]
            z_t = scheduler.add_noise(z0, noise, t.reshape(1))
            model_in = scheduler.scale_model_input(torch.cat([z_t, z_t]), t)
            out = pipe.unet(
                torch.cat([model_in, cond], dim=1),
                t,
                encoder_hidden_states=embeds,
                return_dict=False,
            )[0]
            calls += 1
            rel = _relevance(out)
            total = rel if total is None else total + rel
    return total, calls


def _check_map(rel: np.ndarray) -> np.ndarray:
    rel = np.asarray(rel, dtype=np.float64)
    if rel.ndim != 2 or not np.isfinite(rel).all():
        raise InputError(f"relevance map: got shape {rel.shape}, expected a finite (h, w) array")
    return rel


def relevance_to_image(rel: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """The map min-max normalised to [0, 1] and resized bilinearly to H×W (float32).

    A flat map (all zeros: the instruction changes nothing) gives all zeros.
    """
    rel = _check_map(rel)
    span = rel.max() - rel.min()
    norm = (rel - rel.min()) / span if span > 0 else np.zeros_like(rel)
    up = torch.nn.functional.interpolate(
        torch.from_numpy(norm)[None, None],
        size=tuple(image_hw),
        mode="bilinear",
        align_corners=False,
    )[0, 0]
    return up.clamp(0, 1).numpy().astype(np.float32)


def relevance_to_mask(
    rel: np.ndarray, image_hw: tuple[int, int], method: str | float = "otsu"
) -> tuple[np.ndarray, float]:
    """An H×W bool mask from an (h, w) relevance map, and the threshold used (on [0, 1]).

    The map is min-max normalised to [0, 1]. The threshold is `method` itself when a number, or
    with "otsu" Otsu's split of the latent map's values (`skimage.filters.threshold_otsu`), placed
    midway in the gap between the two classes (skimage returns the gap's lower edge, which would
    grow the mask by the whole interpolation ramp). The normalised map is then resized bilinearly
    to H×W and thresholded (`>`), so the edge is smooth rather than 8-pixel blocks. A flat map
    (e.g. all zeros) gives an empty mask, with threshold 1.0 for "otsu".
    """
    rel = _check_map(rel)
    if isinstance(method, str):
        if method != "otsu":
            raise InputError(f"relevance threshold: got {method!r}, expected 'otsu' or a number")
        threshold = None
    elif isinstance(method, bool) or not isinstance(method, int | float) or not 0 <= method < 1:
        raise InputError(
            f"relevance threshold: got {method!r}, expected 'otsu' or a number in [0, 1)"
        )
    else:
        threshold = float(method)
    h, w = (int(v) for v in image_hw)
    span = rel.max() - rel.min()
    if span <= 0:
        return np.zeros((h, w), dtype=bool), 1.0 if threshold is None else threshold
    if threshold is None:
        from skimage.filters import threshold_otsu

        norm = (rel - rel.min()) / span
        otsu = float(threshold_otsu(norm))
        below, above = norm[norm <= otsu], norm[norm > otsu]
        threshold = (float(below.max()) + float(above.min())) / 2 if above.size else otsu
    return relevance_to_image(rel, (h, w)) > threshold, float(threshold)


def refine_with_sam(
    sam: SamPredictor, image: np.ndarray, coarse: np.ndarray, rel_image: np.ndarray
) -> np.ndarray:
    """Snap a coarse relevance mask to an object: SAM with the mask's box and the map's peak.

    `image` H×W×3 uint8 (the image SAM embeds), `coarse` H×W bool, `rel_image` H×W float (the map
    at image size, e.g. `relevance_to_image`). The prompts are the bounding box of `coarse`
    (x1, y1 exclusive) and one include-point at the highest value of `rel_image` inside `coarse`,
    both in image pixels. An empty coarse mask is returned as is (SAM is not called).
    """
    coarse = np.asarray(coarse, dtype=bool)
    if coarse.shape != image.shape[:2] or np.shape(rel_image) != image.shape[:2]:
        raise InputError(
            f"refine: mask {coarse.shape} and map {np.shape(rel_image)} must match the image "
            f"{image.shape[:2]}"
        )
    box = mask_box(coarse)
    if box is None:
        return coarse.copy()
    peak = np.where(coarse, np.asarray(rel_image, dtype=np.float64), -np.inf)
    y, x = np.unravel_index(int(np.argmax(peak)), peak.shape)
    sam.set_image(image)
    pred = sam.predict(
        points=np.array([[float(x), float(y), 1.0]]), box=np.asarray(box), multimask=False
    )
    return pred.mask.copy()
