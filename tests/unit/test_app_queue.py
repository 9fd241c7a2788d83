"""Runs that wait in Gradio's queue, driven through Gradio's own processing (`process_api`) the way
a browser drives the page: a widget's value is sent when its event joins the queue, a `gr.State`
is read when the queue processes the event, a step's `.success` joins once the step is done, and
a step still waiting joins again only with `trigger_mode="multiple"`."""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Browser:
    """One page session: the widgets' values as the browser holds them, and the server's state."""

    def __init__(self, demo):
        from gradio.state_holder import SessionState

        self.demo = demo
        self.state = SessionState(demo)
        self.values = {c["id"]: c.get("props", {}).get("value") for c in demo.config["components"]}
        self.by_elem = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
        self.waiting: list[int] = []  # the steps joined and not yet processed

    def __getitem__(self, elem_id: str):
        return self.values[self.by_elem[elem_id]._id]

    def __setitem__(self, elem_id: str, value) -> None:
        self.values[self.by_elem[elem_id]._id] = value

    def _join(self, fns) -> list:
        """The events join the queue, each with the widgets' values now (state: read later)."""
        fns = [f for f in fns if f.trigger_mode == "multiple" or f._id not in self.waiting]
        self.waiting += [f._id for f in fns]
        return [(f, [self.values.get(b._id) for b in f.inputs]) for f in fns]

    def trigger(self, elem_id: str, event: str) -> list:
        block = self.by_elem[elem_id]
        return self._join(
            f for f in self.demo.fns.values() if f.fn and (block._id, event) in f.targets
        )

    def process(self, joined) -> list:
        """The queue processes a joined event; returns the steps after it, joined now."""
        fn, data = joined
        self.waiting.remove(fn._id)
        try:
            out = asyncio.run(self.demo.process_api(block_fn=fn, inputs=data, state=self.state))
        except Exception:  # gr.Error: the browser shows a toast; only `.then` steps follow
            done = False
        else:
            done = True
            for block, value in zip(fn.outputs, out["data"], strict=True):
                if isinstance(value, dict) and value.get("__type__") == "update":
                    if "value" not in value:
                        continue
                    value = value["value"]
                if not block.stateful:
                    self.values[block._id] = value
        follow = [
            f
            for f in self.demo.fns.values()
            if f.fn and f.trigger_after == fn._id and (done or not f.trigger_only_on_success)
        ]
        return self._join(follow)

    def settle(self, joined: list) -> None:
        """Process the events and every step after them, one after the other."""
        for event in joined:
            self.settle(self.process(event))


def test_runs_waiting_in_the_queue_each_edit_their_own_press_in_order(tiny_models, tmp_path):
    from maskedit.app.web import build_app

    page = _Browser(build_app(tiny_models, workspace=tmp_path))
    page.settle(page.trigger("example-0", "click"))  # chelsea, a click on the cat, an instruction
    page["steps"] = 1
    words = ["make it red", "make it blue"]
    runs = []
    for instruction in words:  # each Run is checked at once; its run waits in the queue
        page["instruction"] = instruction
        (check,) = page.trigger("run", "click")
        runs += page.process(check)
    assert len(runs) == 2, "a press while a run waits made no run"
    page["instruction"] = ""  # a press whose check fails runs nothing
    (check,) = page.trigger("run", "click")
    assert page.process(check) == []

    # The queue runs them in turn, each starting as the one before ends, before the browser has
    # drawn that one's results; then the results are drawn, in order.
    shows = [page.process(run) for run in runs]
    status = []
    for show in shows:
        page.settle(show)
        status.append(page["run-status"])
    records = sorted(tmp_path.glob("session-*/edit-*/record.json"))
    assert [json.loads(r.read_text())["instruction"] for r in records] == words
    assert [json.loads(r.read_text())["app"]["run"] for r in records] == [1, 2]
    assert "Run 1:" in status[0] and words[0] in status[0], status
    assert "Run 2:" in status[1] and words[1] in status[1], status


def test_a_pending_job_runs_once_and_a_lost_one_is_said():
    from maskedit.app.pending import PendingRuns
    from maskedit.errors import InputError

    pending = PendingRuns()
    first, second = pending.add("job A"), pending.add("job B")
    assert first != second
    assert pending.take(second) == "job B" and pending.take(first) == "job A"
    for key in (first, None):
        with pytest.raises(InputError, match="press Run again"):
            pending.take(key)
    pending.keep(first, "run A")
    assert pending.history(["run 0"]) == ["run 0", "run A"]
    assert pending.shown(first) == "run A" and pending.shown(first) is None
    assert pending.history(None) == []
