"""`maskedit study DIR`: a blind human study of baseline vs masked edits, and its summary.

Each rater sees the original with the case's region drawn (mask outline, clicks, box or phrase)
and, side by side, the two edits in a random left/right order (recorded per pair), and answers two
questions with left / right / both / neither, by mouse or keys. Every answer is one row of
DIR/study.sqlite (`study_votes`); `study_summary` turns rows into win rates with Wilson intervals,
and says who rated and how much they agree.

This module is the page; the names of the other two are re-exported here.
"""

# No `from __future__ import annotations`: Gradio reads callback annotations as real classes.

import os
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from maskedit.app.study_summary import (
    OUTCOMES,
    Z95,
    Agreement,
    Summary,
    SummaryRow,
    agreement,
    fleiss_kappa,
    format_raters,
    format_summary,
    outcome,
    pairwise_agreement,
    rating_counts,
    summarize,
    votes_per_rater,
    wilson_interval,
)
from maskedit.app.study_votes import (
    ANSWERS,
    CASE_FILES,
    DB_NAME,
    MAX_RATER_LEN,
    QUESTIONS,
    SIDES,
    AlreadyAnswered,
    Pair,
    StudyCase,
    Vote,
    VoteStore,
    assign_pair,
    check_rater,
    load_cases,
    make_votes,
    next_pair,
    normalise_rater,
    read_votes,
    region_view,
    region_words,
)
from maskedit.app.texts import CLEAR_TOASTS, plain

if TYPE_CHECKING:
    import gradio as gr

KEYS = {"region": "1234", "instruction": "qwer"}  # left, right, both, neither
KEY_HINT = (
    "Keys: 1 left · 2 right · 3 both · 4 neither for the region; Q W E R the same for the "
    "instruction; Enter submits."
)
# Keyboard shortcuts: a key clicks the matching answer; Enter submits. Keys typed into a text
# box (the rater id) are left alone.
SHORTCUTS_JS = """
() => {
  const keys = {"q-region": "REGION_KEYS", "q-instruction": "INSTRUCTION_KEYS"};
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "radio"))) return;
    const key = e.key.toLowerCase();
    for (const [id, row] of Object.entries(keys)) {
      const i = row.indexOf(key);
      if (i >= 0 && key.length === 1) {
        const options = document.querySelectorAll("#" + id + " input[type=radio]");
        if (options[i]) { options[i].click(); e.preventDefault(); }
        return;
      }
    }
    if (key === "enter") {
      const submit = document.querySelector("#submit");
      if (submit && submit.offsetParent !== null) { submit.click(); e.preventDefault(); }
    }
  });
}
""".replace("REGION_KEYS", KEYS["region"]).replace("INSTRUCTION_KEYS", KEYS["instruction"])
STUDY_CSS = """
#study-banner { background: #c81e1e; color: white; padding: 6px 12px; border-radius: 6px; }
#study-banner p { color: white; margin: 0; }
#prompt p { margin: 2px 0; font-size: 16px; } #prompt .instruction { font-weight: 600; }
#keys p { color: #555; margin: 0; }
"""

__all__ = [
    "ANSWERS", "CASE_FILES", "DB_NAME", "MAX_RATER_LEN", "OUTCOMES", "QUESTIONS", "SIDES", "Z95",
    "Agreement", "AlreadyAnswered", "Pair", "StudyCase", "Summary", "SummaryRow", "Vote",
    "VoteStore", "agreement", "assign_pair", "build_study_app", "check_rater", "fleiss_kappa",
    "format_raters", "format_summary", "load_cases", "make_votes", "next_pair", "normalise_rater",
    "outcome", "pairwise_agreement", "rating_counts", "read_votes", "region_view", "region_words",
    "summarize", "votes_per_rater", "wilson_interval",
]  # fmt: skip


def build_study_app(study_dir: str | os.PathLike, rng: random.Random | None = None) -> "gr.Blocks":
    """The rating page over the cases of `study_dir`; votes go to study_dir/study.sqlite.

    Images are sent as pixels (Gradio names them by content hash), never as paths, so neither
    the file names (which say which side is masked) nor study_dir itself are exposed. All text
    from the cases (instructions, phrases, notes) is shown as text, never as HTML or Markdown.
    """
    import gradio as gr

    from maskedit.errors import MaskeditError, MaskeditWarning
    from maskedit.images import read_image, read_mask

    cases = load_cases(study_dir)
    store = VoteStore(Path(study_dir) / DB_NAME)
    rng = rng or random.SystemRandom()
    case_ids = {c.id for c in cases}  # votes on cases no longer in the folder are not counted
    damaged: set[str] = set()  # cases whose pictures cannot be read: left out of the study

    def leave_out(case_id: str, err: MaskeditError) -> None:
        damaged.add(case_id)
        message = f"case '{case_id}' left out of the study: {err}"
        warnings.warn(message, MaskeditWarning, stacklevel=3)

    for case in cases:  # before the first page, so that "Case k of N" counts readable ones
        try:
            for name in ("original.png", "baseline.png", "blended.png"):
                read_image(case.folder / name)
            if (case.folder / "mask.png").is_file():  # its outline is drawn on the original
                read_mask(case.folder / "mask.png")
        except MaskeditError as err:
            leave_out(case.id, err)

    def next_readable(rater: str):
        """The next pair whose pictures (and mask) read, with them: the original with its
        region drawn, left, right; (None, None) when none is left. A case whose picture or
        mask does not read is left out for every rater, with one warning."""
        while True:
            pair = next_pair(cases, store.done_cases(rater) | damaged, rng)
            if pair is None:
                return None, None
            try:
                files = (pair.case.folder / "original.png", pair.left_file, pair.right_file)
                original, left, right = (read_image(f) for f in files)
                return pair, [region_view(pair.case, original), left, right]
            except MaskeditError as err:  # damaged since the page started
                leave_out(pair.case.id, err)

    def show(rater: str):
        """The page for the rater's next pair, or the end screen (nothing left to rate)."""
        pair, images = next_readable(rater)
        done = len((store.done_cases(rater) & case_ids) - damaged)
        total = len(cases) - len(damaged)
        if pair is None:
            end = plain(f"All {total} cases rated — thank you, {rater}. You may close the page.")
            hidden = gr.Column(visible=False)
            return (None, end, None, None, None, None, None, gr.HTML(visible=False), hidden)
        c = pair.case
        region_image, left_image, right_image = images
        prompt = plain(f"Case {done + 1} of {total}") + plain(
            f"Instruction: {c.instruction}", "instruction"
        )
        banner = c.record.get("note") if c.record else None
        return (
            pair,
            prompt,
            gr.Image(region_image, label=f"Original, {region_words(c)}"),
            left_image,
            right_image,
            None,
            None,
            gr.HTML(plain(banner or "Made with tiny random models."), visible=c.tiny),
            gr.Column(visible=True),
        )

    def check_start(rater):
        try:
            return check_rater(rater)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_start(rater: str):
        return show(rater)

    # Submitting is two steps: check the answers (output: a State, so an error leaves the
    # widgets usable), then, on success, store the votes and show the next pair.
    def check_submit(rater, pair, region, follows):
        if pair is None:
            raise gr.Error("type a rater id and press Start first", print_exception=False)
        try:
            return make_votes(pair, rater, {"region": region, "instruction": follows})
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_submit(votes: list[Vote]):
        try:
            store.add(votes)
        except AlreadyAnswered:  # the same rater in another tab answered this case first
            gr.Info("already answered; next case")
        return show(votes[0].rater)

    with gr.Blocks(title="maskedit study", analytics_enabled=False) as demo:
        gr.HTML(
            "<h2>maskedit study</h2><p>Each page shows a photo with the region to edit drawn "
            "on it, and two edits of it in random order. Answer both questions for the pair, "
            "then submit. Your answers are stored under your rater id.</p>"
        )
        with gr.Row():
            rater = gr.Textbox(
                label="Rater id", placeholder="your initials", scale=3, elem_id="rater"
            )
            start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="start")
        pair_st = gr.State(None)  # the pair on screen (which side is masked stays on the server)
        votes_st = gr.State(None)  # a checked submission
        banner = gr.HTML("", visible=False, elem_id="study-banner")
        prompt = gr.HTML(plain("Type a rater id and press Start."), elem_id="prompt")
        with gr.Column(visible=False, elem_id="pair") as pair_box:  # shown once there is a pair
            with gr.Row(equal_height=True):
                shown = {"format": "png", "interactive": False, "height": 420}
                shown["buttons"] = ["fullscreen"]  # raters look; they need no downloads
                original = gr.Image(label="Original, the region", elem_id="ref", **shown)
                left = gr.Image(label="Left", elem_id="left", **shown)
                right = gr.Image(label="Right", elem_id="right", **shown)
            region = gr.Radio(list(ANSWERS), label=QUESTIONS["region"], elem_id="q-region")
            follows = gr.Radio(
                list(ANSWERS), label=QUESTIONS["instruction"], elem_id="q-instruction"
            )
            submit = gr.Button("Submit and next", variant="primary", elem_id="submit")
            gr.HTML(plain(KEY_HINT), elem_id="keys")

        outputs = [pair_st, prompt, original, left, right, region, follows, banner, pair_box]
        rater_st = gr.State(None)  # the checked rater id
        for trigger in (start.click, rater.submit, submit.click):
            trigger(None, js=CLEAR_TOASTS)  # the old messages go as a new action starts
        for trigger in (start.click, rater.submit):
            trigger(check_start, rater, rater_st).success(on_start, rater_st, outputs)
        # votes go to the rater who pressed Start (the pair is theirs), not to what the box
        # holds now
        submit.click(check_submit, [rater_st, pair_st, region, follows], votes_st).success(
            on_submit, votes_st, outputs
        )

    demo.maskedit_workspace = None  # nothing of ours to serve beyond Gradio's cache
    demo.maskedit_js = SHORTCUTS_JS
    demo.maskedit_css = STUDY_CSS
    return demo
