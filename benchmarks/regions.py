"""N regions in one edit against the same N regions as N sequential turns.

    python benchmarks/regions.py [--n 2,4] [--methods pixel,latent] [--repeats 5] [--steps 4]
                                 [--size 128] [--threads 1] [--device cpu] [--out docs/turns.md]

`regions ×N`: one `maskedit.edit_regions` call with N regions, whose editor calls share one
denoiser batch. `turns ×N`: N `maskedit.edit` calls one after another, each on the last one's
output: the editing N turns do, without writing their folders. Same photo, masks (N disjoint
squares), instructions, seeds and settings; one method per row. Tiny random models by default:
on a CPU this measures what batching the regions' calls saves, not the real models' speed. One
warm-up round, then the rounds interleaved (regions, turns, regions, …) so that a slow spell of
a shared machine hits both alike; the ratio is of the medians of the same run. `--threads`
(torch's CPU threads, default 1): tiny models gain nothing from threads, and on a busy CPU
spinning threads slow the batched call most, which would blur the comparison.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import harness
import numpy as np
import torch
from workloads import SEED, photo

BLOCK = "regions"
COLORS = ("red", "blue", "gold", "green", "white", "black", "purple", "orange")


def square_masks(side: int, n: int) -> list[np.ndarray]:
    """`n` disjoint squares, each about 1/16 of a side×side image, along the diagonal."""
    cell = side // max(4, n)
    masks = []
    for k in range(n):
        mask = np.zeros((side, side), dtype=bool)
        mask[k * cell : k * cell + cell // 2 + 1, k * cell : k * cell + cell] = True
        masks.append(mask)
    return masks


def regions_call(models, image, masks, settings):
    """One edit with every region (their editor calls batched)."""
    import maskedit

    regions = [
        {"instruction": f"make it {COLORS[k % len(COLORS)]}", "mask": m, "settings": settings}
        for k, m in enumerate(masks)
    ]
    return lambda: maskedit.edit_regions(image, regions, models=models)


def turns_call(models, image, masks, settings):
    """The same regions as turns: each edit on the last one's primary output."""
    import maskedit

    def run():
        current = image
        for k, mask in enumerate(masks):
            instruction = f"make it {COLORS[k % len(COLORS)]}"
            current = maskedit.edit(
                current, instruction, mask=mask, settings=settings, models=models, baseline=False
            ).blended
        return current

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", default="2,4", help="region counts, comma-separated")
    p.add_argument("--methods", default="pixel,latent")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--size", type=int, default=128, help="photo side = working size, px")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    import maskedit

    models = maskedit.load_models(
        "tiny", device=args.device, need_sam=False, working_size=args.size
    )
    image = photo((args.size, args.size))
    counts = [int(n) for n in args.n.split(",")]
    body = []
    for method in args.methods.split(","):
        settings = maskedit.EditSettings(steps=args.steps, seed=SEED, methods=[method])
        for n in counts:
            masks = square_masks(args.size, n)
            calls = {
                f"regions ×{n}": regions_call(models, image, masks, settings),
                f"turns ×{n}": turns_call(models, image, masks, settings),
            }
            rows = [harness.Row(name) for name in calls]
            harness.measure(rows, calls, args.repeats, device, tag=f"{method} ")
            together, apart = rows
            first = together.last.regions[0]  # how many samples its editor call shared
            shared = first.batch.get("baseline") or first.method_info[method].get("batch", 1)
            body.append(
                [
                    method,
                    str(n),
                    harness.secs(together.median),
                    harness.secs(apart.median),
                    f"{together.median / apart.median:.2f}",
                    f"{together.cpu_median / apart.cpu_median:.2f}",
                    f"{shared} samples",
                ]
            )
    head = [
        "method",
        "N",
        "N regions, one edit",
        "N turns, one after another",
        "ratio (wall)",
        "ratio (CPU)",
        "shared call",
    ]
    title = f"N regions in one edit vs N turns ({harness.device_name(device)})"
    harness.print_table(title, head, body)
    if args.out is not None:
        facts = harness.machine(device)
        command = "python benchmarks/regions.py " + shlex.join(argv or sys.argv[1:])
        text = (
            f"`{command}`: tiny random models, {args.size}×{args.size} photo and working size, "
            f"{args.steps} steps, one method per row, median of {args.repeats} rounds after a "
            "warm-up (rounds interleaved). Ratio < 1: the regions in one edit are faster.\n\n"
            + harness.markdown_table(head, body)
            + "\n\n"
            + "\n".join(f"- {k}: {v}" for k, v in facts.items())
            + f"\n- load average: {harness.load_average()}\n"
        )
        harness.write_block(args.out, f"{BLOCK}-{device.type}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
