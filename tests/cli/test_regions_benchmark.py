"""benchmarks/regions.py end to end at a toy size: both rows run and the docs block is written.

Not a timing test (nothing is asserted about seconds): it keeps the script from rotting.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "regions.py"


def test_regions_benchmark_writes_its_block(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the script imports harness, workloads
    spec = importlib.util.spec_from_file_location("bench_regions", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_regions", bench)
    spec.loader.exec_module(bench)
    out = tmp_path / "turns.md"
    args = ["--n", "2", "--methods", "latent", "--repeats", "1", "--steps", "1", "--size", "64"]
    assert bench.main([*args, "--out", str(out)]) == 0
    text = out.read_text()
    assert "<!-- benchmark:regions-cpu -->" in text and "<!-- /benchmark:regions-cpu -->" in text
    assert "| latent | 2 |" in text and "| 2 samples |" in text
    masks = bench.square_masks(64, 4)
    assert not any((a & b).any() for i, a in enumerate(masks) for b in masks[i + 1 :])
