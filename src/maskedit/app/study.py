"""`maskedit study DIR`: a blind human study of baseline vs masked edits, and its summary.

DIR holds one folder per case (what `maskedit run` writes): original.png, baseline.png,
blended.png and record.json (with "instruction", and "method" for the masked side). Each rater sees
the original and, side by side, the two edits in a random left/right order (recorded per pair),
and answers two questions with left / right / both / neither. Every answer is one row of
DIR/study.sqlite. `summarize` turns rows into per-method win rates with Wilson 95 % intervals.

Everything but `build_study_app` is pure Python (sqlite3 from the standard library), no Gradio.
"""

# No `from __future__ import annotations`: Gradio reads callback annotations as real classes.

import json
import math
import os
import random
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from maskedit.errors import InputError

if TYPE_CHECKING:
    import gradio as gr

DB_NAME = "study.sqlite"
CASE_FILES = ("original.png", "baseline.png", "blended.png", "record.json")
QUESTIONS = {  # key (stored) → text (shown)
    "region": "Did the edit stay inside the intended region?",
    "instruction": "Does the result follow the instruction?",
}
ANSWERS = ("left", "right", "both", "neither")
SIDES = ("left", "right")
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
MAX_RATER_LEN = 64

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rater TEXT NOT NULL,
    case_id TEXT NOT NULL,
    method TEXT NOT NULL,
    masked_side TEXT NOT NULL CHECK (masked_side IN ('left', 'right')),
    question TEXT NOT NULL CHECK (question IN ({", ".join(repr(q) for q in QUESTIONS)})),
    answer TEXT NOT NULL CHECK (answer IN ({", ".join(repr(a) for a in ANSWERS)})),
    time TEXT NOT NULL
)
"""


# ---------------------------------------------------------------------------------------------
# Cases and pairs.


@dataclass(frozen=True)
class StudyCase:
    """One case folder: its id (the folder name), the instruction and the masked method."""

    id: str
    folder: Path
    instruction: str
    method: str


def load_cases(study_dir: str | os.PathLike) -> list[StudyCase]:
    """Every complete case folder of `study_dir`, sorted by id (hidden and partial ones skipped)."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise InputError(f"study folder '{study_dir}': not found or not a folder")
    cases = []
    for folder in sorted(p for p in study_dir.iterdir() if p.is_dir()):
        if folder.name.startswith(".") or not all((folder / f).is_file() for f in CASE_FILES):
            continue
        record_path = folder / "record.json"
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"'{record_path}': not readable JSON ({err})") from None
        instruction = record.get("instruction") if isinstance(record, dict) else None
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError(f"'{record_path}': has no \"instruction\" (a non-empty string)")
        method = str(record.get("method") or "pixel")
        cases.append(StudyCase(folder.name, folder, instruction.strip(), method))
    if not cases:
        raise InputError(
            f"study folder '{study_dir}': no case folders holding {', '.join(CASE_FILES)}"
        )
    return cases


@dataclass(frozen=True)
class Pair:
    """One blind presentation of a case: which side shows the masked result."""

    case: StudyCase
    masked_side: str  # "left" or "right"

    @property
    def left_file(self) -> Path:
        return self.case.folder / ("blended.png" if self.masked_side == "left" else "baseline.png")

    @property
    def right_file(self) -> Path:
        return self.case.folder / ("blended.png" if self.masked_side == "right" else "baseline.png")


def assign_pair(case: StudyCase, rng: random.Random) -> Pair:
    """Present `case` with the masked result on a side drawn by `rng` (fair coin)."""
    return Pair(case, rng.choice(SIDES))


def next_pair(cases: list[StudyCase], done: set[str], rng: random.Random) -> Pair | None:
    """A random case the rater has not answered yet, as a randomised pair; None when all done."""
    remaining = [c for c in cases if c.id not in done]
    if not remaining:
        return None
    return assign_pair(rng.choice(remaining), rng)


# ---------------------------------------------------------------------------------------------
# Votes and their SQLite store.


@dataclass(frozen=True)
class Vote:
    """One answer of one rater to one question about one pair (a row of study.sqlite)."""

    rater: str
    case_id: str
    method: str
    masked_side: str
    question: str
    answer: str
    time: str  # ISO 8601, UTC


def check_rater(rater: str | None) -> str:
    """A rater id: non-empty, at most MAX_RATER_LEN characters, no control characters."""
    rater = (rater or "").strip()
    if not rater:
        raise InputError("rater id: is empty; type a name or initials first")
    if len(rater) > MAX_RATER_LEN or not rater.isprintable():
        raise InputError(f"rater id: use at most {MAX_RATER_LEN} printable characters")
    return rater


def make_votes(
    pair: Pair, rater: str, answers: dict[str, str | None], now: datetime | None = None
) -> list[Vote]:
    """The rows for one submitted pair; every question must have one of ANSWERS."""
    rater = check_rater(rater)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    votes = []
    for key, text in QUESTIONS.items():
        answer = answers.get(key)
        if answer not in ANSWERS:
            raise InputError(f"'{text}': choose one of {', '.join(ANSWERS)}")
        votes.append(
            Vote(rater, pair.case.id, pair.case.method, pair.masked_side, key, answer, stamp)
        )
    return votes


class VoteStore:
    """study.sqlite: one `votes` table; one short connection per call (Gradio uses threads)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with closing(self._connect()) as conn, conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(self, votes: Iterable[Vote]) -> None:
        """Store the votes of one submission together (all or none)."""
        rows = [
            (v.rater, v.case_id, v.method, v.masked_side, v.question, v.answer, v.time)
            for v in votes
        ]
        with closing(self._connect()) as conn, conn:
            conn.executemany(
                "INSERT INTO votes (rater, case_id, method, masked_side, question, answer, time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def votes(self) -> list[Vote]:
        return read_votes(self.path)

    def done_cases(self, rater: str) -> set[str]:
        """The case ids this rater has answered."""
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT DISTINCT case_id FROM votes WHERE rater = ?", (rater,))
            return {r[0] for r in rows}


def read_votes(path: str | os.PathLike) -> list[Vote]:
    """Every vote in a study.sqlite, oldest first; [] when the file does not exist yet."""
    path = Path(path)
    if not path.is_file():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT rater, case_id, method, masked_side, question, answer, time "
            "FROM votes ORDER BY id"
        ).fetchall()
    return [Vote(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# Summary.


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); (0, 1) when n == 0.

    centre = (p + z²/2n) / (1 + z²/n),  half = z √(p(1−p)/n + z²/4n²) / (1 + z²/n).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def outcome(masked_side: str, answer: str) -> str:
    """An answer seen from the methods: "masked", "baseline", "both" or "neither"."""
    if answer in ("both", "neither"):
        return answer
    return "masked" if answer == masked_side else "baseline"


@dataclass(frozen=True)
class SummaryRow:
    """One method × question: counts, and the masked method's win rate over decisive votes."""

    method: str
    question: str
    n: int
    masked: int
    baseline: int
    both: int
    neither: int

    @property
    def decisive(self) -> int:
        return self.masked + self.baseline

    @property
    def win_rate(self) -> float | None:
        """masked / (masked + baseline); None without a decisive vote."""
        return self.masked / self.decisive if self.decisive else None

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.masked, self.decisive)


def summarize(votes: Iterable[Vote]) -> list[SummaryRow]:
    """Per method and question: counts of each outcome, sorted by method then question order.

    A "win" is a vote for the masked side over the baseline; "both" and "neither" are ties,
    counted but left out of the win rate (and of its Wilson interval).
    """
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for v in votes:
        key = (v.method, v.question)
        tally = counts.setdefault(key, {"masked": 0, "baseline": 0, "both": 0, "neither": 0})
        tally[outcome(v.masked_side, v.answer)] += 1
    order = {q: i for i, q in enumerate(QUESTIONS)}
    rows = [
        SummaryRow(method, question, sum(t.values()), **t)
        for (method, question), t in counts.items()
    ]
    return sorted(rows, key=lambda r: (r.method, order.get(r.question, len(order)), r.question))


def format_summary(rows: list[SummaryRow]) -> str:
    """A plain-text table of `summarize`'s rows (what `maskedit study DIR --summary` prints)."""
    if not rows:
        return "no votes yet"
    header = (
        f"{'method':<12} {'question':<12} {'n':>4} {'masked':>6} {'base':>6} {'both':>5} "
        f"{'neither':>7}  {'win rate (masked vs baseline), 95 % Wilson CI'}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.win_rate is None:
            rate = "—  (no decisive votes)"
        else:
            lo, hi = r.ci95
            rate = f"{r.win_rate:6.1%}  [{lo:.1%}, {hi:.1%}]  of {r.decisive} decisive"
        lines.append(
            f"{r.method:<12} {r.question:<12} {r.n:>4} {r.masked:>6} {r.baseline:>6} "
            f"{r.both:>5} {r.neither:>7}  {rate}"
        )
    lines.append("")
    lines.append("questions: " + "; ".join(f"{k} = {t}" for k, t in QUESTIONS.items()))
    lines.append("win rate = masked / (masked + baseline); 'both' and 'neither' are ties.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The page.


def build_study_app(study_dir: str | os.PathLike, rng: random.Random | None = None) -> "gr.Blocks":
    """The rating page over the cases of `study_dir`; votes go to study_dir/study.sqlite.

    Images are sent as pixels (Gradio names them by content hash), never as paths, so neither
    the file names (which say which side is masked) nor study_dir itself are exposed.
    """
    import gradio as gr

    from maskedit.errors import MaskeditError
    from maskedit.images import read_image

    cases = load_cases(study_dir)
    store = VoteStore(Path(study_dir) / DB_NAME)
    rng = rng or random.SystemRandom()

    def show(rater: str, pair: Pair | None):
        done = len(store.done_cases(rater))
        if pair is None:
            return (
                None,
                f"**All {len(cases)} cases rated — thank you, {rater}.**",
                None,
                None,
                None,
                None,
                None,
            )
        c = pair.case
        return (
            pair,
            f"Case {done + 1} of {len(cases)} · Instruction: **{c.instruction}**",
            read_image(c.folder / "original.png"),
            read_image(pair.left_file),
            read_image(pair.right_file),
            None,
            None,
        )

    def check_start(rater):
        try:
            return check_rater(rater)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_start(rater: str):
        return show(rater, next_pair(cases, store.done_cases(rater), rng))

    # Submitting is two steps: check the answers (output: a State, so an error leaves the
    # widgets usable), then, on success, store the votes and show the next pair.
    def check_submit(rater, pair, region, follows):
        if pair is None:
            raise gr.Error("press Start first", print_exception=False)
        try:
            return make_votes(pair, rater, {"region": region, "instruction": follows})
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_submit(votes: list[Vote]):
        store.add(votes)
        rater = votes[0].rater
        return show(rater, next_pair(cases, store.done_cases(rater), rng))

    with gr.Blocks(title="maskedit study", analytics_enabled=False) as demo:
        gr.Markdown(
            "## maskedit study\n"
            "Each page shows a photo and two edits of it, in random order. Answer both questions "
            "for the pair, then submit. Your answers are stored under your rater id."
        )
        with gr.Row():
            rater = gr.Textbox(
                label="Rater id", placeholder="your initials", scale=3, elem_id="rater"
            )
            start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="start")
        pair_st = gr.State(None)  # the pair on screen (which side is masked stays on the server)
        votes_st = gr.State(None)  # a checked submission
        prompt = gr.Markdown("Type a rater id and press Start.", elem_id="prompt")
        with gr.Row(equal_height=True):
            shown = {"format": "png", "interactive": False, "height": 420}
            shown["buttons"] = ["fullscreen"]  # raters look; they need no downloads
            original = gr.Image(label="Original (for reference)", elem_id="ref", **shown)
            left = gr.Image(label="Left", elem_id="left", **shown)
            right = gr.Image(label="Right", elem_id="right", **shown)
        region = gr.Radio(list(ANSWERS), label=QUESTIONS["region"], elem_id="q-region")
        follows = gr.Radio(list(ANSWERS), label=QUESTIONS["instruction"], elem_id="q-instruction")
        submit = gr.Button("Submit and next", variant="primary", elem_id="submit")

        outputs = [pair_st, prompt, original, left, right, region, follows]
        rater_st = gr.State(None)  # the checked rater id
        for trigger in (start.click, rater.submit):
            trigger(check_start, rater, rater_st).success(on_start, rater_st, outputs)
        submit.click(check_submit, [rater, pair_st, region, follows], votes_st).success(
            on_submit, votes_st, outputs
        )

    demo.maskedit_workspace = None  # nothing of ours to serve beyond Gradio's cache
    return demo
