"""THE table of editors and segmenters: ids, classes, capabilities and defaults.

Pure data (no torch, nothing loads at import), so the CLI can list choices cheaply. Nothing else in
maskedit compares editor or segmenter names: code asks a row for a capability
(`family.text_guidance`, `family.packed_latents`, ...) instead.

An *editor* is a checkpoint with its defaults (InstructPix2Pix, MagicBrush, ...); a *family* is how
a diffusers pipeline class is driven (several editors share one: MagicBrush loads as IP2P).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from maskedit.errors import InputError


@dataclass(frozen=True)
class Family:
    """How maskedit drives one diffusers pipeline class."""

    name: str
    pipeline_class: str  # a class in `diffusers`
    denoiser: str  # the pipeline attribute that predicts noise: "unet" or "transformer"
    # the classifier-free guidance term the `guidance` method masks (docs/methods.md):
    #   "ip2p-3way": IP2P's [text+image, image, uncond] batch; its text term (relevance reads it)
    #   "true-cfg": separate positive and negative calls, combined and norm-rescaled (Qwen)
    #   "cfg": separate positive and negative calls, combined (FLUX.2 [klein] Base)
    #   None: guidance- or step-distilled, no separate term to mask
    guidance_kind: str | None
    image_guidance: bool  # takes `image_guidance_scale`
    packed_latents: bool  # latents are 2×2-packed tokens (FLUX, Qwen), not (B, C, h, w) maps
    flow_matching: bool  # a flow-matching scheduler (`scale_noise`), not DDPM `add_noise`
    # the per-step hook: "on_step_end" (`callback_on_step_end`) or "legacy" (`callback`, in place)
    step_callback: str
    # the source tokens follow the noise tokens in the denoiser input (FLUX, Qwen); else they are
    # channels after the noisy latents, *unscaled* (IP2P's `latent_dist.mode()`)
    source_tokens_after_noise: bool
    pass_size: bool  # needs height/width, or it resizes to its own default size
    # FLUX.1 Kontext rescales every request to `max_area` and snaps the aspect ratio
    pass_max_area: bool = False
    safety_checker: bool = False  # the pipeline takes `safety_checker=None` (SD 1.x)
    checks_ip2p_unet: bool = False  # its UNet must read 2 × latent channels
    batchable: bool = True  # lists of prompts/images/generators give per-sample results
    guidance_arg: str = "guidance_scale"  # the call argument the text guidance scale goes to
    negative_prompt: str | None = None  # passed as the negative prompt (Qwen's model cards: " ")
    # FLUX.2: 2×2 latent patches become channels before the tokens are packed
    patchified_latents: bool = False
    size_multiple: int | None = None  # working sides must be multiples of it (None: from the VAE)
    # Qwen-Image-Edit resizes every image to ~1 MP with no argument for it: maskedit holds the
    # source at the working size (`maskedit.editing.source_area`), as `max_area` does for Kontext
    source_area_patch: bool = False
    # FLUX.2 [klein] shrinks images over this many pixels: a larger working size is refused
    max_source_area: int | None = None
    references: bool = False  # takes more images after the source (`--reference`)
    # `mask_from: edit` before the edit (methods but pixel): the relevance pre-pass calls the
    # denoiser itself with SD-1.5 IP2P's prompt encoding and conditioning
    relevance_prepass: bool = False
    min_image_side: int = 1  # the pipeline refuses smaller images (FLUX.2: 64 px)
    max_image_aspect: float | None = None  # ... and more elongated ones (FLUX.2: 8:1)
    # pipeline config values a pipeline of this family has (`is_distilled` tells klein's apart)
    config: tuple[tuple[str, object], ...] = ()

    @property
    def text_guidance(self) -> bool:
        """IP2P's separate text term in one 3-way batch (masked guidance and relevance read it)."""
        return self.guidance_kind == "ip2p-3way"

    @property
    def masked_guidance(self) -> bool:
        """Whether the `guidance` method has a guidance term to mask."""
        return self.guidance_kind is not None


@dataclass(frozen=True)
class EditorSpec:
    """One `--editor` choice: its checkpoint, family and the defaults its authors run it with."""

    name: str
    default_id: str
    family: Family
    steps: int
    text_cfg: float
    image_cfg: float | None  # None: the editor has no image-guidance scale
    working_size: int  # long side, pixels
    cuda_dtype: str  # the published dtype on GPUs ("fp16" or "bf16"); CPU always runs fp32
    fp16_variant: bool  # it ships `*.fp16.safetensors` files (`variant="fp16"`) to try first
    role: str  # how the one-line missing-weights message names it
    # the scheduler its authors run it with (a diffusers class), put on the pipeline at load;
    # None: the one the checkpoint ships
    scheduler: str | None = None
    note: str = ""
    ids: tuple[str, ...] = ()  # the released checkpoints (`--editor-id`), default included

    @property
    def pipeline_class(self) -> str:
        return self.family.pipeline_class

    @property
    def text_guidance(self) -> bool:
        return self.family.text_guidance

    @property
    def masked_guidance(self) -> bool:
        return self.family.masked_guidance


IP2P = Family(
    name="ip2p",
    pipeline_class="StableDiffusionInstructPix2PixPipeline",
    denoiser="unet",
    guidance_kind="ip2p-3way",
    image_guidance=True,
    packed_latents=False,
    flow_matching=False,
    step_callback="on_step_end",
    source_tokens_after_noise=False,
    pass_size=False,
    safety_checker=True,
    checks_ip2p_unet=True,
    relevance_prepass=True,
)
IP2P_XL = replace(
    IP2P,
    name="ip2p-xl",
    pipeline_class="StableDiffusionXLInstructPix2PixPipeline",
    step_callback="legacy",  # it has no callback_on_step_end
    pass_size=True,  # without height/width it resizes to its default square
    safety_checker=False,
    relevance_prepass=False,  # SDXL's two text encoders and size conditioning: not written
)
KONTEXT = Family(
    name="kontext",
    pipeline_class="FluxKontextPipeline",
    denoiser="transformer",
    guidance_kind=None,  # guidance-distilled: one guidance scale, no text/image split
    image_guidance=False,
    packed_latents=True,
    flow_matching=True,
    step_callback="on_step_end",
    source_tokens_after_noise=True,
    pass_size=True,
    pass_max_area=True,
)
# Qwen-Image-Edit(-Plus): true CFG against a negative prompt, the combination rescaled to the
# positive prediction's norm per token; the source's packed tokens after the noise tokens (Plus:
# then each reference's); every image resized to ~1 MP in 32-pixel steps unless held.
QWEN_EDIT = replace(
    KONTEXT,
    name="qwen-edit",
    pipeline_class="QwenImageEditPipeline",
    guidance_kind="true-cfg",
    pass_max_area=False,
    guidance_arg="true_cfg_scale",  # `guidance_scale` is for guidance-distilled checkpoints
    negative_prompt=" ",  # the model cards' negative prompt: without one there is no CFG
    size_multiple=32,  # `calculate_dimensions` rounds both sides to 32
    source_area_patch=True,
)
QWEN_EDIT_PLUS = replace(
    QWEN_EDIT,
    name="qwen-edit-plus",
    pipeline_class="QwenImageEditPlusPipeline",
    batchable=False,  # the pipeline refuses batch_size > 1
    references=True,  # image=[source, *references]: "Picture 1" is the one edited
)
# FLUX.2 [klein]: Qwen3 prompt embeddings; the images' patchified, batch-normalised and packed
# tokens after the noise tokens; images are references shared by the whole batch, so different
# sources cannot share a call. The 4B/9B models are step-distilled (no CFG); Base runs CFG.
FLUX2_KLEIN = replace(
    KONTEXT,
    name="flux2-klein",
    pipeline_class="Flux2KleinPipeline",
    guidance_kind=None,  # step-distilled: guidance_scale is ignored
    pass_max_area=False,
    batchable=False,
    patchified_latents=True,
    max_source_area=1024 * 1024,  # larger images are shrunk to 1 MP by the pipeline
    min_image_side=64,  # `check_image_input`
    max_image_aspect=8.0,  # `check_image_input`, on the source at working size and each reference
    references=True,
    config=(("is_distilled", True),),
)
FLUX2_KLEIN_BASE = replace(
    FLUX2_KLEIN, name="flux2-klein-base", guidance_kind="cfg", config=(("is_distilled", False),)
)
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (IP2P, IP2P_XL, KONTEXT, QWEN_EDIT, QWEN_EDIT_PLUS, FLUX2_KLEIN, FLUX2_KLEIN_BASE)
}

# Defaults: IP2P's from its paper and edit_cli (20 Euler-ancestral steps were the seed study's);
# SDXL-IP2P's model card (768 px); FLUX.1 Kontext's diffusers docs (28 steps, guidance 2.5, 1024²,
# bf16: FLUX is trained and shipped in bf16 and its T5 overflows in fp16). Qwen-Image-Edit's model
# card: 50 steps, true_cfg_scale 4, negative prompt " "; -2509/-2511's: 40 steps, the same CFG.
# FLUX.2 [klein]'s: 4 steps, guidance_scale 1 (4B/9B), 50 steps and 4 (Base), 1024². All three
# are published in bf16. Their schedulers are the ones the checkpoints ship (flow matching).
INSTRUCT_PIX2PIX = EditorSpec(
    name="ip2p",
    default_id="timbrooks/instruct-pix2pix",
    family=IP2P,
    steps=20,
    text_cfg=7.5,
    image_cfg=1.5,
    working_size=512,
    cuda_dtype="fp16",
    fp16_variant=True,  # its unet, text_encoder, vae and safety_checker have fp16 files
    role="InstructPix2Pix",
    scheduler="EulerAncestralDiscreteScheduler",  # its model card and edit_cli
)
# The transformer editors below share Kontext's row but for what each one changes.
KONTEXT_EDITOR = EditorSpec(
    name="kontext",
    default_id="black-forest-labs/FLUX.1-Kontext-dev",
    family=KONTEXT,
    steps=28,
    text_cfg=2.5,
    image_cfg=None,
    working_size=1024,
    cuda_dtype="bf16",
    fp16_variant=False,
    role="editor 'kontext'",
    note="guidance-distilled: one guidance scale, no text/image split",
)
# The other transformer editors: (name, family, steps, guidance scale, note, released ids; the
# first is the default, but for Qwen-Image-Edit-Plus the newest). Qwen's scale is true_cfg_scale
# against the negative prompt " "; FLUX.2 [klein]'s 1.0 is its card's (ignored: step-distilled);
# [klein] Base's CFG runs against the empty prompt.
_TRANSFORMER_EDITORS = (
    ("qwen-edit", QWEN_EDIT, 50, 4.0,
     "true CFG against the negative prompt ' ', rescaled to the positive's norm",
     ("Qwen/Qwen-Image-Edit",)),
    ("qwen-edit-plus", QWEN_EDIT_PLUS, 40, 4.0,
     "Qwen-Image-Edit with reference images; true CFG against ' '",
     ("Qwen/Qwen-Image-Edit-2509", "Qwen/Qwen-Image-Edit-2511")),
    ("flux2-klein", FLUX2_KLEIN, 4, 1.0, "step-distilled: no classifier-free guidance",
     ("black-forest-labs/FLUX.2-klein-4B", "black-forest-labs/FLUX.2-klein-9B")),
    ("flux2-klein-base", FLUX2_KLEIN_BASE, 50, 4.0,
     "FLUX.2 [klein] before step distillation: CFG against the empty prompt",
     ("black-forest-labs/FLUX.2-klein-base-4B", "black-forest-labs/FLUX.2-klein-base-9B")),
)  # fmt: skip
EDITORS: dict[str, EditorSpec] = {
    e.name: e
    for e in (
        INSTRUCT_PIX2PIX,
        # MagicBrush fine-tunes IP2P and runs like it; its checkpoints ship PNDM (20 steps → 21
        # timesteps), but MagicBrush, like IP2P, is run with Euler-ancestral. The checkpoint
        # holds fp32 weights only (.bin files, no fp16 variant).
        replace(
            INSTRUCT_PIX2PIX,
            name="magicbrush",
            default_id="vinesmsuic/magicbrush-jul7",
            fp16_variant=False,
            role="editor 'magicbrush'",
            note="IP2P fine-tuned on MagicBrush",
        ),
        replace(
            INSTRUCT_PIX2PIX,
            name="ip2p-xl",
            default_id="diffusers/sdxl-instructpix2pix-768",
            family=IP2P_XL,
            steps=30,
            text_cfg=3.0,
            working_size=768,
            # fp32 weights only: its pipeline docstring's example loads them with
            # torch_dtype=torch.float16 and no variant
            fp16_variant=False,
            role="editor 'ip2p-xl'",
            scheduler=None,  # the one it ships
        ),
        KONTEXT_EDITOR,
        *(
            replace(
                KONTEXT_EDITOR,
                name=name,
                default_id=ids[0] if name != "qwen-edit-plus" else ids[-1],
                family=family,
                steps=steps,
                text_cfg=cfg,
                role=f"editor '{name}'",
                note=note,
                ids=ids,
            )
            for name, family, steps, cfg, note, ids in _TRANSFORMER_EDITORS
        ),
    )
}
DEFAULT_EDITOR = "ip2p"


def editor_spec(name: str) -> EditorSpec:
    """The table row for `--editor NAME`, or a one-line error listing the choices."""
    if name not in EDITORS:
        raise InputError(f"--editor '{name}': choose one of {', '.join(EDITORS)}")
    return EDITORS[name]


def family_of(pipe) -> Family:
    """The family of a pipeline object (any subclass of a known diffusers class; where several
    families share a class, the one whose `config` values the pipeline's config has)."""
    classes = {f.pipeline_class for f in FAMILIES.values()}
    for cls in type(pipe).__mro__:
        if cls.__name__ in classes:
            config = getattr(pipe, "config", {})
            for family in FAMILIES.values():
                if family.pipeline_class == cls.__name__ and all(
                    config.get(key) == value for key, value in family.config
                ):
                    return family
    raise InputError(
        f"editor pipeline {type(pipe).__name__}: not one of {', '.join(sorted(classes))}"
    )


def default_editor_for(family: Family) -> str:
    """The editor whose defaults a user's own pipeline of this family runs with."""
    return next(name for name, spec in EDITORS.items() if spec.family is family)


@dataclass(frozen=True)
class Segmenter:
    """One `--segmenter` choice: its checkpoints and how transformers loads them."""

    name: str
    family: str  # the SamPredictor code path: "sam" (also SlimSAM), "sam-hq" or "sam2"
    default_id: str
    ids: tuple[str, ...]  # the known checkpoints, smallest first; any local folder works too
    model_class: str  # a class in `transformers`
    processor_class: str  # a class in `transformers`, or "Sam2LiteProcessor" (maskedit's own)
    model_types: tuple[str, ...]  # the config.json `model_type`s this family accepts
    note: str


SAM = Segmenter(
    name="sam",
    family="sam",
    default_id="facebook/sam-vit-huge",
    ids=("facebook/sam-vit-base", "facebook/sam-vit-large", "facebook/sam-vit-huge"),
    model_class="SamModel",
    processor_class="SamProcessor",
    model_types=("sam",),
    note="Segment Anything (ViT-B/L/H image encoder); the study's segmenter",
)
SEGMENTERS: dict[str, Segmenter] = {
    s.name: s
    for s in (
        SAM,
        # SlimSAM prunes SAM's ViT-B: a smaller SamModel, loaded and run as SAM is
        replace(
            SAM,
            name="slimsam",
            default_id="Zigeng/SlimSAM-uniform-50",
            ids=(
                "Zigeng/SlimSAM-uniform-77",
                "Zigeng/SlimSAM-uniform-50",
                "nielsr/slimsam-50-uniform",
            ),
            note="SlimSAM: SAM ViT-B pruned to 50% / 77%, sized for CPUs",
        ),
        Segmenter(
            name="sam-hq",
            family="sam-hq",
            default_id="syscv-community/sam-hq-vit-base",
            ids=(
                "syscv-community/sam-hq-vit-base",
                "syscv-community/sam-hq-vit-large",
                "syscv-community/sam-hq-vit-huge",
            ),
            model_class="SamHQModel",
            processor_class="SamHQProcessor",
            model_types=("sam_hq",),
            note="HQ-SAM: SAM plus a high-quality output token; finer boundaries, thin structures",
        ),
        Segmenter(
            name="sam2",
            family="sam2",
            default_id="facebook/sam2.1-hiera-large",
            ids=(
                "facebook/sam2.1-hiera-tiny",
                "facebook/sam2.1-hiera-small",
                "facebook/sam2.1-hiera-base-plus",
                "facebook/sam2.1-hiera-large",
            ),
            model_class="Sam2Model",
            # transformers' Sam2ImageProcessor needs torchvision; maskedit's stand-in does the same
            # resize/normalise without it (maskedit.masks.sam.Sam2LiteProcessor).
            processor_class="Sam2LiteProcessor",
            # The facebook/sam2.1-* repos hold the video model's config; Sam2Model loads its
            # image half (encoder, prompt encoder, mask decoder) from them.
            model_types=("sam2", "sam2_video"),
            note="SAM 2.1 (Hiera encoder, multi-scale features); image mode, no video memory",
        ),
    )
}
DEFAULT_SEGMENTER = "sam"


def get_segmenter(name: str) -> Segmenter:
    """The registry entry for `name`, or a one-line error that lists the choices."""
    if name not in SEGMENTERS:
        raise InputError(f"--segmenter '{name}': expected one of {', '.join(SEGMENTERS)}")
    return SEGMENTERS[name]
