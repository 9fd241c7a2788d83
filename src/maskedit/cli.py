"""The `maskedit` command: parse, check, call the library, print. No logic of its own."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from maskedit.config import (
    DEFAULT_IMAGE_CFG,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_TEXT_CFG,
    case_from_dict,
    load_manifest,
)
from maskedit.errors import MaskeditError
from maskedit.models import DEFAULT_IP2P_ID, DEFAULT_SAM_ID

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Spatial control for instruction-based image editing (SAM + InstructPix2Pix).",
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)
DEMO_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"

# Options shared by several commands, defined once.
ModelsOpt = Annotated[
    str,
    typer.Option("--models", help="'real' checkpoints or 'tiny' random models (plumbing check)."),
]
Ip2pOpt = Annotated[str, typer.Option("--ip2p", help="InstructPix2Pix hub id or local folder.")]
SamOpt = Annotated[
    str, typer.Option("--sam", help="SAM hub id or local folder (transformers format).")
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cuda, mps or cpu (default: best available).")
]
DtypeOpt = Annotated[
    str | None,
    typer.Option("--dtype", help="fp16, bf16 or fp32 (default: fp16 on GPU, fp32 on CPU)."),
]
SizeOpt = Annotated[
    int | None,
    typer.Option("--working-size", help="Editor long side in px (default 512; 128 tiny)."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs.")]
MethodsOpt = Annotated[
    str | None,
    typer.Option(
        "--methods", "--method", help="pixel, latent, guidance, crop; comma-separated to compare."
    ),
]


@contextlib.contextmanager
def user_errors():
    """Every user-facing failure becomes one line on stderr and exit code 2."""
    try:
        yield
    except MaskeditError as err:
        err_console.print(f"maskedit: error: {err}", markup=False)
        raise typer.Exit(2) from None
    except FloatingPointError as err:
        err_console.print(f"maskedit: error: {err}", markup=False)
        raise typer.Exit(3) from None


def _parse_point(text: str) -> list[float]:
    parts = text.split(",")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) not in (2, 3):
        raise MaskeditError(
            f"--point '{text}': expected X,Y or X,Y,LABEL (label 1 include, 0 exclude)"
        )
    if len(vals) == 3 and vals[2] not in (0.0, 1.0):
        raise MaskeditError(f"--point '{text}': label must be 1 (include) or 0 (exclude)")
    return [vals[0], vals[1], int(vals[2]) if len(vals) == 3 else 1]


def _parse_box(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise MaskeditError(f"--box '{text}': expected X0,Y0,X1,Y1 in image pixels")
    return vals


def _load(models: str, ip2p: str, sam: str, device, dtype, need_sam: bool, working_size):
    from maskedit.models import load_models

    t0 = time.perf_counter()
    with err_console.status(f"loading {models} models…"):
        loaded = load_models(
            models,
            ip2p=ip2p,
            sam=sam,
            device=device,
            dtype=dtype,
            need_sam=need_sam,
            working_size=working_size,
        )
    if loaded.kind == "tiny":
        err_console.print(f"[bold red]{loaded.note}[/]")
    return loaded, time.perf_counter() - t0


@app.command()
def edit(
    image: Annotated[
        str, typer.Argument(help="Image file (or skimage:NAME for a bundled sample).")
    ],
    instruction: Annotated[str, typer.Option("--instruction", "-i", help="What to change.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (must not exist or be empty).")
    ],
    point: Annotated[
        list[str] | None, typer.Option("--point", help="X,Y[,LABEL] in image pixels; repeatable.")
    ] = None,
    box: Annotated[str | None, typer.Option("--box", help="X0,Y0,X1,Y1 in image pixels.")] = None,
    mask: Annotated[
        Path | None, typer.Option("--mask", help="Mask file (any PNG mode; white = edit).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = DEFAULT_SEED,
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = DEFAULT_STEPS,
    text_cfg: Annotated[
        float, typer.Option("--text-cfg", help="Text guidance scale.")
    ] = DEFAULT_TEXT_CFG,
    image_cfg: Annotated[
        float, typer.Option("--image-cfg", help="Image guidance scale.")
    ] = DEFAULT_IMAGE_CFG,
    working_size: SizeOpt = None,
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = DEFAULT_IP2P_ID,
    sam: SamOpt = DEFAULT_SAM_ID,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    method: MethodsOpt = None,
    dilate: Annotated[int, typer.Option(help="Grow the mask by PX pixels.")] = 0,
    erode: Annotated[int, typer.Option(help="Shrink the mask by PX pixels.")] = 0,
    feather: Annotated[
        float, typer.Option(help="Soft edge of PX pixels inside the (dilated) mask.")
    ] = 0.0,
    fill_holes: Annotated[
        bool, typer.Option("--fill-holes", help="Fill holes in the mask.")
    ] = False,
    largest_only: Annotated[
        bool, typer.Option("--largest-only", help="Keep the largest part.")
    ] = False,
    blend_start: Annotated[float, typer.Option(help="latent: first step fraction blended.")] = 0.0,
    blend_end: Annotated[
        float, typer.Option(help="latent: blend before this step fraction.")
    ] = 1.0,
    latent_dilate: Annotated[
        int, typer.Option(help="latent/guidance: grow the latent mask (cells).")
    ] = 1,
    crop_margin: Annotated[
        float, typer.Option(help="crop: padding × the mask box's larger side.")
    ] = 0.25,
    harmonize: Annotated[
        str, typer.Option(help="Seam: none, poisson (seamlessClone) or color.")
    ] = "none",
) -> None:
    """Edit one image inside a region given by clicks, a box or a mask file."""
    from maskedit.case import edit as run_edit
    from maskedit.outputs import check_out_dir, write_case
    from maskedit.runner import check_case

    with user_errors():
        raw = {
            "id": "edit",
            "image": image,
            "instruction": instruction,
            "seed": seed,
            "steps": steps,
            "text_cfg": text_cfg,
            "image_cfg": image_cfg,
        }
        if working_size is not None:
            raw["working_size"] = working_size
        if method:
            raw["methods"] = method
        raw.update(
            dilate=dilate,
            erode=erode,
            feather=feather,
            fill_holes=fill_holes,
            largest_only=largest_only,
            blend_start=blend_start,
            blend_end=blend_end,
            latent_dilate=latent_dilate,
            crop_margin=crop_margin,
            harmonize=harmonize,
        )
        if point:
            raw["points"] = [_parse_point(p) for p in point]
        if box:
            raw["box"] = _parse_box(box)
        if mask is not None:
            raw["mask"] = str(mask)
        case = case_from_dict(raw)
        check_case(case)  # bad input fails here, before minutes of model loading
        check_out_dir(out, force)
        need_sam = case.prompts.mask is None
        loaded, load_s = _load(models, ip2p, sam, device, dtype, need_sam, working_size)
        p = case.prompts
        result = run_edit(
            case.image,
            case.instruction,
            models=loaded,
            points=p.points or None,
            box=p.box,
            mask=p.mask,
            settings=case.settings,
        )
        result.timings = {"load_models": load_s, **result.timings}
        write_case(result, out, force=force)
    console.print(f"wrote {out}/ (original, mask, baseline, blended, grid, record.json)")
    console.print(f"methods: {', '.join(result.outputs)}")


def _run_manifest_path(
    manifest: Path,
    out: Path,
    models: str,
    ip2p: str,
    sam: str,
    device,
    dtype,
    working_size,
    force: bool,
    methods: str | None = None,
) -> None:
    from maskedit.runner import check_case, run_manifest, with_methods

    with user_errors():
        parsed = load_manifest(manifest)
        if methods:
            parsed = with_methods(parsed, methods)
        for i, case in enumerate(parsed.cases):
            check_case(case, where=f"manifest '{manifest}': case {i} ('{case.id}'): ")
        if out.exists() and not out.is_dir():
            raise MaskeditError(f"--out '{out}': exists and is a file, expected a folder")
        need_sam = any(c.prompts.mask is None for c in parsed.cases)
        loaded, _ = _load(models, ip2p, sam, device, dtype, need_sam, working_size)
        summary = run_manifest(parsed, loaded, out, force=force)
    console.print(
        f"{len(summary.done)} done, {len(summary.skipped)} already finished (skipped), "
        f"{len(summary.failed)} failed → {out}/"
    )
    for case_id, msg in summary.failed.items():
        err_console.print(f"maskedit: case '{case_id}' failed: {msg}", markup=False)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def run(
    manifest: Annotated[Path, typer.Argument(help="Manifest YAML (paths relative to it).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; one sub-folder per case.")
    ],
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = DEFAULT_IP2P_ID,
    sam: SamOpt = DEFAULT_SAM_ID,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    working_size: SizeOpt = None,
    force: ForceOpt = False,
    methods: MethodsOpt = None,
) -> None:
    """Run every case of a manifest, loading each model once; finished cases are skipped."""
    _run_manifest_path(
        manifest, out, models, ip2p, sam, device, dtype, working_size, force, methods
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = DEFAULT_IP2P_ID,
    sam: SamOpt = DEFAULT_SAM_ID,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    methods: MethodsOpt = None,
) -> None:
    """The study's three cases (suit, cat, motorcycle) on public-domain photos."""
    _run_manifest_path(DEMO_MANIFEST, out, models, ip2p, sam, device, dtype, None, force, methods)


@app.command()
def download(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Hub ids (default: the IP2P and SAM defaults).")
    ] = None,
) -> None:
    """Pre-fetch checkpoints into the standard Hugging Face cache (on a connected machine)."""
    from maskedit.models import download as fetch

    with user_errors():
        for path in fetch(ids):
            console.print(f"cached {path}")


def quiet_libraries() -> None:
    """Library chatter (hub retries, deprecations, torchvision fallbacks) is not for the user."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    for name in ("diffusers", "transformers"):  # already imported: set their loggers directly
        if name in sys.modules:
            sys.modules[name].utils.logging.set_verbosity_error()


def main() -> None:
    quiet_libraries()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("maskedit: interrupted; finished cases are kept, rerun to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
