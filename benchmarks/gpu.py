"""Every GPU figure of docs/benchmarks.md in one run: real-size editors with random weights.

    python benchmarks/gpu.py [--out docs/benchmarks.md] [--copy-to DIR] [--budget 400]
                             [--repeats 3] [--ip2p-steps 20] [--kontext-steps 8]
                             [--kontext-size 1024] [--qwen-steps 4] [--klein-steps 4]
                             [--families ip2p,kontext,qwen-edit-plus,flux2-klein] [--toy]

`benchmarks/gpu.sh` prepares the environment and runs this. One editor family after the other
(a function each, in this order, so IP2P's and Kontext's rows come first), each in sections with
their own share of the time budget. A section that runs out of time or fails (out of memory, a
class the installed diffusers lacks) is reported with its reason and the next one runs;
`--families` runs only some (their block then holds only those):

1. ip2p          InstructPix2Pix, SD-1.5 shapes, fp16, 512², 20 steps: the plain diffusers call;
                 maskedit pixel, latent, guidance, crop (each alone, `baseline=False`); e2e: a
                 click edit with SAM ViT-H (a fresh embedding, one click, the pixel edit, the
                 composite).
2. ip2p-batch    4 cases of 512²: plain diffusers one per call and 4 per call; `edit_many` with
                 batch size 1 and 4 (`--batch-size 4`).
3. ip2p-compile  `apply_speedups(compile)` (`--compile`: UNet, VAE decoder, SAM encoder): the plain
                 call and e2e again, after two warm-ups (the first compiles); ratios to ip2p plain.
4. kontext       FLUX.1 Kontext [dev] shapes (11.9 B transformer, T5-XXL, CLIP-L), bf16, 1024²,
                 8 steps: the plain diffusers call; maskedit pixel, latent, crop.
5. qwen-edit-plus  Qwen-Image-Edit-2511 shapes (20.4 B transformer, Qwen2.5-VL-7B), bf16 built
                 directly on the GPU, 1024², 4 steps of true CFG (two transformer calls each): the
                 plain call (source held at the working area, as maskedit does); pixel, latent,
                 guidance, crop.
6. flux2-klein   FLUX.2 [klein] 4B shapes (3.9 B transformer, Qwen3-4B), bf16 built directly on
                 the GPU, 1024², 4 steps (its model card's): the plain call; pixel, latent, crop.

Every row: the median of `--repeats` runs after one warm-up, rounds interleaved (a round that
would not fit the section's budget is not started, so a slow machine gives fewer runs, not
none), and the peak GPU memory (`torch.cuda.max_memory_allocated`, reset per run). `--toy` runs
the same sections on a CPU at toy widths, 64², 2 steps: a check of the plumbing, not a figure.
"""

from __future__ import annotations

import argparse
import gc
import math
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from harness import (
    Budget,
    OverBudget,
    Row,
    block,
    device_name,
    machine,
    markdown_table,
    measure,
    mem_text,
    print_table,
    secs,
    write_block,
)
from realsize import realsize_models
from workloads import (
    WORK_MASK_FRACTION,
    batch_workload,
    editor_settings,
    end_to_end,
    masked_call,
    photo,
    plain_call,
    square_mask,
)

BLOCK = "gpu"
METHODS = ("pixel", "latent", "guidance", "crop")
# Seconds each section may take at most with the default budget (scaled with --budget; less when
# the run has less left); kontext, the last one measured, takes what is left.
# gpu.sh stops the run by force 35 s after it (killed 10 s later): under 8 minutes in all, the
# wheels' install included. The shares are an H200 run's times with a little room (ip2p 48 s,
# ip2p-batch 32, ip2p-compile 140, kontext 67, qwen-edit-plus 72 for 2 of 3 rounds, flux2-klein 31)
DEFAULT_BUDGET = 400.0
SHARES = {
    "ip2p": 55,
    "ip2p-batch": 40,
    "ip2p-compile": 145,
    "kontext": 70,
    "qwen-edit-plus": 65,
}  # flux2-klein, the last, takes what is left (at least 25 s of the default budget)
BATCH = 4


@dataclass
class Setup:
    """What every section reads: device, sizes, steps, repeats, and the run's whole budget."""

    device: torch.device
    toy: bool
    repeats: int
    ip2p_size: int
    ip2p_steps: int
    kontext_size: int
    kontext_steps: int
    qwen_size: int
    qwen_steps: int
    klein_size: int
    klein_steps: int
    budget: Budget


@dataclass
class Section:
    """One guarded part of the run: its rows (kept even when it stops early) and how it ended."""

    name: str
    what: str
    rows: list[Row] = field(default_factory=list)
    reference: Row | None = None  # ratios are to this row (default: the section's first)
    status: str = "not run"
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_section(section: Section, setup: Setup, body: Callable[[Section, Budget], None]) -> None:
    """`body(section, budget)` under its share of the run's budget; any failure is recorded."""
    share = SHARES.get(section.name, math.inf) * setup.budget.seconds / DEFAULT_BUDGET
    seconds = min(share, setup.budget.left())
    print(f"\n== {section.name} (budget {seconds:.0f} s): {section.what}", flush=True)
    if seconds < 10:
        section.status = "skipped: the run's time budget was spent"
        return
    free_memory(setup.device)
    t0 = time.perf_counter()
    try:
        with Budget(seconds) as budget:
            body(section, budget)
        short = [r.name for r in section.rows if len(r.times) < setup.repeats]
        section.status = "ok" if not short else f"ok, fewer runs (budget): {', '.join(short)}"
    except OverBudget as err:
        section.status = f"stopped: {err}"
    except Exception as err:  # one section's failure must not end the run
        traceback.print_exc()
        first = (str(err).strip().splitlines() or [""])[0][:200]
        section.status = f"failed: {type(err).__name__}: {first}"
    finally:
        section.seconds = time.perf_counter() - t0
    print(f"== {section.name}: {section.status} ({section.seconds:.0f} s)", flush=True)


def skip(sections: list[Section], reason: str) -> None:
    for section in sections:
        if section.status == "not run":
            section.status = f"skipped: {reason}"


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def params(module) -> str:
    n = sum(p.numel() for p in module.parameters())
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


def method_rows(
    section: Section,
    budget: Budget,
    setup: Setup,
    models,
    editor: str,
    size: int,
    steps: int,
    methods: tuple[str, ...],
    e2e: bool = False,
) -> None:
    """plain vs each method alone (and the e2e click edit) on a size² photo, 25 % square mask."""
    image, mask = photo((size, size)), square_mask(size, WORK_MASK_FRACTION)
    settings = editor_settings(editor, size, steps)
    what = f"`maskedit.edit`, {size}², 25 % mask, method alone"
    calls = {"plain": plain_call(models, image, settings)}
    rows = [Row("plain", f"the diffusers call a user makes, {size}²")]
    for method in methods:
        calls[method] = masked_call(models, image, mask, settings, method)
        note = "plain + composite (needs the baseline)" if method == "pixel" else ""
        rows.append(Row(method, what, note=note))
    if e2e:
        calls["e2e"] = end_to_end(models, image, settings)
        rows.append(Row("e2e", "fresh SAM embedding + 1 click + pixel edit + composite"))
    section.rows.extend(rows)
    measure(rows, calls, setup.repeats, setup.device, tag=f"{section.name} ", budget=budget)


# ----------------------------------------------------------------------------------------------
# Editor families: one function each, run in this order.


def ip2p_family(setup: Setup) -> list[Section]:
    """InstructPix2Pix at real size (SD-1.5 shapes), fp16, with SAM ViT-H for the click edit."""
    size, steps = setup.ip2p_size, setup.ip2p_steps
    methods = Section("ip2p", f"IP2P {size}², {steps} steps: plain vs methods, SAM ViT-H e2e")
    batch = Section("ip2p-batch", f"{BATCH} cases: plain ×1 / ×{BATCH}, --batch-size 1 / {BATCH}")
    compiled = Section("ip2p-compile", "--compile: plain and e2e after apply_speedups(compile)")
    sections = [methods, batch, compiled]
    dtype = torch.float32 if setup.toy else torch.float16
    built: dict[str, object] = {}

    def run_methods(section: Section, budget: Budget) -> None:
        t0 = time.perf_counter()
        models = realsize_models(
            "ip2p", setup.device, dtype, working_size=size, sam_vit="huge", toy=setup.toy
        )
        built["models"] = models
        section.notes.append(
            f"built in {time.perf_counter() - t0:.0f} s (not timed): UNet "
            f"{params(models.pipe.unet)}, SAM {params(models.sam.model)} params, {dtype}"
        )
        method_rows(section, budget, setup, models, "ip2p", size, steps, METHODS, e2e=True)

    def run_batch(section: Section, budget: Budget) -> None:
        rows, calls = batch_workload(built["models"], BATCH, BATCH, size, steps)
        section.rows.extend(rows)
        measure(rows, calls, setup.repeats, setup.device, tag="ip2p-batch ", budget=budget)
        for row in rows:
            if row.times:
                row.note = f"{BATCH / row.median * 60:.1f} cases/min"

    def run_compile(section: Section, budget: Budget) -> None:
        from maskedit.speedups import Speedups, apply_speedups

        models = built["models"]
        # On a CPU (toy) inductor would take minutes: "eager" traces the same graphs, no codegen.
        backend = "eager" if setup.toy else "inductor"
        apply_speedups(
            models.pipe, models.sam.model, Speedups(compile=True, compile_backend=backend)
        )
        section.notes.append(f"torch.compile backend {backend}, default mode")
        section.reference = methods.rows[0] if methods.rows else None
        image = photo((size, size))
        settings = editor_settings("ip2p", size, steps)
        # plain first and on its own: its rows survive if compiling SAM for e2e runs out of time
        for name, call, what in (
            ("plain+compile", plain_call(models, image, settings), "the diffusers call"),
            ("e2e+compile", end_to_end(models, image, settings), "the e2e click edit"),
        ):
            row = Row(name, f"{what} after apply_speedups(compile)")
            section.rows.append(row)
            # two warm-ups: the first one compiles
            measure([row], {name: call}, setup.repeats, setup.device, warmups=2, budget=budget)

    run_section(methods, setup, run_methods)
    if "models" not in built:
        skip(sections, "the IP2P models were not built")
        return sections
    run_section(batch, setup, run_batch)
    run_section(compiled, setup, run_compile)  # last: it changes the models in place
    built.clear()
    torch._dynamo.reset()
    return sections


def kontext_family(setup: Setup) -> list[Section]:
    """FLUX.1 Kontext [dev] at real size, bf16; no SAM (the mask is given)."""
    size, steps = setup.kontext_size, setup.kontext_steps
    section = Section("kontext", f"FLUX.1 Kontext {size}², {steps} steps: plain vs methods")
    dtype = torch.float32 if setup.toy else torch.bfloat16

    def run(section: Section, budget: Budget) -> None:
        t0 = time.perf_counter()
        models = realsize_models("kontext", setup.device, dtype, working_size=size, toy=setup.toy)
        pipe = models.pipe
        section.notes.append(
            f"built in {time.perf_counter() - t0:.0f} s (not timed): transformer "
            f"{params(pipe.transformer)}, T5 {params(pipe.text_encoder_2)}, CLIP "
            f"{params(pipe.text_encoder)}, VAE {params(pipe.vae)} params, {dtype}"
        )
        methods = ("pixel", "latent", "crop")  # no text/image guidance split: no guidance method
        method_rows(section, budget, setup, models, "kontext", size, steps, methods)

    run_section(section, setup, run)
    return [section]


def qwen_image_edit_plus_family(setup: Setup) -> list[Section]:
    """Qwen-Image-Edit-Plus (2511 shapes) at real size, bf16; no SAM (the mask is given)."""
    size, steps = setup.qwen_size, setup.qwen_steps
    section = Section("qwen-edit-plus", f"Qwen-Image-Edit-2511 {size}², {steps} steps")
    dtype = torch.float32 if setup.toy else torch.bfloat16

    def run(section: Section, budget: Budget) -> None:
        t0 = time.perf_counter()
        models = realsize_models(
            "qwen-edit-plus", setup.device, dtype, working_size=size, toy=setup.toy
        )
        pipe = models.pipe
        section.notes.append(
            f"built in {time.perf_counter() - t0:.0f} s (not timed): transformer "
            f"{params(pipe.transformer)}, Qwen2.5-VL {params(pipe.text_encoder)}, VAE "
            f"{params(pipe.vae)} params, {dtype}; true CFG: 2 transformer calls per step"
        )
        method_rows(section, budget, setup, models, "qwen-edit-plus", size, steps, METHODS)

    run_section(section, setup, run)
    return [section]


def flux2_klein_family(setup: Setup) -> list[Section]:
    """FLUX.2 [klein] 4B at real size, bf16; step-distilled, so no guidance method."""
    size, steps = setup.klein_size, setup.klein_steps
    section = Section("flux2-klein", f"FLUX.2 [klein] 4B {size}², {steps} steps")
    dtype = torch.float32 if setup.toy else torch.bfloat16

    def run(section: Section, budget: Budget) -> None:
        t0 = time.perf_counter()
        models = realsize_models(
            "flux2-klein", setup.device, dtype, working_size=size, toy=setup.toy
        )
        pipe = models.pipe
        section.notes.append(
            f"built in {time.perf_counter() - t0:.0f} s (not timed): transformer "
            f"{params(pipe.transformer)}, Qwen3 {params(pipe.text_encoder)}, VAE "
            f"{params(pipe.vae)} params, {dtype}"
        )
        methods = ("pixel", "latent", "crop")  # step-distilled: no guidance term to mask
        method_rows(section, budget, setup, models, "flux2-klein", size, steps, methods)

    run_section(section, setup, run)
    return [section]


FAMILIES = {
    "ip2p": ip2p_family,
    "kontext": kontext_family,
    "qwen-edit-plus": qwen_image_edit_plus_family,
    "flux2-klein": flux2_klein_family,
}


# ----------------------------------------------------------------------------------------------
# Report


def ratio(row: Row, reference: Row | None) -> str:
    if reference is None or not row.times or not reference.times:
        return "—"
    return f"{row.median / reference.median:.3f}×"


def results_table(sections: list[Section]) -> tuple[list[str], list[list[str]]]:
    head = ["section", "row", "what", "median", "min–max", "runs", "ratio", "peak memory"]
    body = []
    for section in sections:
        for row in section.rows:
            reference = section.reference or section.rows[0]
            spread = f"{secs(min(row.times))}–{secs(max(row.times))}" if row.times else "—"
            what = row.what + (f"; {row.note}" if row.note else "")
            median, runs = secs(row.median), str(len(row.times))
            if not row.times and row.warmups:  # no counted run fitted: the warm-up, marked so
                median, runs = secs(row.warmups[-1]), "warm-up only"
            body.append(
                [
                    section.name,
                    row.name,
                    what,
                    median,
                    spread,
                    runs,
                    ratio(row, reference),
                    mem_text(row.memory),
                ]
            )
    return head, body


def status_table(sections: list[Section]) -> tuple[list[str], list[list[str]]]:
    head = ["section", "what", "status", "took"]
    body = [[s.name, s.what, s.status, f"{s.seconds:.0f} s"] for s in sections]
    return head, body


def shown_argv(argv: list[str]) -> list[str]:
    """The arguments that shape the figures: who launched it and where copies go do not."""
    hidden, shown, skip = ("--launcher", "--copy-to"), [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in hidden:
            skip = True
        elif not arg.startswith(tuple(f"{h}=" for h in hidden)):
            shown.append(arg)
    return shown


def block_body(args, setup: Setup, sections: list[Section], took: float) -> str:
    info = machine(setup.device)
    shown = shown_argv(args.argv)
    command = f"`python benchmarks/gpu.py {shlex.join(shown)}`"
    if args.launcher:
        command = f"`{args.launcher}` (runs {command})"
    lines = [
        f"### Real-size editors with random weights on {device_name(setup.device)}"
        + (" (toy widths: plumbing only)" if setup.toy else ""),
        "",
        f"Command: {command}",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- settings: median of {setup.repeats} runs after 1 warm-up (compile rows: 2), rounds "
        f"interleaved; seed 1337; 25 % square mask; each method alone (`baseline=False`)",
        f"- run: took {took / 60:.1f} min of a {args.budget:.0f} s budget",
        "- ratio: to the section's first row (ip2p-compile: to ip2p's plain row); memory: "
        + (
            "`torch.cuda.max_memory_allocated`, reset per run"
            if setup.device.type == "cuda"
            else "RSS added by the run (process peak)"
        ),
    ]
    for section in sections:
        lines += [f"- {section.name}: {note}" for note in section.notes]
    lines += ["", "**Sections**", "", markdown_table(*status_table(sections))]
    lines += ["", "**Rows**", "", markdown_table(*results_table(sections))]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    # no abbreviations: the block's command line leaves out --launcher and --copy-to by name
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--out", type=Path, default=None, help="markdown file whose block to update")
    p.add_argument("--copy-to", type=Path, default=None, help="also write the block here (dir)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds for all sections")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ip2p-size", type=int, default=None, help="default 512 (toy 64)")
    p.add_argument("--ip2p-steps", type=int, default=None, help="default 20 (toy 2)")
    p.add_argument("--kontext-size", type=int, default=None, help="default 1024 (toy 64)")
    p.add_argument("--kontext-steps", type=int, default=None, help="default 8 (toy 2)")
    p.add_argument("--qwen-size", type=int, default=None, help="default 1024 (toy 64)")
    p.add_argument("--qwen-steps", type=int, default=None, help="default 4 (toy 2)")
    p.add_argument("--klein-size", type=int, default=None, help="default 1024 (toy 64)")
    p.add_argument("--klein-steps", type=int, default=None, help="default 4 (toy 2)")
    p.add_argument(
        "--families", default=",".join(FAMILIES), help="which families run, in the fixed order"
    )
    p.add_argument("--toy", action="store_true", help="toy widths on the CPU: plumbing only")
    p.add_argument("--launcher", default="", help="the command that ran this, for the block")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    unknown = set(args.families.split(",")) - set(FAMILIES)
    if unknown:
        p.error(f"--families: unknown {', '.join(sorted(unknown))}; one of {', '.join(FAMILIES)}")
    if not args.toy and not torch.cuda.is_available():
        p.error("no CUDA device: this script measures GPUs (use --toy for a plumbing check)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    toy = args.toy
    if toy:
        torch.set_num_threads(1)  # toy widths gain nothing from threads; a shared CPU loses
    setup = Setup(
        device=torch.device("cpu" if toy else "cuda"),
        toy=toy,
        repeats=args.repeats,
        ip2p_size=args.ip2p_size or (64 if toy else 512),
        ip2p_steps=args.ip2p_steps or (2 if toy else 20),
        kontext_size=args.kontext_size or (64 if toy else 1024),
        kontext_steps=args.kontext_steps or (2 if toy else 8),
        qwen_size=args.qwen_size or (64 if toy else 1024),
        qwen_steps=args.qwen_steps or (2 if toy else 4),
        klein_size=args.klein_size or (64 if toy else 1024),
        klein_steps=args.klein_steps or (2 if toy else 4),
        budget=Budget(args.budget),
    )
    t0 = time.perf_counter()
    sections: list[Section] = []
    try:
        chosen = args.families.split(",")
        for name, family in FAMILIES.items():
            if name in chosen:
                sections += family(setup)
    except KeyboardInterrupt:  # a wrapper's timeout: still write what was measured
        print("interrupted: writing what was measured", file=sys.stderr)
        for s in sections:
            if s.status == "not run":
                s.status = "stopped: interrupted"
    took = time.perf_counter() - t0
    body = block_body(args, setup, sections, took)
    key = f"{BLOCK}-toy" if toy else BLOCK
    if args.out is not None:
        write_block(args.out, key, body)
        print(f"wrote block {key} to {args.out}")
    if args.copy_to is not None:
        args.copy_to.mkdir(parents=True, exist_ok=True)
        (args.copy_to / f"benchmark-{key}.md").write_text(block(key, body), encoding="utf-8")
    head, body_rows = results_table(sections)
    short = [[r[0], r[1], r[3], r[5], r[6], r[7]] for r in body_rows]
    print_table("Sections", *status_table(sections))
    print_table(
        f"Rows ({device_name(setup.device)})",
        ["section", "row", "median", "runs", "ratio", "peak memory"],
        short,
    )
    measured = any(row.times or row.warmups for s in sections for row in s.rows)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
