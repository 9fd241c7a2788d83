"""benchmarks/run.py end to end at a toy size: every section runs and the docs block is written.

Not a timing test (nothing is asserted about seconds): it keeps the script a user runs on a GPU
from rotting while no GPU is at hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.slow  # every benchmark section end to end, tiny: the longest check here
def test_run_writes_every_section(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the script imports harness, workloads
    spec = importlib.util.spec_from_file_location("bench_run", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "LARGE_SIDE", 512)  # the large-photo row, small enough for a test
    out = tmp_path / "bench.md"
    args = ["--mode", "tiny", "--size", "64", "--steps", "2", "--repeats", "1"]
    args += ["--skip", "sam,overhead", "--batch", "2", "--speedups", "channels_last"]
    assert bench.main([*args, "--out", str(out)]) == 0
    text = out.read_text()
    assert "<!-- benchmark:tiny-cpu-64 -->" in text and "<!-- /benchmark:tiny-cpu-64 -->" in text
    assert "plain output == maskedit's baseline (pixel run), bit for bit: yes" in text
    for row in ("| pixel |", "| latent |", "| guidance |", "| crop |", "| crop-4096 |", "| e2e |"):
        assert row in text, row
    assert "| plain+channels_last |" in text and "| e2e+channels_last |" in text
    assert "| maskedit --batch-size 2 |" in text and "| plain ×2 |" in text
    assert "Sections left out (`--skip`): overhead, sam." in text
