"""Loading: `from_pretrained` of what `maskedit.families` names, and the loaded `Models`.

This package (with `maskedit.tiny`) is the only place that builds or loads networks; nothing loads
at import time. `hub` says where weights come from and where they run, `segmenters` and `text`
load the segmenters and the phrase → mask models; this module loads the editor and the metric
backbones and puts everything together (`load_models`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import torch

from maskedit.config import WORKING_SIZE_RANGE, ModelOptions
from maskedit.errors import CheckpointError, InputError, MissingWeightsError
from maskedit.families import (
    EDITORS,
    EditorSpec,
    default_editor_for,
    editor_spec,
    family_of,
    get_segmenter,
)
from maskedit.masks.sam import SamPredictor
from maskedit.models.hub import (
    DEFAULT_CLIP_ID,
    DEFAULT_DOWNLOADS,
    download,
    hub_cache_dir,
    load_pair,
    missing_weights,
    offline,
    pick_device,
    pick_dtype,
    revision_of,
)
from maskedit.models.segmenters import DEFAULT_SAM_ID, load_sam, load_segmenter
from maskedit.models.text import (
    DEFAULT_CLIPSEG_ID,
    DEFAULT_GDINO_ID,
    load_clipseg,
    load_grounding_dino,
    load_text_models,
)
from maskedit.speedups import Speedups, apply_speedups
from maskedit.tiny import TINY_NOTE, TINY_WORKING_SIZE

DEFAULT_IP2P_ID = EDITORS["ip2p"].default_id
REAL_WORKING_SIZE = 512  # IP2P was trained at 256-512; the study edited at 512
__all__ = [
    "DEFAULT_CLIPSEG_ID", "DEFAULT_CLIP_ID", "DEFAULT_DOWNLOADS", "DEFAULT_GDINO_ID",
    "DEFAULT_IP2P_ID", "DEFAULT_SAM_ID", "Models", "download", "hub_cache_dir", "load_clip",
    "load_clipseg", "load_editor", "load_grounding_dino", "load_ip2p", "load_models", "load_sam",
    "load_segmenter", "load_text_models", "offline", "pick_device", "pick_dtype",
]  # fmt: skip


def load_editor(
    editor: str = "ip2p",
    model_id: str | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
):
    """`from_pretrained` of an editor's diffusers pipeline (hub id or local folder).

    The class comes from the editor table (`maskedit.families.EDITORS`); an fp16 variant is tried
    first on accelerators where the checkpoint ships one. A checkpoint of another family of the
    same class (a FLUX.2 [klein] Base checkpoint under `flux2-klein`) is named in one line.
    """
    import diffusers

    spec = editor_spec(editor)
    model_id = model_id or spec.default_id
    device = device or pick_device()
    dtype = dtype or pick_dtype(device, spec=spec)
    pipeline_class = getattr(diffusers, spec.pipeline_class)
    kwargs: dict[str, Any] = dict(torch_dtype=dtype)
    if spec.family.safety_checker:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    fp16 = dtype == torch.float16 and spec.fp16_variant
    attempts = [{"variant": "fp16"}, {}] if fp16 else [{}]
    last: Exception | None = None
    for extra in attempts:
        try:
            pipe = pipeline_class.from_pretrained(model_id, **kwargs, **extra)
            break
        except (OSError, ValueError) as err:  # missing files, no network, no such variant
            last = err
    else:
        raise missing_weights(model_id, spec.role, "--ip2p", last) from None
    if spec.family.checks_ip2p_unet:
        check_ip2p(pipe, model_id)
    check_family(pipe, spec, model_id)
    use_authors_scheduler(pipe, spec)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_ip2p(
    model_id: str = DEFAULT_IP2P_ID,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
):
    """`StableDiffusionInstructPix2PixPipeline.from_pretrained` of a hub id or a local folder."""
    return load_editor("ip2p", model_id, device, dtype)


def use_authors_scheduler(pipe, spec: EditorSpec) -> None:
    """Put the scheduler the editor's authors run it with (the table's) on the pipeline, built
    from the checkpoint's own scheduler config; a table row naming none keeps the shipped one."""
    if spec.scheduler is None or type(pipe.scheduler).__name__ == spec.scheduler:
        return
    import diffusers

    pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(pipe.scheduler.config)


def check_family(pipe, spec: EditorSpec, model_id: str) -> None:
    """The loaded pipeline is of the editor's family (FLUX.2 [klein] and its Base share a class
    and differ in `is_distilled`): else one line naming the editor that fits it."""
    family = family_of(pipe)
    if family is not spec.family:
        raise CheckpointError(
            f"{spec.role} model '{model_id}': it is a {family.name} checkpoint "
            f"({', '.join(f'{k} {v}' for k, v in family.config)}); use --editor "
            f"{default_editor_for(family)}"
        )


def check_components(pipe, denoiser: str) -> None:
    """Every component the pipeline's call uses is there: those its class does not list as
    optional, and those maskedit reads itself. diffusers builds a pipeline with a None in any
    slot, and it fails only mid-call, as an AttributeError naming no component."""
    expected, _ = type(pipe)._get_signature_keys(pipe)
    needed = set(expected) - set(getattr(pipe, "_optional_components", []))
    needed |= {denoiser, "vae", "scheduler", "tokenizer"}
    for name in sorted(needed):
        if getattr(pipe, name, None) is None:
            raise InputError(
                f"editor pipeline {type(pipe).__name__}: its {name} is None; build it with "
                f"every component its call uses ({', '.join(sorted(needed))})"
            )


def check_weights(pipe) -> None:
    """Every network of the pipeline holds its weights. One on the meta device (`pipe.to("meta")`,
    built under `init_empty_weights`) fails only mid-edit, as "Cannot copy out of meta tensor".
    Networks offloaded module by module (accelerate's `_hf_hook`, diffusers' `_diffusers_hook`)
    may wait there with a hook that brings their weights: those are taken as they are."""
    empty = sorted(
        name
        for name, part in pipe.components.items()
        if isinstance(part, torch.nn.Module)
        and any(p.is_meta for p in part.parameters())
        and not any(hasattr(m, "_hf_hook") or hasattr(m, "_diffusers_hook") for m in part.modules())
    )
    if empty:
        have = "has" if len(empty) == 1 else "have"
        raise InputError(
            f"editor pipeline {type(pipe).__name__}: its {', '.join(empty)} {have} no weights "
            "(they are on the meta device); load them (from_pretrained, or load_state_dict with "
            "assign=True) before wrapping it"
        )


def check_ip2p(pipe, model_id: str) -> None:
    """An IP2P UNet reads 8 channels (noisy latents + source latents); SD text-to-image reads 4."""
    channels = pipe.unet.config.in_channels
    latent = pipe.vae.config.latent_channels
    if channels != 2 * latent:
        raise CheckpointError(
            f"InstructPix2Pix model '{model_id}': its UNet takes {channels} input channels, an "
            f"InstructPix2Pix UNet takes {2 * latent} (noisy + source latents); is it a "
            "text-to-image or inpainting checkpoint?"
        )


def load_clip(model_id: str = DEFAULT_CLIP_ID, device: torch.device | None = None):
    """(CLIPModel, CLIPProcessor) for the CLIP metrics; "tiny" builds a random one in code."""
    from maskedit.tiny import build_tiny_clip

    return load_pair(
        model_id, device, ("CLIPModel", "CLIPProcessor"), "CLIP", "--clip", build_tiny_clip
    )


@dataclass
class Models:
    """The loaded editor and segmenter plus what a record needs to know about them."""

    pipe: Any  # a diffusers pipeline of one of the editor families (editing/editors.py)
    sam: SamPredictor | None = None
    kind: str = "custom"  # "real" (hub/local checkpoints), "tiny" (random, built in code), "custom"
    ip2p_id: str = "custom"
    sam_id: str | None = None
    working_size: int = REAL_WORKING_SIZE
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    editor: str = "ip2p"  # a key of maskedit.families.EDITORS (its defaults apply)
    segmenter: str = "sam"  # a key of maskedit.families.SEGMENTERS
    # phrase → mask models by back-end ("clipseg", "grounded-sam"): (model, processor) pairs
    text: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    speedups: dict[str, Any] = field(default_factory=dict)  # what apply_speedups applied
    # where the scheduler comes from: "editor table" (the authors' choice, put on at load),
    # "checkpoint" (as shipped: the table names none) or "user" (from_components keeps theirs)
    scheduler_from: str = "checkpoint"
    # what `load_models` was asked for (None: built by the caller); runs fingerprint with it
    options: ModelOptions | None = None

    @property
    def device(self) -> torch.device:
        """Where the editor computes, read each time (a user may move their pipeline after
        wrapping it; ~10 ms with an SD-1.5 UNet, once per record). With `--cpu-offload` the
        weights wait on the CPU between calls and run on the GPU: diffusers'
        `_execution_device` says the GPU, where `pipe.device` would say the CPU."""
        return getattr(self.pipe, "_execution_device", None) or self.pipe.device

    @classmethod
    def from_components(
        cls, pipe, sam_model=None, sam_processor=None, *, working_size: int | None = None
    ) -> Models:
        """Wrap pipelines the user built themselves (any pipeline of an editor family: IP2P,
        SDXL-IP2P, FLUX.1 Kontext, Qwen-Image-Edit(-Plus), FLUX.2 [klein]; any transformers
        SAM). Unset, the working size is the editor's, like its steps and guidance."""
        if (sam_model is None) != (sam_processor is None):
            given, missing = ("sam_model", "sam_processor")[:: 1 if sam_model is not None else -1]
            raise InputError(
                f"from_components: {given} given without {missing}; pass both (a transformers "
                "SAM model and its processor), or neither"
            )
        check_working_size(working_size)
        sam = SamPredictor(sam_model, sam_processor) if sam_model is not None else None
        family = family_of(pipe)
        check_components(pipe, family.denoiser)
        check_weights(pipe)
        if family.checks_ip2p_unet:  # an SD text-to-image UNet in an IP2P pipeline, say
            check_ip2p(pipe, str(getattr(pipe, "name_or_path", None) or type(pipe).__name__))
        editor = default_editor_for(family)
        return cls(
            editor=editor,
            pipe=pipe,
            sam=sam,
            kind="custom",
            ip2p_id=str(getattr(pipe, "name_or_path", None) or "custom"),
            sam_id=str(getattr(sam_model, "name_or_path", None) or "custom") if sam else None,
            segmenter=sam.family if sam else "sam",  # by the model's class: sam, sam-hq, sam2
            working_size=working_size or editor_spec(editor).working_size,
            scheduler_from="user",  # a pipeline the user built keeps the scheduler they chose
        )

    def describe(self) -> dict[str, Any]:
        """Ids, revisions, classes, device and dtype, for record.json."""
        pipe = self.pipe
        return {
            "kind": self.kind,
            "note": self.note,
            "ip2p": {
                "id": self.ip2p_id,
                "revision": revision_of(getattr(pipe, "name_or_path", "")),
                "class": type(pipe).__name__,
                "scheduler": type(pipe.scheduler).__name__,
                "scheduler_from": self.scheduler_from,
                "dtype": str(pipe.dtype).removeprefix("torch."),
            },
            "editor": self.editor,
            "segmenter": self.segmenter if self.sam is not None else None,
            "sam": None
            if self.sam is None
            else {
                "id": self.sam_id,
                "revision": revision_of(getattr(self.sam.model, "name_or_path", "")),
                "class": type(self.sam.model).__name__,
            },
            "device": str(self.device),
            "working_size": self.working_size,
            "speedups": self.speedups,
        }


def check_working_size(size: Any) -> None:
    """None (the editor's own), or a long side `EditSettings.working_size` takes: one line."""
    low, high = WORKING_SIZE_RANGE
    whole = isinstance(size, Integral) and not isinstance(size, bool)
    if size is not None and not (whole and low <= size <= high):
        raise InputError(
            f"working_size: got {size!r}, expected a whole number from {low} to {high} "
            "(the long side edited at, in pixels), or None for the editor's own"
        )


def models_given(models: Any) -> Models:
    """`models` as `edit` and `edit_many` take it; a pipeline passed as is (the usual first try)
    is told how to wrap it, before anything is read."""
    if not isinstance(models, Models):
        raise InputError(
            f"models: got {type(models).__name__}, expected maskedit.Models (load_models(...), "
            "or wrap a pipeline with maskedit.Models.from_components(pipe, ...))"
        )
    return models


def load_models(options: ModelOptions | str = "real", /, **keywords: Any) -> Models:
    """Load the editor (and SAM when prompts need it) once, for any number of edits.

    `options` (`maskedit.config.ModelOptions`, checked before anything loads) says what and how:
    `editor` picks the pipeline family and its defaults (a key of `maskedit.families.EDITORS`:
    ip2p, magicbrush, ip2p-xl, kontext, qwen-edit, qwen-edit-plus, flux2-klein,
    flux2-klein-base), `editor_id` its checkpoint (e.g. Qwen/Qwen-Image-Edit-2509);
    `text_backends` ("clipseg", "grounded-sam") loads the phrase → mask models a run needs.
    `load_models("tiny", editor="kontext", need_sam=False)` is short for
    `load_models(ModelOptions(kind="tiny", editor="kontext", need_sam=False))`, with `ip2p=` and
    `sam=` naming the checkpoints.

    `cpu_offload` keeps the weights in CPU RAM and moves each part to the GPU only while it runs
    (diffusers' model offload): slower, for GPUs too small for the fp16 pipeline.
    `speedups` (torch.compile, channels_last, VAE tiling; see maskedit.speedups) are applied
    once here and recorded.
    """
    if isinstance(options, str):
        options = ModelOptions(**{"kind": options, **keywords})
    elif keywords:
        raise TypeError("load_models: give a ModelOptions or keyword arguments, not both")
    models = _load_models(options)
    models.options = options
    return models


def _load_models(o: ModelOptions) -> Models:
    spec = editor_spec(o.editor)
    dev = pick_device(o.device)
    if o.kind == "tiny":
        from maskedit.tiny import build_tiny_editor

        pipe = build_tiny_editor(o.editor).to(dev)
        use_authors_scheduler(pipe, spec)
        from maskedit.tiny import build_tiny_segmenter

        predictor = SamPredictor(*build_tiny_segmenter(o.segmenter)) if o.need_sam else None
        if predictor is not None:
            predictor.model.to(dev)
        models = Models(
            pipe=pipe,
            sam=predictor,
            kind="tiny",
            ip2p_id=f"tiny-random-{spec.family.name}",
            sam_id=f"tiny-random-{o.segmenter}" if o.need_sam else None,
            segmenter=o.segmenter,
            working_size=o.working_size or TINY_WORKING_SIZE,
            note=TINY_NOTE,
            editor=o.editor,
            scheduler_from="editor table" if spec.scheduler else "checkpoint",
            text=load_text_models(o.text_backends, "tiny", dev),
        )
        return with_speedups(models, o.speedups)
    dt = pick_dtype(dev, o.dtype, spec)
    if o.cpu_offload and dev.type != "cuda":
        raise InputError("--cpu-offload needs a CUDA GPU (it streams the model to it)")
    ip2p = o.editor_id or spec.default_id
    pipe = load_editor(o.editor, ip2p, torch.device("cpu") if o.cpu_offload else dev, dt)
    if o.cpu_offload:
        pipe.enable_model_cpu_offload(device=dev)
    predictor = load_segmenter(o.segmenter, o.segmenter_id, dev, dt) if o.need_sam else None
    sam = o.segmenter_id
    if o.need_sam:
        sam = sam or get_segmenter(o.segmenter).default_id
    name = getattr(pipe, "name_or_path", ip2p)
    models = Models(
        pipe=pipe,
        sam=predictor,
        kind="real",
        ip2p_id=ip2p,
        sam_id=sam if o.need_sam else None,
        working_size=o.working_size or spec.working_size,
        extra={"resolved": str(name)},
        editor=o.editor,
        scheduler_from="editor table" if spec.scheduler else "checkpoint",
        segmenter=o.segmenter,
        text=load_text_models(o.text_backends, o.text_model, dev),
    )
    return with_speedups(models, o.speedups)


def with_speedups(models: Models, speedups: Speedups | None) -> Models:
    """Apply the speed options once, and keep what was applied for record.json."""
    sam_model = models.sam.model if models.sam is not None else None
    models.speedups = apply_speedups(models.pipe, sam_model, speedups or Speedups())
    return models


def clip_for_metrics(
    choice: str, *, tiny: bool, device: str | None = None, default: str | None = None
):
    """The CLIP pair for metrics, or None.

    "none" → None; "auto" → the tiny CLIP for tiny models, else `default` (None: the default
    CLIP, ViT-B/32; a PIE-Bench run passes its ViT-L/14), skipped with a warning when its weights
    are missing; anything else is a hub id or folder that must load.
    """
    import warnings

    from maskedit.errors import MaskeditWarning

    if choice == "none":
        return None
    real = default or DEFAULT_CLIP_ID
    model_id = ("tiny" if tiny else real) if choice == "auto" else choice
    try:
        return load_clip(model_id, pick_device(device))
    except MissingWeightsError as err:
        if choice != "auto":
            raise
        warnings.warn(f"CLIP metrics skipped: {err}", MaskeditWarning, stacklevel=1)
        return None
