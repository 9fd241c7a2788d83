"""The study's cases, blind pairs and votes: what `maskedit study DIR` reads and stores.

DIR holds one folder per case (what `maskedit run` writes): original.png, baseline.png,
blended.png and record.json (with "instruction", and "method" for the masked side), and usually
mask.png. Each rater sees a pair in a random left/right order (recorded per pair) and answers two
questions with left / right / both / neither. Every answer is one row of DIR/study.sqlite.
Pure Python (sqlite3 from the standard library); `region_view` draws with Pillow.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.errors import InputError

DB_NAME = "study.sqlite"
CASE_FILES = ("original.png", "baseline.png", "blended.png", "record.json")
QUESTIONS = {  # key (stored) → text (shown)
    "region": "Did the edit stay inside the intended region?",
    "instruction": "Does the result follow the instruction?",
}
ANSWERS = ("left", "right", "both", "neither")
SIDES = ("left", "right")
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
# A rater answers each question about a case once: a second tab showing the same case (with its
# own left/right draw) must not count the same person twice. Older files got the index by
# `VoteStore`, which moves their later duplicates to DUPLICATES_TABLE first (nothing is lost).
_ONCE_INDEX = "votes_once"
DUPLICATES_TABLE = "duplicate_votes"
_COLUMNS = "rater, case_id, method, masked_side, question, answer, time"


# ---------------------------------------------------------------------------------------------
# Cases and pairs.


@dataclass(frozen=True)
class StudyCase:
    """One case folder: its id (the folder name), the instruction, the masked method, whether
    tiny random models made it, and its record (for the region: clicks, box, phrase)."""

    id: str
    folder: Path
    instruction: str
    method: str
    tiny: bool = False
    record: dict[str, Any] | None = None


def _turn_instructions(folder: Path, record: dict) -> str | None:
    """A multi-turn edit's instructions, every turn's in order ("1. make it red · 2. make it
    blue"): its pictures went through them all, so the rater judges against all. None for a
    one-turn case, or turns whose records do not say."""
    turns = record.get("turns")
    if not isinstance(turns, dict) or not isinstance(turns.get("path"), list):
        return None
    said = []
    for k, turn in enumerate(turns["path"], start=1):
        try:
            doc = json.loads((folder / str(turns.get("folders")) / str(turn) / "record.json")
                             .read_text(encoding="utf-8"))  # fmt: skip
        except (OSError, ValueError):
            return None
        text = doc.get("instruction") if isinstance(doc, dict) else None
        if not isinstance(text, str) or not text.strip():
            return None
        said.append(f"{k}. {text.strip()}")
    return " · ".join(said) if len(said) > 1 else None


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
        tiny = bool(record.get("tiny_models"))
        instruction = _turn_instructions(folder, record) or instruction.strip()
        cases.append(StudyCase(folder.name, folder, instruction, method, tiny, record))
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


class AlreadyAnswered(InputError):
    """The rater has already answered this case (e.g. in another tab); nothing was stored."""


def normalise_rater(rater: str) -> str:
    """The stored form of a rater id: surrounding space stripped, case folded ("  Ann " → "ann")."""
    return rater.strip().casefold()


def check_rater(rater: str | None) -> str:
    """A rater id, normalised (`normalise_rater`): non-empty, at most MAX_RATER_LEN characters,
    no control characters."""
    rater = normalise_rater(rater or "")
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
    """study.sqlite: one `votes` table, one vote per rater, case and question (a unique index);
    one short connection per call (Gradio uses threads)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
                conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait
                try:
                    conn.execute(_SCHEMA)
                    if not _has_index(conn, _ONCE_INDEX):
                        _migrate(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as err:  # a damaged or foreign file: one line, not a traceback
            raise InputError(f"'{self.path}': not a readable study database ({err})") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(self, votes: Iterable[Vote]) -> None:
        """Store the votes of one submission together (all or none); AlreadyAnswered when the
        rater has already answered one of these questions about the case."""
        votes = list(votes)
        rows = [
            (
                normalise_rater(v.rater),
                v.case_id,
                v.method,
                v.masked_side,
                v.question,
                v.answer,
                v.time,
            )
            for v in votes
        ]
        try:
            with closing(self._connect()) as conn, conn:
                conn.executemany(
                    f"INSERT INTO votes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.IntegrityError as err:
            if "UNIQUE" not in str(err):
                raise
            rater, case_id = rows[0][0], rows[0][1]
            raise AlreadyAnswered(
                f"rater '{rater}' has already answered case '{case_id}'; not stored again"
            ) from None

    def votes(self) -> Votes:
        return read_votes(self.path)

    def done_cases(self, rater: str) -> set[str]:
        """The case ids this rater (any casing, surrounding space ignored) has answered."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT DISTINCT case_id FROM votes WHERE rater = ?", (normalise_rater(rater),)
            )
            return {r[0] for r in rows}


def _has_index(conn: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a file written before rater ids were normalised and votes unique up to date, inside
    the caller's transaction: raters normalised, every vote after a rater's first answer to a
    question about a case moved to DUPLICATES_TABLE, then the unique index."""
    for row_id, rater in conn.execute("SELECT id, rater FROM votes").fetchall():
        if normalise_rater(rater) != rater:
            conn.execute(
                "UPDATE votes SET rater = ? WHERE id = ?", (normalise_rater(rater), row_id)
            )
    later = "id NOT IN (SELECT MIN(id) FROM votes GROUP BY rater, case_id, question)"
    if conn.execute(f"SELECT COUNT(*) FROM votes WHERE {later}").fetchone()[0]:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {DUPLICATES_TABLE} AS SELECT * FROM votes WHERE 0"
        )
        conn.execute(f"INSERT INTO {DUPLICATES_TABLE} SELECT * FROM votes WHERE {later}")
        conn.execute(f"DELETE FROM votes WHERE {later}")
    conn.execute(f"CREATE UNIQUE INDEX {_ONCE_INDEX} ON votes (rater, case_id, question)")


class Votes(list):
    """`read_votes`'s votes (a list of Vote), with how many duplicate votes were left out."""

    def __init__(self, votes: Iterable[Vote] = (), duplicates: int = 0):
        super().__init__(votes)
        self.duplicates = duplicates


def first_votes(votes: Iterable[Vote]) -> Votes:
    """One vote per rater, case and question: the first (raters normalised); `duplicates` says
    how many later ones were left out."""
    kept: dict[tuple[str, str, str], Vote] = {}
    duplicates = 0
    for v in votes:
        v = replace(v, rater=normalise_rater(v.rater))
        key = (v.rater, v.case_id, v.question)
        if key in kept:
            duplicates += 1
        else:
            kept[key] = v
    return Votes(kept.values(), duplicates)


def read_votes(path: str | os.PathLike) -> Votes:
    """The votes of a study.sqlite, oldest first, one per rater, case and question (the first;
    `duplicates` counts the others, stored before the file refused them); raters normalised.
    Empty when the file does not exist yet. Reads only: an older file is read as it is."""
    path = Path(path)
    if not path.is_file():
        return Votes()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM votes ORDER BY id").fetchall()
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        if conn.execute(exists, (DUPLICATES_TABLE,)).fetchone():  # each one's first is in votes
            rows += conn.execute(
                f"SELECT {_COLUMNS} FROM {DUPLICATES_TABLE} ORDER BY id"
            ).fetchall()
    return first_votes(Vote(*row) for row in rows)


# ---------------------------------------------------------------------------------------------
# The region, as the case defined it.

OUTLINE = (255, 255, 255)
OUTLINE_SHADOW = (0, 0, 0)


def region_words(case: StudyCase) -> str:
    """How the case's region was given, in words: clicks, a box, a phrase, a mask file."""
    record = case.record or {}
    mask = record.get("mask") if isinstance(record.get("mask"), dict) else {}
    target = mask.get("target") if isinstance(mask.get("target"), dict) else None
    if target and target.get("phrase"):
        return f"the region: the phrase '{target['phrase']}'"
    points = mask.get("points") or []
    parts = []
    if points:
        parts.append(f"{len(points)} click{'s' if len(points) != 1 else ''}")
    if mask.get("box"):
        parts.append("a box")
    if parts:
        return "the region: " + " and ".join(parts)
    if mask.get("source") == "edit":
        return "the region: where the edit acts"
    if mask.get("source") == "turns":  # the union of every turn's region
        return "the region: every turn's region together"
    return "the region: a given mask"


def region_view(case: StudyCase, original: np.ndarray) -> np.ndarray:
    """The original with the case's region drawn: the mask's outline (mask.png), the clicks and
    the box, as the case recorded them (image pixels). H×W×3 uint8; the original itself when the
    case has no mask.png. InputError when its mask.png does not read (cut short, damaged)."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_dilation

    from maskedit.grid import EXCLUDE, INCLUDE
    from maskedit.images import read_mask

    out = original.copy()
    path = case.folder / "mask.png"
    if path.is_file():
        mask = read_mask(path) > 0.5
        if mask.shape == original.shape[:2]:
            width = max(1, round(max(mask.shape) / 300))
            edge = binary_dilation(mask, iterations=width) & ~mask
            outer = binary_dilation(edge, iterations=width) & ~mask & ~edge
            out[outer] = OUTLINE_SHADOW
            out[edge] = OUTLINE
    record = case.record or {}
    mask_info = record.get("mask") if isinstance(record.get("mask"), dict) else {}
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    r = max(4, round(max(original.shape[:2]) / 80))
    box = mask_info.get("box")
    if isinstance(box, list) and len(box) == 4:
        draw.rectangle([float(v) for v in box], outline=(255, 220, 0), width=max(2, r // 2))
    for point in mask_info.get("points") or []:
        if isinstance(point, list) and len(point) >= 2:
            x, y = float(point[0]), float(point[1])
            color = INCLUDE if len(point) < 3 or int(point[2]) == 1 else EXCLUDE
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(255, 255, 255), width=2)
    return np.asarray(pil)
