"""The runs one page session has checked and not yet shown, each under its own key.

Gradio reads a `gr.State` input when the queue processes an event, not when the event joined the
queue; a widget's value, though, the browser sends when the event joins. So a run that waits in
the queue behind others, if it read its job from a `gr.State`, would edit the job of the *last*
press of Run, and the earlier press would be lost. Instead each press's check keeps its `RunJob`
here under a new key, which it writes into a hidden widget; the run the press queued carries that
key and takes its own job. The run then keeps its `Run` here, under the same key, until the page
has shown it: a run that starts meanwhile is numbered after it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from maskedit.errors import InputError

if TYPE_CHECKING:
    from maskedit.app.compare import Run
    from maskedit.app.run import RunJob


class PendingRuns:
    """One session's checked jobs (key → `RunJob`) and its runs made but not shown (key → `Run`).

    A `gr.State(PendingRuns())` gives each session its own copy; Gradio's threads share it, and
    every change is one dict operation.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, RunJob] = {}
        self.made: dict[str, Run] = {}

    def add(self, job: RunJob) -> str:
        """Keep a checked job; its key, for the run the same press queues."""
        key = uuid.uuid4().hex
        self.jobs[key] = job
        return key

    def take(self, key: str | None) -> RunJob:
        """The job checked under `key`, no longer kept (each press runs once)."""
        job = self.jobs.pop(key, None) if key else None
        if job is None:
            raise InputError("run: its settings are gone (was the page reloaded?); press Run again")
        return job

    def history(self, runs: list[Run] | None) -> list[Run]:
        """The runs shown and those made but not shown yet: a new run is numbered after them."""
        return [*(runs or []), *self.made.values()]

    def keep(self, key: str, run: Run) -> None:
        """A finished run, until the page shows it."""
        self.made[key] = run

    def shown(self, key: str | None) -> Run | None:
        """The run made under `key`, to show now (None: the run stopped, or was shown)."""
        return self.made.pop(key, None) if key else None
