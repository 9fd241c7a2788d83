"""What a run tells as it goes: the progress bar, every attempt in run_log.jsonl, and the summary
of done, skipped, redone, rescored and failed cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from maskedit.outputs import append_line, dumps_json

RUN_LOG = "run_log.jsonl"  # every attempt; results.jsonl/summary.csv are derived tables


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # done again because their case, inputs or models changed, or their folder lost a file
    redone: list[str] = field(default_factory=list)
    # scored again from their folders, nothing edited: only the scoring changed
    rescored: list[str] = field(default_factory=list)
    # case folders in the output folder that this manifest does not name (not in the tables)
    others: list[str] = field(default_factory=list)
    # CLIP model -> cases scored with it, when the tables mix several (a resume with another
    # --clip keeps the finished cases' scores; `maskedit eval` scores them all with one)
    clip_models: dict[str, int] = field(default_factory=dict)
    # ... because each benchmark's cases were scored with its protocol's own CLIP
    clip_per_benchmark: bool = False


def progress_bar(show: bool):
    """The cases bar of a run (local or Ray): description, bar, done/total, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, disable=not show, transient=False)


def log_attempt(out_dir: Path, row: dict, summary: RunSummary) -> None:
    """Append an attempt to run_log.jsonl and count it in the summary (skips are not logged).

    The line is written whole or not at all; a full disk stops the run with one line."""
    if row["status"] == "skipped":
        summary.skipped.append(row["case_id"])
        return
    if row["status"] == "ok":
        summary.done.append(row["case_id"])
        if row.get("redone"):
            summary.redone.append(row["case_id"])
        if row.get("rescored"):
            summary.rescored.append(row["case_id"])
    else:
        summary.failed[row["case_id"]] = row["error"]
    append_line(out_dir / RUN_LOG, dumps_json(row))
