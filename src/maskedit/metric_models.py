"""The metric networks a run or an evaluation scores with, chosen for the benchmarks its cases
come from: CLIP (PIE-Bench's ViT-L/14 for PIE-Bench), LPIPS and DINO. Loading only: the scoring
is in `maskedit.evaluate`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from maskedit.config import Case
from maskedit.errors import MaskeditError
from maskedit.scoring import UNNAMED_CLIP, Backbones
from maskedit.tables import read_record

LPIPS_BENCHMARKS = STRUCTURE_BENCHMARKS = frozenset({"pie-bench"})  # whose tables have them
DINO_BENCHMARKS = frozenset({"magicbrush"})
# what `maskedit.scoring.scoring_key` calls each tiny network (random, built in code)
TINY_NAMES = {
    "clip": UNNAMED_CLIP,
    "lpips": "LpipsNet",
    "structure": "ViTModel",
    "dino": "ViTModel",
}


def benchmarks_of(dirs: Iterable[str | os.PathLike]) -> set[str]:
    """The benchmarks the case folders come from (their records' ``benchmark.name``)."""
    names = set()
    for case_dir in dirs:
        try:
            tag = read_record(case_dir).get("benchmark")
        except MaskeditError:  # a damaged record: scoring names and skips that case
            continue
        if isinstance(tag, dict) and tag.get("name"):
            names.add(str(tag["name"]))
    return names


def load_backbones(
    lpips: str = "auto",
    structure: str = "auto",
    dino: str = "auto",
    *,
    benchmarks: Iterable[str] = (),
    tiny: bool = False,
    device: str | None = None,
) -> Backbones:
    """The LPIPS and DINO networks the metrics need, each chosen like ``--clip``.

    "none": not loaded; "tiny": random, built in code; "auto": loaded only when one of
    ``benchmarks`` reports the column (LPIPS and the structure distance for PIE-Bench, DINO for
    MagicBrush), tiny for tiny runs, else the benchmark's own checkpoint, skipped with one
    warning when its weights are missing; anything else is a folder (LPIPS) or a hub id / folder
    (DINO) that must load.
    """
    from maskedit.models import metric_nets
    from maskedit.models.hub import pick_device

    wanted = set(benchmarks)
    dev = pick_device(device)

    def pick(choice: str, needed: frozenset[str], build_tiny, load_real, default):
        if choice == "none" or (choice == "auto" and not wanted & needed):
            return None
        if choice == "tiny" or (choice == "auto" and tiny):
            return build_tiny().to(dev)
        return load_real(default if choice == "auto" else choice, dev, required=choice != "auto")

    from maskedit.tiny.metrics import build_tiny_dino, build_tiny_lpips

    return Backbones(
        lpips=pick(lpips, LPIPS_BENCHMARKS, build_tiny_lpips, metric_nets.load_lpips, None),
        structure=pick(
            structure,
            STRUCTURE_BENCHMARKS,
            lambda: build_tiny_dino(seed=1),
            metric_nets.load_dino,
            metric_nets.DEFAULT_DINO_STRUCTURE_ID,
        ),
        dino=pick(
            dino,
            DINO_BENCHMARKS,
            build_tiny_dino,
            metric_nets.load_dino,
            metric_nets.DEFAULT_DINO_MAGICBRUSH_ID,
        ),
    )


def default_clip_id(benchmarks: Iterable[str]) -> str | None:
    """The CLIP ``--clip auto`` loads for real models: PIE-Bench's ViT-L/14 when every case is
    PIE-Bench's, else None (maskedit's default, ViT-B/32, which MagicBrush also uses)."""
    from maskedit.models.metric_nets import DEFAULT_CLIP_PIE_ID

    names = set(benchmarks)
    return DEFAULT_CLIP_PIE_ID if names == {"pie-bench"} else None


@dataclass(frozen=True)
class MetricChoices:
    """Which metric networks score a run, as ``--clip``, ``--lpips``, ``--structure-dino`` and
    ``--dino`` name them. Chosen once from the flags and loaded where the cases are scored (here,
    or on each Ray actor), so that a run scores with the same networks wherever it runs."""

    clip: str = "auto"
    lpips: str = "auto"
    structure: str = "auto"
    dino: str = "auto"

    def load(
        self, benchmarks: Iterable[str] = (), *, tiny: bool = False, device: str | None = None
    ) -> tuple[tuple[Any, Any] | None, Backbones]:
        """The CLIP pair ("auto" is PIE-Bench's ViT-L/14 when every case is PIE-Bench's) and the
        `Backbones` for cases of ``benchmarks`` (`load_backbones`)."""
        from maskedit.models import clip_for_metrics

        names = set(benchmarks)
        default = default_clip_id(names)
        pair = clip_for_metrics(self.clip, tiny=tiny, device=device, default=default)
        backbones = load_backbones(
            self.lpips, self.structure, self.dino, benchmarks=names, tiny=tiny, device=device
        )
        return pair, backbones

    def benchmark_clips(
        self, benchmarks: Iterable[str] = (), *, tiny: bool = False, device: str | None = None
    ) -> dict[str, tuple[Any, Any] | None]:
        """With ``--clip auto``, each benchmark whose protocol's CLIP is not the one `load`
        gives the whole run (PIE-Bench's ViT-L/14 in a run that also holds MagicBrush cases):
        its own, for its cases (`Scorers.clips`). Empty otherwise: one CLIP scores every case."""
        from maskedit.models import clip_for_metrics

        names = set(benchmarks)
        if self.clip != "auto" or tiny:
            return {}
        run_default = default_clip_id(names)
        return {
            name: clip_for_metrics("auto", tiny=False, device=device, default=own)
            for name in sorted(names)
            if (own := default_clip_id({name})) != run_default
        }

    def names(self, benchmarks: Iterable[str] = (), *, tiny: bool = False) -> dict[str, Any]:
        """What `maskedit.scoring.scoring_key` will call the networks `load` gives, as far as the
        choices say it without loading any: None for "none" or one no benchmark needs, a tiny
        one's class, a folder or hub id as given; a real one "auto" picks is left out (missing
        weights skip it)."""
        wanted, out = set(benchmarks), {}
        for key, choice, needed in (
            ("clip", self.clip, None),
            ("lpips", self.lpips, LPIPS_BENCHMARKS),
            ("structure", self.structure, STRUCTURE_BENCHMARKS),
            ("dino", self.dino, DINO_BENCHMARKS),
        ):
            unneeded = needed is not None and not wanted & needed
            if choice == "none" or (choice == "auto" and unneeded):
                out[key] = None
            elif choice == "tiny" or (choice == "auto" and tiny):
                out[key] = TINY_NAMES[key]
            elif choice != "auto":  # must load, named as given
                out[key] = choice
        return out


def case_benchmarks(cases: Iterable[Case]) -> frozenset[str]:
    """The benchmarks a manifest's cases come from (their ``benchmark.name``)."""
    return frozenset(c.benchmark.name for c in cases if c.benchmark is not None)
