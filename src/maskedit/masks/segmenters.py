"""The segmenters `--segmenter` chooses among: hub ids and the transformers classes that load them.

Pure data (no torch, nothing loads at import): the CLI can list the choices cheaply. Loading is
`maskedit.models.load_segmenter`; every family is driven by the one `SamPredictor` (points and
boxes in image pixels, one embedding per image, best of several masks by predicted IoU).
"""

from __future__ import annotations

from dataclasses import dataclass

from maskedit.errors import InputError


@dataclass(frozen=True)
class Segmenter:
    """One choice of `--segmenter`: its checkpoints and how transformers loads them."""

    name: str
    family: str  # the SamPredictor code path: "sam" (also SlimSAM), "sam-hq" or "sam2"
    default_id: str
    ids: tuple[str, ...]  # the known checkpoints, smallest first; any local folder works too
    model_class: str  # a class in `transformers`
    processor_class: str  # a class in `transformers`, or "Sam2LiteProcessor" (maskedit's own)
    model_types: tuple[str, ...]  # the config.json `model_type`s this family accepts
    note: str


SEGMENTERS: dict[str, Segmenter] = {
    s.name: s
    for s in (
        Segmenter(
            name="sam",
            family="sam",
            default_id="facebook/sam-vit-huge",
            ids=("facebook/sam-vit-base", "facebook/sam-vit-large", "facebook/sam-vit-huge"),
            model_class="SamModel",
            processor_class="SamProcessor",
            model_types=("sam",),
            note="Segment Anything (ViT-B/L/H image encoder); the study's segmenter",
        ),
        Segmenter(
            name="slimsam",
            family="sam",  # SlimSAM prunes SAM's ViT-B: a smaller SamModel, same code path
            default_id="Zigeng/SlimSAM-uniform-50",
            ids=(
                "Zigeng/SlimSAM-uniform-77",
                "Zigeng/SlimSAM-uniform-50",
                "nielsr/slimsam-50-uniform",
            ),
            model_class="SamModel",
            processor_class="SamProcessor",
            model_types=("sam",),
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
