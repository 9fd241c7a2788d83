"""Throughput of `maskedit run --ray` against the local runner, and where Ray's overhead goes.

    python benchmarks/ray_throughput.py [--cases 8] [--steps 20] [--actors 1,2] [--repeats 3]
                                        [--out docs/scale-out.md]

Tiny random models on CPU, 512×512 photos (so that writing the PNGs and scoring cost what they
cost for a real 512² case; only the diffusion itself is tiny), methods = pixel (the baseline
edit + the composite), tiny CLIP metrics, the four kinds of region in turn.

1. local   `runner.run_manifest` with the models loaded beforehand (loading not counted).
2. ray     `ray_runner.run_manifest_ray` on a local Ray instance started once beforehand (its
           start is reported apart), with 1, 2, … actors, each in a fresh folder.

The rounds (local, then each actor count) are interleaved `--repeats` times and every figure is
the median over the rounds.

A case is finished when its record.json (the last file process_case writes) is. The first case
of each actor pays the fixed cost of a run (actor start, model loading in the actor, Ray Data
planning, a cold first edit); the steady cost of a case is the time between the later finishes,
times the number of actors (rows reach the driver in bursts, so the driver's clock is no use).
Per case, from the files the runs write (medians, each actor's first case left out): `edit` =
the sum of record.json's `timings_s` (read, mask, diffusion, composite), `process` =
run_log.jsonl's `seconds` (process_case: edit + scoring + writing the folder). Runner overhead =
process − edit. Ray overhead = steady cost − process: what an actor spends per case outside
process_case (dispatch, moving the case and the row, reporting).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import cpu_name, run_timed, write_block

KINDS = (
    "point: [260, 200]",
    "mask: m.png",
    "box: [150, 120, 380, 420]",
    "points: [[260, 200, 1], [20, 20, 0]]",
)
GPU_EDIT_S = (1.0, 2.0)  # ASSUMPTION: a 512², 20-step IP2P edit on one A100/H100 (fp16)
GPU_COUNTS = (1, 4, 8, 32)
BLOCK = "ray-throughput"


def make_manifest(root: Path, n: int, steps: int) -> Path:
    """N cases on one 512×512 photo (skimage's astronaut) and one mask file."""
    from PIL import Image
    from skimage import data

    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).save(root / "photo.png")
    mask = np.zeros((512, 512), np.uint8)
    mask[120:420, 150:380] = 255
    Image.fromarray(mask).save(root / "m.png")
    lines = [f"defaults: {{steps: {steps}}}", "cases:"]
    for i in range(n):
        lines.append(
            f" - {{id: c{i:03d}, image: photo.png, instruction: make it red, "
            f"{KINDS[i % len(KINDS)]}, seed: {i}}}"
        )
    path = root / f"m{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def case_stats(out: Path, skip: int) -> tuple[float, float]:
    """(median edit seconds, median process_case seconds) over a run folder's cases, leaving out
    the `skip` that finished first (each actor's cold first case)."""
    records = sorted(out.glob("*/record.json"), key=lambda p: p.stat().st_mtime)[skip:]
    log = [json.loads(line) for line in (out / "run_log.jsonl").read_text().splitlines()]
    seconds = {row["case_id"]: row["seconds"] for row in log if row["status"] == "ok"}
    edits = [sum(json.loads(p.read_text())["timings_s"].values()) for p in records]
    return statistics.median(edits), statistics.median(seconds[p.parent.name] for p in records)


def finish_times(out: Path) -> list[float]:
    """When each case finished (its record.json, the last file process_case writes), sorted."""
    return sorted(p.stat().st_mtime for p in out.glob("*/record.json"))


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians")
    parser.add_argument("--out", type=Path, help="replace the results block of this markdown")
    args = parser.parse_args()
    actor_counts = [int(a) for a in args.actors.split(",")]

    import ray
    import torch

    from maskedit.config import load_manifest
    from maskedit.models import clip_for_metrics, load_models
    from maskedit.ray_runner import run_manifest_ray
    from maskedit.runner import run_manifest

    n, cpu = args.cases, torch.device("cpu")
    if n <= max(actor_counts):
        parser.error(f"--cases {n}: need more cases than actors")
    tmp = Path(tempfile.mkdtemp(prefix="maskedit-ray-bench-"))
    try:
        manifest = load_manifest(make_manifest(tmp, n, args.steps))
        options = {"kind": "tiny", "device": "cpu", "need_sam": True}
        models = load_models(**options)
        clip = clip_for_metrics("auto", tiny=True, device="cpu")
        warm = manifest.model_copy(update={"cases": manifest.cases[:1]})
        run_manifest(warm, models, tmp / "warm", progress=False, clip=clip)

        t0 = time.perf_counter()
        cores = len(os.sched_getaffinity(0))
        ray.init(num_cpus=cores, include_dashboard=False, logging_level=logging.WARNING)
        ray_init = time.perf_counter() - t0
        rounds: dict[int, list[dict[str, float]]] = {0: [], **{a: [] for a in actor_counts}}
        for r in range(args.repeats):  # interleaved, so a busy spell hits every row alike
            print(f"round {r + 1}/{args.repeats}: local, {n} cases …", flush=True)
            out = tmp / f"local-{r}"
            timing, _ = run_timed(
                lambda o=out: run_manifest(manifest, models, o, progress=False, clip=clip), cpu
            )
            wall = timing.wall
            edit, process = case_stats(out, skip=0)  # models warmed up above
            rounds[0].append({"wall": wall, "steady": wall / n, "edit": edit, "process": process})
            for actors in actor_counts:
                print(f"round {r + 1}/{args.repeats}: ray, {actors} actor(s) …", flush=True)
                out = tmp / f"ray{actors}-{r}"
                start = time.time()
                timing, _ = run_timed(
                    lambda o=out, a=actors: run_manifest_ray(
                        manifest, o, model_options=options, num_actors=a, progress=False
                    ),
                    cpu,
                )
                wall = timing.wall
                times = finish_times(out)
                # after each actor's first case, `actors` cases finish per steady period
                steady = (times[-1] - times[actors - 1]) / (n - actors) * actors
                edit, process = case_stats(out, skip=actors)
                rounds[actors].append(
                    {
                        "wall": wall,
                        "first": times[0] - start,
                        "steady": steady,
                        "edit": edit,
                        "process": process,
                        "ray_overhead": steady - process,
                    }
                )
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def median(runs: list[dict[str, float]]) -> dict[str, float]:
        return {key: statistics.median(run[key] for run in runs) for key in runs[0]}

    local = median(rounds[0])
    local_wall, local_edit, local_process = local["wall"], local["edit"], local["process"]
    rows = [{"actors": a, **median(rounds[a])} for a in actor_counts]
    one = min(rows, key=lambda r: r["actors"])
    runner_overhead = local_process - local_edit
    ray_overhead = max(0.0, one["ray_overhead"])
    lines = [
        f"### `ray_throughput.py`: tiny models on {cpu_name()} ({cores} cores)",
        "",
        f"Command: `python benchmarks/ray_throughput.py --cases {n} --steps {args.steps} "
        f"--actors {args.actors} --repeats {args.repeats}`",
        "",
        f"- machine: {cpu_name()}, {cores} cores, "
        f"torch threads {torch.get_num_threads()} (each actor uses the same count), "
        f"python {platform.python_version()}, torch {torch.__version__}, ray {ray.__version__}",
        f"- cases: 512×512 photo, {args.steps} steps, methods pixel (baseline + composite), tiny "
        "CLIP metrics; tiny random models (the diffusion runs at 128² working size), so the edit "
        "is short and every overhead shows up large",
        f"- local Ray start (`ray.init`, once, not in the walls below): {fmt_s(ray_init)}",
        "",
        f"| run | actors | wall, {n} cases | cases/min (whole run) | first case done after "
        "| steady cost per case per actor | cases/min (steady) |",
        "|---|---|---|---|---|---|---|",
        f"| local `run_manifest` (models loaded before) | — | {fmt_s(local_wall)} "
        f"| {60 * n / local_wall:.0f} | — | {fmt_s(local_wall / n)} | {60 * n / local_wall:.0f} |",
    ]
    for r in rows:
        lines.append(
            f"| `run_manifest_ray` | {r['actors']} | {fmt_s(r['wall'])} "
            f"| {60 * n / r['wall']:.0f} | {fmt_s(r['first'])} | {fmt_s(r['steady'])} "
            f"| {60 * r['actors'] / r['steady']:.0f} |"
        )
    lines += [
        "",
        "| per case | local | " + " | ".join(f"Ray, {r['actors']} actor(s)" for r in rows) + " |",
        "|---|---|" + "---|" * len(rows),
        f"| edit (record timings: read, mask, diffusion, composite) | {fmt_s(local_edit)} | "
        + " | ".join(fmt_s(r["edit"]) for r in rows)
        + " |",
        f"| process_case (edit + scoring + writing the folder) | {fmt_s(local_process)} | "
        + " | ".join(fmt_s(r["process"]) for r in rows)
        + " |",
        f"| runner overhead (process_case − edit) | {fmt_s(local_process - local_edit)} | "
        + " | ".join(fmt_s(r["process"] - r["edit"]) for r in rows)
        + " |",
        "| Ray overhead (steady cost per case per actor − process_case) | — | "
        + " | ".join(fmt_s(r["ray_overhead"]) for r in rows)
        + " |",
        "",
        f"**Estimate for N GPUs** (one actor per GPU). ASSUMPTION, not measured here: a 512², "
        f"20-step IP2P edit takes {GPU_EDIT_S[0]:g}–{GPU_EDIT_S[1]:g} s on one A100/H100 in fp16. "
        f"Per case an actor then spends that edit + the runner overhead measured above for a "
        f"512² case ({fmt_s(runner_overhead)}: scoring and PNG writing, CPU work that a GPU node "
        f"does about as fast) + Ray's overhead ({fmt_s(ray_overhead)}, 1-actor run). Ray's "
        "share of a case and the throughput if the cases are many and the shared file system "
        "keeps up:",
        "",
        "| edit on the GPU (assumed) | Ray overhead share | "
        + " | ".join(f"{g} GPU{'s' * (g > 1)}, cases/min" for g in GPU_COUNTS)
        + " |",
        "|---|---|" + "---|" * len(GPU_COUNTS),
    ]
    for edit_s in GPU_EDIT_S:
        per_case = edit_s + runner_overhead + ray_overhead
        lines.append(
            f"| {edit_s:g} s | {100 * ray_overhead / per_case:.1f} % | "
            + " | ".join(f"{60 * g / per_case:.0f}" for g in GPU_COUNTS)
            + " |"
        )
    lines += [
        "",
        "Add the fixed cost once per run: actor start and model loading (seconds for the real "
        "models from a warm local cache; minutes from a cold one or a slow shared cache).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        write_block(args.out, BLOCK, text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
