"""The benchmark harness: how every script times, measures memory and writes its results block.

- `run_timed(fn, device)`: wall and CPU seconds of one call, CUDA synchronised before and after,
  and the memory it took (CUDA: `max_memory_allocated`, reset per call; CPU: RSS, sampled).
- `Row` and `measure`: warm-up rounds (not counted), then `repeats` counted rounds, every row once
  per round, interleaved so that a slow spell of a shared machine hits every row alike; medians.
- `Budget`: a section's time limit. `measure` starts a round only if the last one would still
  fit; as a context manager it also stops a call that overruns (`OverBudget`, by SIGALRM).
- `machine`, `device_name`, `secs`, `gib`, `mem_text`, `markdown_table`, `print_table`: the facts
  and formats of a results block; `write_block` puts the block into a markdown file between
  `<!-- benchmark:KEY -->` markers, replacing the one already there or appending it.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import re
import resource
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# ----------------------------------------------------------------------------------------------
# Memory


def _rss_bytes_now() -> int:
    """Current resident set size of this process (psutil if installed, else /proc on Linux)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int:
    """The process's peak RSS so far (getrusage; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class RssProbe:
    """Peak RSS above the starting RSS while the block runs, sampled every `interval` seconds.

    CPU memory is process-wide: the models, earlier results and the allocator's caches all count,
    and freed memory is not always returned to the OS. So `delta` (sampled peak minus RSS at the
    start) is what this measurement added on top of what the process already held, and
    `process_peak` (getrusage's ru_maxrss) is the high-water mark of the whole process so far.
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes_now())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssProbe:
        self.start = self.peak = _rss_bytes_now()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes_now())
        self.delta = self.peak - self.start
        self.process_peak = max_rss_bytes()


def merge_max(into: dict[str, int], new: dict[str, int]) -> None:
    for key, value in new.items():
        into[key] = max(into.get(key, 0), value)


# ----------------------------------------------------------------------------------------------
# Timing


@dataclass
class Timing:
    """One run: wall seconds, process CPU seconds, memory facts."""

    wall: float
    cpu: float
    memory: dict[str, int]


def run_timed(fn: Callable[[], Any], device: torch.device) -> tuple[Timing, Any]:
    """Wall seconds, process CPU seconds, memory facts and the return value of one call of `fn`.

    CPU seconds (user + system of all this process's threads) are less disturbed than wall time
    when other processes share the cores, so the tables show both. On CUDA the clock starts and
    stops on a synchronised device, so queued kernels are charged to the call that queued them.
    """
    gc.collect()  # garbage of earlier runs (4096² arrays) is freed before, not during, the timing
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        torch.cuda.synchronize(device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Timing(wall, cpu, {"cuda_peak": torch.cuda.max_memory_allocated(device)}), out
    with RssProbe() as probe:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Timing(wall, cpu, {"rss_delta": probe.delta, "rss_peak": probe.process_peak}), out


@dataclass
class Row:
    """One measurement: its timed runs (warm-up excluded) and the largest memory seen."""

    name: str
    what: str = ""
    times: list[float] = field(default_factory=list)  # wall seconds
    warmups: list[float] = field(default_factory=list)  # wall seconds of the warm-up runs
    cpu_times: list[float] = field(default_factory=list)  # process CPU seconds
    memory: dict[str, int] = field(default_factory=dict)
    target: float | None = None
    note: str = ""
    last: Any = None  # the last return value (an EditResult for maskedit rows)
    parts: dict[str, list[float]] = field(default_factory=dict)  # EditResult.timings per run

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_times) if self.cpu_times else math.nan

    def add(self, timing: Timing, out: Any, counted: bool) -> None:
        self.last = out
        merge_max(self.memory, timing.memory)  # max over all runs, the warm-up included
        if not counted:
            self.warmups.append(timing.wall)
            return
        self.times.append(timing.wall)
        self.cpu_times.append(timing.cpu)
        for key, value in getattr(out, "timings", {}).items():
            self.parts.setdefault(key, []).append(value)


class OverBudget(Exception):
    """A section ran past its time budget."""


class Budget:
    """The seconds a section may take.

    `fits(seconds)` says whether more work of that length still fits. Used as a context manager
    it is also a hard stop: `OverBudget` is raised in the main thread `grace` seconds after the
    end (SIGALRM; Unix only, elsewhere the soft checks alone apply).
    """

    def __init__(self, seconds: float, grace: float = 15.0):
        self.seconds, self.grace = seconds, grace
        self.end = time.monotonic() + seconds
        self._old: Any = None

    def left(self) -> float:
        return self.end - time.monotonic()

    def fits(self, seconds: float) -> bool:
        return self.left() >= seconds

    def _alarm(self, *_: Any) -> None:
        raise OverBudget(f"stopped {self.grace:g} s after its {self.seconds:.0f} s budget")

    def __enter__(self) -> Budget:
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, max(self.left(), 0.0) + self.grace)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            self._old = None


def measure(
    rows: list[Row],
    calls: dict[str, Callable[[], Any]],
    repeats: int,
    device: torch.device,
    *,
    warmups: int = 1,
    tag: str = "",
    budget: Budget | None = None,
    check: Callable[[str, Any], None] | None = None,
) -> int:
    """`warmups` uncounted rounds, then up to `repeats` counted ones; returns how many counted.

    Every round calls each row's `calls[row.name]` once, in the order of `rows`. With a budget, a
    counted round starts only if the previous round's duration still fits. `check(name, out)`
    sees every return value (to stop early on a broken output).
    """
    counted, last = 0, 0.0
    for r in range(warmups + repeats):
        if budget is not None and r >= warmups and not budget.fits(last):
            print(f"  {tag}budget: {counted} of {repeats} rounds fitted", flush=True)
            break
        label = "warm-up" if r < warmups else f"round {r - warmups + 1}/{repeats}"
        t0 = time.perf_counter()
        for row in rows:
            timing, out = run_timed(calls[row.name], device)
            if check is not None:
                check(row.name, out)
            row.add(timing, out, counted=r >= warmups)
            print(
                f"  {tag}{label:>12}  {row.name:<26} {timing.wall:8.3f} s wall "
                f"{timing.cpu:8.3f} s CPU",
                flush=True,
            )
        last = time.perf_counter() - t0
        counted += r >= warmups
    return counted


# ----------------------------------------------------------------------------------------------
# Facts and formats


def cpu_name() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        name = found.group(1).strip() if found else name
    except OSError:
        pass
    return name


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with its core count: what a results heading names."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} cores)"


def machine(device: torch.device) -> dict[str, str]:
    """CPU, GPU, memory and library versions, for the facts list of a block."""
    info = {
        "cpu": f"{cpu_name()}, {os.cpu_count()} cores (nproc), "
        f"torch threads {torch.get_num_threads()}",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    try:
        import diffusers
        import transformers

        info["diffusers / transformers"] = f"{diffusers.__version__} / {transformers.__version__}"
    except ImportError:
        pass
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    try:
        with open("/proc/meminfo") as f:
            kib = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))
        info["memory"] = f"{kib / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return info


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "n/a"


def gib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**30:.2f} GiB"


def mem_text(memory: dict[str, int]) -> str:
    """CUDA peak, or on CPU the RSS added by the run and the process's peak."""
    if "cuda_peak" in memory:
        return gib(memory["cuda_peak"])
    if not memory:
        return "—"
    return f"+{gib(memory.get('rss_delta'))} (process {gib(memory.get('rss_peak'))})"


def secs(t: float) -> str:
    if math.isnan(t):
        return "—"
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def print_table(title: str, head: list[str], body: list[list[str]]) -> None:
    """The table on the terminal (rich when installed, else its markdown)."""
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        print(f"\n{title}\n{markdown_table(head, body)}", flush=True)
        return
    table = Table(title=escape(title), title_justify="left")
    for h in head:
        table.add_column(escape(h))
    for row in body:
        table.add_row(*[escape(cell.replace("**", "")) for cell in row])
    Console(width=160).print(table)


def block(key: str, body: str) -> str:
    """`body` between the markers of block `key`."""
    return f"<!-- benchmark:{key} -->\n{body.strip()}\n<!-- /benchmark:{key} -->\n"


def write_block(path: Path, key: str, body: str) -> str:
    """Put block `key` into the markdown file `path`: replace it where it is, else append it.

    Returns the block's text (markers included). The rest of the file is left as it was.
    """
    text = block(key, body)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(
        rf"<!-- benchmark:{re.escape(key)} -->.*?<!-- /benchmark:{re.escape(key)} -->\n?", re.S
    )
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
    return text
