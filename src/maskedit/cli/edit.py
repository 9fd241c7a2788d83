"""`maskedit edit`: one image, one instruction, one region; its flags spell a manifest entry."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from maskedit.cli.options import (
    ForceOpt,
    MethodsOpt,
    ModelFlags,
    SizeOpt,
    console,
    load,
    model_options,
    parse_box,
    parse_point,
    user_errors,
    with_flags,
)
from maskedit.cli.region_text import RegionOpt, parse_turn
from maskedit.config import DEFAULT_SEED, Case, case_from_dict
from maskedit.errors import InputError

ImageArg = Annotated[str, typer.Argument(help="Image file (or skimage:NAME for a bundled sample).")]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Output folder (must not exist or be empty).")
]


@dataclass(frozen=True)
class RegionFlags:
    """Where to edit: clicks or a box for the segmenter, or a mask file."""

    point: Annotated[
        list[str] | None, typer.Option("--point", help="X,Y[,LABEL] in image pixels; repeatable.")
    ] = None
    box: Annotated[
        list[str] | None, typer.Option("--box", help="X0,Y0,X1,Y1 in image pixels (one box).")
    ] = None
    mask: Annotated[
        Path | None, typer.Option("--mask", help="Mask file (any PNG mode; white = edit).")
    ] = None
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="Another image the editor sees whole (qwen-edit-plus, flux2-klein); repeatable.",
        ),
    ] = None
    region: RegionOpt = None
    sam_masks: Annotated[
        str,
        typer.Option(
            "--sam-masks",
            help="auto (3 candidates for one click, 1 for several points or a box, as SAM's "
            "authors do), 1 or 3.",
        ),
    ] = "auto"


@dataclass(frozen=True)
class SamplingFlags:
    """How the editor runs (None: the editor's own defaults)."""

    seed: Annotated[int, typer.Option(help="Noise seed.")] = DEFAULT_SEED
    steps: Annotated[
        int | None, typer.Option(help="Denoising steps (default: the editor's, 20 for ip2p).")
    ] = None
    text_cfg: Annotated[
        float | None, typer.Option("--text-cfg", help="Text guidance scale (ip2p: 7.5).")
    ] = None
    image_cfg: Annotated[
        float | None, typer.Option("--image-cfg", help="Image guidance scale (ip2p: 1.5).")
    ] = None
    working_size: SizeOpt = None


@dataclass(frozen=True)
class ShapeFlags:
    """Mask shaping, in image pixels (fill holes → largest part → erode → dilate → feather)."""

    dilate: Annotated[int, typer.Option(help="Grow the mask by PX pixels.")] = 0
    erode: Annotated[int, typer.Option(help="Shrink the mask by PX pixels.")] = 0
    feather: Annotated[
        float,
        typer.Option(
            help="Soft edge inside the (dilated) mask: a Gaussian step of σ = PX pixels, 3σ wide."
        ),
    ] = 0.0
    fill_holes: Annotated[bool, typer.Option("--fill-holes", help="Fill holes in the mask.")] = (
        False
    )
    largest_only: Annotated[bool, typer.Option("--largest-only", help="Keep the largest part.")] = (
        False
    )


@dataclass(frozen=True)
class MethodFlags:
    """Which spatial controls run, and how each one does (docs/methods.md)."""

    methods: MethodsOpt = None
    blend_start: Annotated[float, typer.Option(help="latent: first step fraction blended.")] = 0.0
    blend_end: Annotated[float, typer.Option(help="latent: blend before this step fraction.")] = 1.0
    latent_dilate: Annotated[
        int, typer.Option(help="latent/guidance: grow the latent mask (cells).")
    ] = 1
    crop_margin: Annotated[
        float, typer.Option(help="crop: padding × the mask box's larger side.")
    ] = 0.25
    harmonize: Annotated[
        str, typer.Option(help="Seam: none, poisson (seamlessClone) or color.")
    ] = "none"


@dataclass(frozen=True)
class TargetFlags:
    """A mask from a phrase, or from where the instruction acts."""

    target: Annotated[
        str | None,
        typer.Option(
            help="Mask from a phrase ('the red car'); 'auto' takes it from the instruction."
        ),
    ] = None
    target_backend: Annotated[
        str, typer.Option("--target-backend", help="clipseg (default) or grounded-sam.")
    ] = "clipseg"
    target_threshold: Annotated[
        float | None,
        typer.Option("--target-threshold", help="clipseg 0.4 / grounded-sam box 0.35 by default."),
    ] = None
    target_top: Annotated[
        int | None, typer.Option("--target-top", help="grounded-sam: keep the best N boxes.")
    ] = None
    target_model: Annotated[
        str | None, typer.Option("--target-model", help="CLIPSeg / Grounding DINO id or folder.")
    ] = None
    mask_from: Annotated[
        str | None,
        typer.Option("--mask-from", help="'edit': the mask from where the instruction acts."),
    ] = None
    refine: Annotated[
        str | None, typer.Option(help="'sam': refine a --mask-from edit mask with SAM.")
    ] = None


def edit_case(
    image: str,
    instruction: str,
    region: RegionFlags,
    target: TargetFlags,
    sampling: SamplingFlags,
    shape: ShapeFlags,
    method: MethodFlags,
) -> Case:
    """The flags as the manifest entry they spell, checked by the manifest's own `case_from_dict`
    (so `edit` and `run` reject the same values with the same words)."""
    if region.region:
        return _regions_case(
            image, instruction, region, target, flag_defaults(sampling, shape, method)
        )
    if instruction is None:
        raise InputError("--instruction: missing; say what to change (or give --region flags)")
    raw: dict[str, Any] = {"id": "edit", "image": image, "instruction": instruction}
    raw |= flag_defaults(sampling, shape, method)
    if region.point:
        raw["points"] = [parse_point(p) for p in region.point]
    if region.box:
        if len(region.box) > 1:  # typer would keep the last one without a word
            raise InputError(
                f"--box: given {len(region.box)} times; one box an edit (--point repeats; "
                "several regions: --region)"
            )
        raw["box"] = parse_box(region.box[0])
    if region.mask is not None:
        raw["mask"] = str(region.mask)
    if region.reference:
        raw["references"] = list(region.reference)
    if region.sam_masks not in ("auto", "1", "3"):
        raise InputError(f"--sam-masks '{region.sam_masks}': expected auto, 1 or 3")
    if region.sam_masks != "auto":
        raw["multimask"] = region.sam_masks == "3"
    automatic = asdict(target)
    backend, _ = automatic.pop("target_backend"), automatic.pop("target_model")
    raw |= {k: v for k, v in automatic.items() if v is not None}
    if target.target is not None:  # the back-end only means something with a phrase
        raw["target_backend"] = backend
    return case_from_dict(raw)


def _regions_case(
    image: str, instruction: str | None, region: RegionFlags, target: TargetFlags, defaults: dict
) -> Case:
    """--region flags: one edit of several regions, each with its instruction and where."""
    alone = {
        "--instruction": instruction,
        "--point": region.point,
        "--box": region.box,
        "--mask": region.mask,
        "--target": target.target,
        "--mask-from": target.mask_from,
    }
    for flag, value in alone.items():
        if value:
            raise InputError(f"{flag}: each --region names its own instruction and where; drop it")
    items = [parse_turn(text, "--region") for text in region.region or []]
    return case_from_dict({"id": "edit", "image": image, **defaults, "regions": items})


def _edit(case: Case, models) -> tuple[Any, dict[str, Any]]:
    """The case's edit (several regions at once when it has them) and the keys its record adds."""
    from maskedit.case import edit as run_edit
    from maskedit.regions import edit_regions

    if case.regions:
        edited = edit_regions(case.image, case.regions, models=models)
        return edited.result, edited.record()
    result = run_edit(
        case.image,
        case.instruction,
        models=models,
        prompts=case.prompts,
        settings=case.settings,
        references=case.references,
    )
    return result, {}


# The flag groups of both commands that edit (edit, turns): sampling, shaping, methods, models.
EDIT_FLAGS = dict(
    sampling=SamplingFlags, shape=ShapeFlags, method=MethodFlags, model_flags=ModelFlags
)


@with_flags(region=RegionFlags, target=TargetFlags, **EDIT_FLAGS)
def edit(
    image: ImageArg,
    out: OutOpt,
    instruction: Annotated[
        str | None, typer.Option("--instruction", "-i", help="What to change.")
    ] = None,
    force: ForceOpt = False,
    *,
    region: RegionFlags,
    target: TargetFlags,
    sampling: SamplingFlags,
    shape: ShapeFlags,
    method: MethodFlags,
    model_flags: ModelFlags,
) -> None:
    """Edit one image inside a region given by clicks, a box, a mask file, a phrase or the edit
    (or several regions at once, each with its instruction: --region)."""
    from maskedit.outputs import check_out_dir, remove_leftovers, write_case
    from maskedit.preflight import check_case

    with user_errors():
        case = edit_case(image, instruction, region, target, sampling, shape, method)
        check_case(case)  # bad input fails here, before minutes of model loading
        options = model_options(
            model_flags,
            cases=[case],
            working_size=sampling.working_size,
            text_model=target.target_model,
        )
        remove_leftovers(out.parent, out.name)  # what an edit killed mid-write left beside it
        check_out_dir(out, force)  # after: a folder put back from a killed swap is checked too
        models, load_s = load(options)
        result, extra = _edit(case, models)
        result.timings = {"load_models": load_s, **result.timings}
        write_case(result, out, force=force, extra=extra)
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    console.print(f"wrote {out}/ ({', '.join(files)})")
    console.print(f"methods: {', '.join(result.outputs)}")


def flag_defaults(
    sampling: SamplingFlags, shape: ShapeFlags, method: MethodFlags
) -> dict[str, Any]:
    """The command's settings flags as manifest keys: defaults for every --turn and --region."""
    raw: dict[str, Any] = {
        k: v for k, v in asdict(sampling).items() if k != "working_size" or v is not None
    }
    raw |= {k: v for k, v in asdict(method).items() if k != "methods" or v is not None}
    return raw | asdict(shape)
