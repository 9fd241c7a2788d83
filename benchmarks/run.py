"""Time maskedit against plain diffusers InstructPix2Pix on the same components and settings.

    python benchmarks/run.py --mode tiny|realsize [--size 256] [--steps 4] [--repeats 3]
                             [--device cpu|cuda] [--dtype fp32|fp16] [--out docs/benchmarks.md]
                             [--profile] [--skip sam,overhead]

One process, one set of models. Every measurement runs once as a warm-up (not counted), then
`--repeats` times; the rounds are interleaved (plain, pixel, latent, … then again) so that a slow
spell of a shared machine hits every row alike. Each row reports the median, the min–max and the
ratio of medians (and of minima, and of CPU time) to plain IP2P at the same working size.
`--profile` adds one cProfile'd run per maskedit row: its own work beside the diffusers call.

1. plain      `pipe(instruction, image=PIL, ...)`, the diffusers call a user would make.
2. methods    `maskedit.edit(..., mask=25 % square, methods=(m,), baseline=False)` for pixel,
              latent, guidance, crop on an image at the working size (same pixel count as plain).
3. crop-4096  method crop on a 4096×4096 photo with a 10 % disk mask, vs plain at the working size.
4. SAM        `SamPredictor.set_image` once, then `predict` per click (N = 1, 5, 20).
5. overhead   `maskedit.outputs.write_case` and `maskedit.evaluate.score_outputs` (no CLIP).
6. e2e        the warm end-to-end edit a user makes: a fresh SAM embedding of the photo, one click,
              the edit at the working size and the composite (`maskedit.edit(points=…)`).
7. speedups   `--speedups compile,channels_last`: the same plain call and e2e edit after
              `maskedit.speedups.apply_speedups` (compilation happens in the warm-up run).
8. batch      `--batch N`: 2N cases of the same size through `maskedit.batch.edit_many` with
              batch_size 1 and N, against plain diffusers one at a time and N per call.

`--mode tiny` uses maskedit's tiny random models; `--mode realsize` builds the real architectures
(SD-1.5-shaped IP2P, SAM ViT-B) with random weights: the compute of the real models, no download.
Memory: on CUDA `torch.cuda.max_memory_allocated` per measurement; on CPU the resident set size,
which is process-wide (see `harness.RssProbe`). Real-size builders: `benchmarks/realsize.py`.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import (
    Row,
    device_name,
    load_average,
    machine,
    markdown_table,
    measure,
    mem_text,
    merge_max,
    print_table,
    run_timed,
    secs,
    write_block,
)
from workloads import (
    INSTRUCTION,
    WORK_MASK_FRACTION,
    batch_workload,
    disk_mask,
    end_to_end,
    masked_call,
    photo,
    square_mask,
)

LARGE_SIDE = 4096  # the large-photo case
LARGE_MASK_FRACTION = 0.10
SAM_IMAGE_HW = (1024, 1536)  # a 3:2 photo; SAM resizes it to long side 1024 for the embedding
SAM_CLICKS = (1, 5, 20)
METHOD_TARGET = 1.02  # each masked method <= 1.02x plain IP2P at the same working size
OVERHEAD_REPEATS = 3  # the runner-overhead jobs take seconds at 4096²: at most 3 timed runs
LARGE_TARGET = 1.2  # crop on a 4096² photo <= 1.2x a plain edit at the working size
E2E_TARGET_S = 0.8  # warm end-to-end 512² fp16 edit on an H100, seconds


# ----------------------------------------------------------------------------------------------
# Models and inputs


def build_models(
    mode: str, device: torch.device, dtype: torch.dtype, size: int, sam_vit: str = "base"
):
    """maskedit `Models` for the mode; the realsize build (random init) is untimed."""
    from realsize import realsize_models

    import maskedit

    if mode == "tiny":
        models = maskedit.load_models("tiny", device=str(device), working_size=size)
        models.pipe.to(dtype=dtype)
        models.sam.model.to(dtype=dtype)
        return models
    return realsize_models("ip2p", device, dtype, working_size=size, sam_vit=sam_vit)


# ----------------------------------------------------------------------------------------------
# Measurements


def edit_rows(models, args) -> tuple[list[Row], dict[str, Any]]:
    """Rows 1-3: plain IP2P, each method at the working size, crop on a 4096² photo."""
    from PIL import Image

    import maskedit

    size, pipe = args.size, models.pipe
    work = photo((size, size))
    work_mask = square_mask(size, WORK_MASK_FRACTION)
    large = photo((LARGE_SIDE, LARGE_SIDE))
    large_mask = disk_mask(LARGE_SIDE, LARGE_MASK_FRACTION)
    # The same explicit settings on both sides (IP2P's own defaults, and maskedit's for IP2P).
    text_cfg, image_cfg = 7.5, 1.5
    base = dict(
        steps=args.steps, working_size=size, seed=1337, text_cfg=text_cfg, image_cfg=image_cfg
    )

    settings = maskedit.EditSettings(**base)

    def plain():
        return pipe(
            INSTRUCTION,
            image=Image.fromarray(work),
            num_inference_steps=args.steps,
            guidance_scale=text_cfg,
            image_guidance_scale=image_cfg,
            generator=torch.Generator(device="cpu").manual_seed(base["seed"]),
            output_type="np",
        ).images[0]

    px = f"{size}²"
    rows = [Row("plain", f"diffusers `pipe(...)` at {px}")]
    for method in ("pixel", "latent", "guidance", "crop"):
        note = "= plain + composite (needs the baseline)" if method == "pixel" else ""
        what = f"`maskedit.edit`, {px} image, 25 % mask"
        rows.append(Row(method, what, target=METHOD_TARGET, note=note))
    rows.append(
        Row(
            "crop-4096",
            f"crop, {LARGE_SIDE}² photo, {large_mask.mean():.0%} disk mask, vs plain at {px}",
            target=LARGE_TARGET,
        )
    )
    calls: dict[str, Callable[[], Any]] = {"plain": plain}
    for method in ("pixel", "latent", "guidance", "crop"):
        calls[method] = masked_call(models, work, work_mask, settings, method)
    calls["crop-4096"] = masked_call(models, large, large_mask, settings, "crop")
    rows.append(Row("e2e", f"fresh SAM embedding + 1 click + pixel edit + composite, {px}"))
    calls["e2e"] = end_to_end(models, work, settings)

    def finite(name: str, out: Any) -> None:
        if name == "plain" and not np.isfinite(out).all():
            raise SystemExit(
                f"plain IP2P gave NaN/inf pixels with these random weights in "
                f"{args.dtype_name}: rerun with --dtype fp32"
            )

    measure(rows, calls, args.repeats, args.device, check=finite)
    by_name = {row.name: row for row in rows}

    e2e = by_name["e2e"]
    if args.device.type == "cuda":
        verdict = "met" if e2e.median <= E2E_TARGET_S else "not met"
        e2e.note = f"absolute target ≤ {E2E_TARGET_S} s at 512² fp16 on an H100: {verdict}"
    # The plain call and maskedit's baseline (pixel) are the same computation: check it.
    baseline = by_name["pixel"].last.baseline
    plain_uint8 = (by_name["plain"].last * 255).round().astype(np.uint8)  # as numpy_to_pil does
    facts = {
        "plain_equals_baseline": bool(np.array_equal(plain_uint8, baseline)),
        "work_mask": float(work_mask.mean()),
        "large_mask": float(large_mask.mean()),
        "crop_info": by_name["crop-4096"].last.method_info.get("crop", {}),
    }
    return rows, facts, calls


def speedup_rows(models, args, plain_row: Row, calls: dict[str, Callable[[], Any]]) -> list[Row]:
    """Row 7: the plain and e2e calls of rows 1 and 6 again, after apply_speedups changed the same
    models in place; ratios against the plain row above."""
    from maskedit.speedups import Speedups, apply_speedups

    options = {name: True for name in args.speedups}
    applied = apply_speedups(models.pipe, models.sam.model, Speedups(**options))
    label = "+".join(args.speedups)
    rows = [
        Row(
            f"plain+{label}",
            f"the diffusers call after apply_speedups({label}); attention "
            f"{', '.join(applied['attention'])}",
        ),
        Row(f"e2e+{label}", "the e2e edit of row 6 on the optimised models"),
    ]
    again = {rows[0].name: calls["plain"], rows[1].name: calls["e2e"]}
    # two warm-ups: the first one compiles
    measure(rows, again, args.repeats, args.device, warmups=2, tag="speedups ")
    return [plain_row, *rows]


def batch_rows(models, args) -> tuple[list[Row], int]:
    """Row 8: throughput of 2N same-size cases, one at a time and N per denoiser call."""
    cases = 2 * args.batch
    rows, calls = batch_workload(models, args.batch, cases, args.size, args.steps)
    measure(rows, calls, args.repeats, args.device, tag="batch ")
    return rows, cases


def batch_table(rows: list[Row], cases: int) -> tuple[list[str], list[list[str]]]:
    head = [
        "run",
        "what",
        "median (wall)",
        "cases / min",
        "gain vs maskedit batch 1",
        "ratio vs plain at the same batch",
        "peak memory",
    ]
    ours1 = rows[2].median
    body = []
    for i, row in enumerate(rows):
        same = rows[0] if i in (0, 2) else rows[1]
        body.append(
            [
                row.name,
                row.what,
                secs(row.median),
                f"{cases / row.median * 60:.1f}",
                f"{ours1 / row.median:.2f}×",
                f"{row.median / same.median:.3f}×",
                mem_text(row.memory),
            ]
        )
    return head, body


def _is_maskedit(file: str) -> bool:
    return "maskedit" in Path(file).parts


def profile_rows(calls: dict[str, Callable[[], Any]]) -> list[list[str]]:
    """One cProfile'd run of each maskedit measurement: its own work vs the diffusers call.

    own = total - time inside the diffusers pipeline's `__call__` + maskedit code that the
    pipeline calls back (step callbacks, UNet hooks). Not disturbed by other processes the way a
    wall-time ratio is, but cProfile slows Python code a little; on CUDA, asynchronous kernels are
    charged to whichever call synchronises, so read this on CPU.
    """
    import cProfile
    import pstats

    body = []
    for name, call in calls.items():
        if name == "plain":
            continue
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(call)
        total = time.perf_counter() - t0
        stats = pstats.Stats(prof).stats  # {(file, line, function): (cc, nc, tt, ct, callers)}
        pipes = [
            key
            for key in stats
            if key[2] == "__call__" and Path(key[0]).name.startswith("pipeline_")
        ]
        pipe = sum(stats[key][3] for key in pipes)
        # maskedit code called from outside maskedit (diffusers callbacks, torch hooks), except
        # the top-level call from this script.
        inside = sum(
            ct
            for key, (*_, callers) in stats.items()
            if _is_maskedit(key[0])
            for caller, (_, _, _, ct) in callers.items()
            if not _is_maskedit(caller[0]) and Path(caller[0]).name != Path(__file__).name
        )
        # Functions that (transitively) call the pipeline contain it: leave them out of "mine".
        holders, todo = set(), list(pipes)
        while todo:
            for caller in stats.get(todo.pop(), (None,) * 5)[4] or {}:
                if caller not in holders:
                    holders.add(caller)
                    todo.append(caller)
        mine = [
            (cum, f"{Path(file).name}:{func}")
            for (file, line, func), (_, _, _, cum, _) in stats.items()
            if _is_maskedit(file) and (file, line, func) not in holders
        ]
        own = total - pipe + inside
        top = ", ".join(f"{label} {secs(cum)}" for cum, label in sorted(mine, reverse=True)[:5])
        body.append([name, secs(total), secs(pipe), secs(own), f"{own / pipe:.2%}", top])
    return body


def sam_rows(models, args) -> dict[str, Any]:
    """Row 4: one embedding, then N cheap decodes (the clicks on one photo)."""
    from maskedit.masks.sam import SamPredictor

    sam = models.sam
    image = photo(SAM_IMAGE_HW)
    rng = np.random.default_rng(0)
    h, w = SAM_IMAGE_HW
    clicks = [
        (float(rng.uniform(0, w)), float(rng.uniform(0, h)), 1) for _ in range(max(SAM_CLICKS))
    ]
    embeds: list[float] = []
    decodes: list[float] = []
    totals: dict[int, list[float]] = {n: [] for n in SAM_CLICKS}
    memory: dict[str, int] = {}
    sync = torch.cuda.synchronize if args.device.type == "cuda" else (lambda: None)

    def clicks_on(predictor: SamPredictor) -> list[float]:
        """Seconds since the start after the embedding and after each click."""
        t0 = time.perf_counter()
        predictor.set_image(image)
        sync()
        marks = [time.perf_counter() - t0]
        for click in clicks:
            predictor.predict(points=np.array([click]))  # one click, one prompt, one decode
            marks.append(time.perf_counter() - t0)  # predict returns numpy: already synced
        return marks

    for r in range(args.repeats + 1):
        predictor = SamPredictor(sam.model, sam.processor)  # a fresh cache: one real embedding
        timing, marks = run_timed(lambda p=predictor: clicks_on(p), args.device)
        merge_max(memory, timing.memory)
        if predictor.embed_calls != 1:
            raise RuntimeError(f"SamPredictor embedded {predictor.embed_calls} times, expected 1")
        print(f"  SAM {'warm-up' if r == 0 else f'round {r}'}: embed {marks[0]:.3f} s", flush=True)
        if r > 0:
            embeds.append(marks[0])
            decodes.extend(np.diff(marks).tolist())
            for n in SAM_CLICKS:
                totals[n].append(marks[n])
    embed, decode = statistics.median(embeds), statistics.median(decodes)
    return {
        "embed": embed,
        "embed_range": (min(embeds), max(embeds)),
        "decode": decode,
        "decode_range": (min(decodes), max(decodes)),
        "totals": {n: statistics.median(v) for n, v in totals.items()},
        "memory": memory,
        "image_hw": SAM_IMAGE_HW,
        "longest_edge": sam.longest_edge,
        "params": sum(p.numel() for p in sam.model.parameters()),
    }


def overhead_rows(rows: list[Row], args) -> list[dict[str, Any]]:
    """Row 5: what the runner adds per case: write_case, and the metrics without CLIP."""
    from maskedit.outputs import write_case

    try:
        from maskedit.scoring import score_outputs
    except ImportError:
        score_outputs = None
    by_name = {row.name: row for row in rows}
    out = []
    with tempfile.TemporaryDirectory(prefix="maskedit-bench-") as tmp:
        for name in ("pixel", "crop-4096"):
            result = by_name[name].last
            h, w = result.original.shape[:2]
            outputs = dict(result.outputs)
            if result.baseline is not None:
                outputs = {"baseline": result.baseline, **outputs}
            jobs: dict[str, Callable[[], Any]] = {
                "write_case": lambda r=result, n=name: write_case(
                    r, Path(tmp) / f"{n}-{time.perf_counter_ns()}"
                )
            }
            if score_outputs is not None:
                jobs["metrics (no CLIP)"] = lambda r=result, o=outputs: score_outputs(
                    r.original, r.alpha, o, r.instruction
                )
            for job, call in jobs.items():
                times = []
                for i in range(min(args.repeats, OVERHEAD_REPEATS) + 1):
                    timing, _ = run_timed(call, torch.device("cpu"))
                    if i:
                        times.append(timing.wall)
                t = statistics.median(times)
                out.append(
                    {
                        "case": f"{name} ({w}×{h}, {len(outputs)} output(s))",
                        "job": job,
                        "seconds": t,
                        "fraction": t / by_name[name].median,
                    }
                )
    if score_outputs is None:
        out.append({"case": "—", "job": "metrics", "seconds": None, "fraction": None})
    return out


# ----------------------------------------------------------------------------------------------
# Report


def edit_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    plain = rows[0].median
    plain_cpu, plain_min = rows[0].cpu_median, min(rows[0].times)
    head = ["measurement", "what", "median (wall)", "min–max", "ratio vs plain", "target", "met"]
    head += ["ratio of minima", "CPU-time ratio", "peak memory"]
    body = []
    for row in rows:
        ratio = row.median / plain
        met = "" if row.target is None else ("yes" if ratio <= row.target else "**no**")
        what = row.what + (f"; {row.note}" if row.note else "")
        body.append(
            [
                row.name,
                what,
                secs(row.median),
                f"{secs(min(row.times))}–{secs(max(row.times))}",
                f"{ratio:.3f}×",
                "—" if row.target is None else f"≤ {row.target:g}×",
                met,
                f"{min(row.times) / plain_min:.3f}×",
                f"{row.cpu_median / plain_cpu:.3f}×",
                mem_text(row.memory),
            ]
        )
    return head, body


def parts_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """maskedit's own stage timings (EditResult.timings, medians): where each method's time goes."""
    head = ["measurement", "mask (array → alpha)", "baseline IP2P", "method (incl. composite)"]
    body = []
    for row in rows[1:]:
        med = {k: statistics.median(v) for k, v in row.parts.items()}
        method_key = next((k for k in med if k.startswith("method_")), None)
        method = secs(med[method_key]) if method_key else "—"
        if row.name == "pixel":
            method += " ← the composite: pixel's only extra work"
        body.append(
            [
                row.name,
                secs(med.get("mask", 0.0)),
                secs(med["edit"]) if "edit" in med else "—",
                method,
            ]
        )
    return head, body


def sam_table(sam: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = [
        "clicks N",
        "total for N clicks (median)",
        "embed + N × decode",
        "ratio",
        "re-embed per click",
    ]
    body = []
    for n, total in sam["totals"].items():
        model = sam["embed"] + n * sam["decode"]
        naive = n * (sam["embed"] + sam["decode"])
        body.append([str(n), secs(total), secs(model), f"{total / model:.3f}×", secs(naive)])
    return head, body


def overhead_table(over: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = ["case", "job", "median", "fraction of that edit"]
    body = []
    for o in over:
        if o["seconds"] is None:
            body.append([o["case"], o["job"], "skipped: maskedit.evaluate not importable", "—"])
        else:
            body.append([o["case"], o["job"], secs(o["seconds"]), f"{o['fraction']:.1%}"])
    return head, body


def block_key(args) -> str:
    """The docs block this run replaces: mode and device, plus the size when not the default."""
    key = f"{args.mode}-{args.device.type}"
    return key if args.size == args.default_size else f"{key}-{args.size}"


def section(args, info, facts, tables) -> str:
    """The body of this run's docs block: heading, command, facts, tables."""
    command = "python benchmarks/run.py " + shlex.join(args.argv)
    minutes = (time.perf_counter() - args.started) / 60
    settings = (
        f"working size {args.size}×{args.size}, {args.steps} steps, text guidance 7.5, image "
        f"guidance 1.5, seed 1337, dtype {args.dtype_name}; median of {args.repeats} runs after "
        f"1 warm-up run, rounds interleaved"
    )
    lines = [
        f"### `{args.mode}` on {device_name(args.device)}, {args.size}², {args.dtype_name}",
        "",
        f"Command: `{command}`",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- settings: {settings}",
        f"- run: took {minutes:.1f} min, load average at the end {load_average()}",
        f"- masks: {facts['work_mask']:.1%} square at {args.size}²; "
        f"{facts['large_mask']:.1%} disk at {LARGE_SIDE}² (crop box {facts['crop_info']})",
        "- plain output == maskedit's baseline (pixel run), bit for bit: "
        + ("yes" if facts["plain_equals_baseline"] else "**NO**"),
        "- ratios: `ratio vs plain` (and `met`) compares medians of wall time; `ratio of minima` "
        "compares the fastest runs (other processes only ever add time, so on a shared machine it "
        "is the better estimate); `CPU-time ratio` compares medians of this process's CPU time",
    ]
    if args.device.type == "cpu":
        lines.append(
            "- memory (CPU): `+X` = peak RSS sampled during the run minus RSS at its start (what "
            "the measurement added); `process` = getrusage peak RSS of the whole process so far "
            "(models, earlier runs and allocator caches included; it never goes down)"
        )
    else:
        lines.append("- memory (CUDA): `torch.cuda.max_memory_allocated`, reset per run")
    for title, (head, body) in tables.items():
        lines += ["", f"**{title}**", "", markdown_table(head, body)]
    if args.skip:
        lines += ["", f"Sections left out (`--skip`): {', '.join(sorted(args.skip))}."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("tiny", "realsize"), default="tiny")
    p.add_argument("--size", type=int, help="working size, px (tiny 128, realsize 512)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None)
    p.add_argument("--dtype", choices=("fp32", "fp16"), default=None)
    p.add_argument("--out", type=Path, default=None, help="markdown file to update")
    p.add_argument(
        "--profile", action="store_true", help="also one cProfile'd run of each maskedit row"
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to leave out: sam, overhead (to fit a slow machine)",
    )
    p.add_argument(
        "--speedups",
        default="",
        help="also time plain and e2e after these: compile, channels_last (comma-separated)",
    )
    p.add_argument("--batch", type=int, default=0, help="batch section with N (0: skip)")
    p.add_argument(
        "--sam-vit",
        choices=("base", "huge"),
        default=None,
        help="realsize SAM encoder (default: huge on CUDA, as maskedit's default SAM; base on CPU)",
    )
    args = p.parse_args(argv)
    args.speedups = [x.strip() for x in args.speedups.split(",") if x.strip()]
    if set(args.speedups) - {"compile", "channels_last"}:
        p.error(f"--speedups {args.speedups}: expected compile and/or channels_last")
    if args.batch < 0 or args.batch == 1:
        p.error("--batch: 0 (skip) or at least 2")
    args.default_size = 128 if args.mode == "tiny" else 512
    args.size = args.size or args.default_size
    if args.repeats < 1 or args.steps < 1:
        p.error("--repeats and --steps must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch.cuda.is_available() is False")
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.dtype_name = args.dtype or ("fp16" if args.device.type == "cuda" else "fp32")
    if args.dtype_name == "fp16" and args.device.type == "cpu":
        p.error("--dtype fp16 on CPU: slow and not what a CPU user would run; use fp32")
    args.dtype = {"fp32": torch.float32, "fp16": torch.float16}[args.dtype_name]
    args.skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    args.sam_vit = args.sam_vit or ("huge" if args.device.type == "cuda" else "base")
    if args.skip - {"sam", "overhead"}:
        p.error(f"--skip {sorted(args.skip)}: expected sam and/or overhead")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    args.started = time.perf_counter()
    info = machine(args.device)
    print(f"maskedit benchmark: {args.mode} on {args.device} ({args.dtype_name})", flush=True)
    t0 = time.perf_counter()
    models = build_models(args.mode, args.device, args.dtype, args.size, args.sam_vit)
    unet_m = sum(p.numel() for p in models.pipe.unet.parameters()) / 1e6
    info["models"] = (
        f"{models.kind}: UNet {unet_m:.0f}M params; SAM {models.sam_id} "
        f"(built in {time.perf_counter() - t0:.0f} s, not timed)"
    )
    print(f"  {info['models']}", flush=True)

    rows, facts, calls = edit_rows(models, args)  # no inference_mode: the pipeline's no_grad
    profiled = profile_rows(calls) if args.profile else None
    sam = sam_rows(models, args) if "sam" not in args.skip else None
    over = overhead_rows(rows, args) if "overhead" not in args.skip else None
    batched = batch_rows(models, args) if args.batch else None
    # last: it compiles, changing the models in place
    fast = speedup_rows(models, args, rows[0], calls) if args.speedups else None

    tables = {
        "1-3. Edit time, ratio to plain diffusers IP2P": edit_table(rows),
        "maskedit stage timings (medians of EditResult.timings)": parts_table(rows),
    }
    if sam is not None:
        sam_title = (
            f"4. SAM: one embedding + N clicks ({sam['params'] / 1e6:.0f}M params, "
            f"{sam['image_hw'][1]}×{sam['image_hw'][0]} photo, input long side "
            f"{sam['longest_edge']}): embed {secs(sam['embed'])}, decode per click "
            f"{secs(sam['decode'])}, peak memory {mem_text(sam['memory'])}"
        )
        tables[sam_title] = sam_table(sam)
    if over is not None:
        title = "5. Runner overhead per case (not part of the edit timings above)"
        tables[title] = overhead_table(over)
    if fast is not None:
        tables["7. Speedups: plain and e2e after apply_speedups (ratios to plain above)"] = (
            edit_table(fast)
        )
    if batched is not None:
        title = f"8. Batching: {batched[1]} cases of {args.size}², {args.steps} steps"
        tables[title] = batch_table(*batched)
    if profiled is not None:
        head = ["measurement", "total (profiled)", "inside diffusers call", "maskedit's own work"]
        head += ["own / diffusers call", "largest maskedit functions (cumulative)"]
        tables["cProfile: maskedit's own work beside the diffusers call (one run each)"] = (
            head,
            profiled,
        )
    for title, (head, body) in tables.items():
        print_table(title, head, body)
    if not facts["plain_equals_baseline"]:
        print("WARNING: plain output differs from maskedit's baseline", file=sys.stderr)
    if args.out is not None:
        write_block(args.out, block_key(args), section(args, info, facts, tables))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
