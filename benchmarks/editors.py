"""Per-editor cost of each spatial-control method against that editor's plain diffusers call.

    python benchmarks/editors.py [--editors ip2p,ip2p-xl,kontext] [--repeats 7] [--steps 20]
                                 [--size 128] [--device cpu|cuda] [--out docs/benchmarks.md]

Tiny random models (built in code) by default: on a CPU this measures maskedit's overhead around
each pipeline, not the pipelines' real speed. `plain` is the editor's diffusers call with the
arguments a user passes (`maskedit.editing.editors.plain_kwargs`, checked equal to a hand-written
call in tests/equivalence/test_editors.py); each method runs alone (`baseline=False`; pixel needs
the baseline, so it is plain + composite). Ratios compare medians of the same run after a warm-up,
rounds interleaved so load changes hit every row alike.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

MARK = "benchmark:editors"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--editors", default="ip2p,ip2p-xl,kontext")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=128, help="working size (long side), px")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = p.parse_args(argv)

    import maskedit
    from maskedit.editing.editors import EDITORS, call_pipeline, plain_kwargs, resolve_settings
    from maskedit.images import resize_rgb, sample_image

    image = resize_rgb(sample_image("astronaut"), (args.size, args.size))
    mask = np.zeros(image.shape[:2], bool)
    q = args.size // 4
    mask[q : 3 * q, q : 3 * q] = True  # 25 %
    lines = []
    for editor in args.editors.split(","):
        spec = EDITORS[editor]
        models = maskedit.load_models(
            "tiny", editor=editor, device=args.device, need_sam=False, working_size=args.size
        )
        base = resolve_settings(
            maskedit.EditSettings(steps=args.steps, working_size=args.size), spec
        )
        methods = ["pixel", "latent", "crop"] + (["guidance"] if spec.text_guidance else [])

        def plain(models=models, base=base):
            return call_pipeline(
                models.pipe, plain_kwargs(models.pipe, image, "make it gold", base), image.shape[:2]
            )

        def masked(method, models=models, base=base):
            s = maskedit.EditSettings(**{**base.model_dump(), "methods": (method,)})
            return lambda: maskedit.edit(
                image, "make it gold", models=models, mask=mask, settings=s, baseline=False
            )

        calls = {"plain": plain, **{m: masked(m) for m in methods}}
        times: dict[str, list[float]] = {k: [] for k in calls}
        cpu: dict[str, list[float]] = {k: [] for k in calls}
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for r in range(args.repeats + 1):  # round 0 is the warm-up
            for name, fn in calls.items():
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                if r:
                    times[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        med = {k: statistics.median(v) for k, v in times.items()}
        cmed = {k: statistics.median(v) for k, v in cpu.items()}
        for name in calls:
            ratio = med[name] / med["plain"]
            cratio = cmed[name] / cmed["plain"]
            lines.append(
                f"| {editor} | {name} | {med[name] * 1e3:.1f} ms | {ratio:.3f}× | "
                f"{cmed[name] * 1e3:.1f} ms | {cratio:.3f}× | "
                f"{args.size}² ({spec.pipeline_class}) | "
                f"{peak:.2f} GiB (+{(peak - rss0 / 2**20):.2f}) |"
            )
        del models
    header = [
        f"### Editors, tiny models on {args.device} ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/editors.py {' '.join(argv or sys.argv[1:])}`".rstrip(),
        "",
        f"- {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.steps} steps, median of {args.repeats} after "
        "a warm-up, rounds interleaved; 25 % square mask; `baseline=False` (each method alone)",
        "- peak memory: process peak RSS (GiB) and its growth during that editor's rows",
        "",
        "- wall-clock ratios on a shared 2-core machine move with other jobs; the CPU-time ratio "
        "(this process's CPU seconds) is the steadier figure",
        "",
        "| editor | measurement | wall median | wall ratio | CPU median | CPU ratio "
        "| working size (class) | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    table = "\n".join(header + lines)
    print(table)
    if args.out is not None:
        text = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
        start, end = f"<!-- {MARK} -->", f"<!-- /{MARK} -->"
        block = f"{start}\n{table}\n{end}"
        if start in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
