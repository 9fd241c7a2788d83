"""Per-editor cost of each spatial-control method against that editor's plain diffusers call.

    python benchmarks/editors.py [--editors ip2p,ip2p-xl,kontext,qwen-edit,...] [--repeats 7]
                                 [--steps 20] [--size 128] [--device cpu|cuda]
                                 [--out docs/benchmarks.md]

Tiny random models (built in code) by default: on a CPU this measures maskedit's overhead around
each pipeline, not the pipelines' real speed. `plain` is the editor's diffusers call with the
arguments a user passes (`maskedit.editing.editors.plain_kwargs`, checked equal to a hand-written
call in tests/equivalence/test_editors.py); each method runs alone (`baseline=False`; pixel needs
the baseline, so it is plain + composite; guidance where the editor has a guidance term to mask:
IP2P's text term, Qwen's true CFG, FLUX.2 [klein] Base's CFG). For Qwen-Image-Edit the plain call
encodes the source at the working size, as maskedit does (`maskedit.editing.source_area`). Ratios
compare medians of the same run after a warm-up, rounds interleaved so load changes hit every row
alike.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import harness
import torch
from workloads import editor_settings, masked_call, photo, plain_call, square_mask

BLOCK = "editors"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--editors",
        default="ip2p,ip2p-xl,kontext,qwen-edit,qwen-edit-plus,flux2-klein,flux2-klein-base",
    )
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=128, help="working size (long side), px")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    import maskedit
    from maskedit.families import EDITORS

    image = photo((args.size, args.size))
    mask = square_mask(args.size, 0.25)
    body = []
    for editor in args.editors.split(","):
        spec = EDITORS[editor]
        models = maskedit.load_models(
            "tiny", editor=editor, device=args.device, need_sam=False, working_size=args.size
        )
        settings = editor_settings(editor, args.size, args.steps)
        methods = ["pixel", "latent", "crop"] + (["guidance"] if spec.masked_guidance else [])
        calls = {"plain": plain_call(models, image, settings)}
        calls |= {m: masked_call(models, image, mask, settings, m) for m in methods}
        rows = [harness.Row(name) for name in calls]
        harness.measure(rows, calls, args.repeats, device, tag=f"{editor} ")
        plain = rows[0]
        for row in rows:
            body.append(
                [
                    editor,
                    row.name,
                    harness.secs(row.median),
                    f"{row.median / plain.median:.3f}×",
                    harness.secs(row.cpu_median),
                    f"{row.cpu_median / plain.cpu_median:.3f}×",
                    f"{args.size}² ({spec.pipeline_class})",
                    harness.mem_text(row.memory),
                ]
            )
        del models
    head = ["editor", "measurement", "wall median", "wall ratio", "CPU median", "CPU ratio"]
    head += ["working size (class)", "peak memory"]
    harness.print_table("Editors: each method against the editor's plain call", head, body)
    command = "python benchmarks/editors.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    memory = (
        "`torch.cuda.max_memory_allocated`, reset per run"
        if device.type == "cuda"
        else "`+X` = RSS the run added, `process` = the process's peak RSS so far"
    )
    lines = [
        f"### Editors, tiny models on {harness.device_name(device)}",
        "",
        f"Command: `{command}`",
        "",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads; {args.steps} steps, "
        f"median of {args.repeats} after a warm-up, rounds interleaved; 25 % square mask; "
        "`baseline=False` (each method alone)",
        f"- peak memory: {memory}",
        "- wall-clock ratios on a shared machine move with other jobs; the CPU-time ratio (this "
        "process's CPU seconds) is the steadier figure",
        "",
        harness.markdown_table(head, body),
    ]
    if args.out is not None:
        harness.write_block(args.out, BLOCK, "\n".join(lines))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
