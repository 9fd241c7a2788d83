"""The study's store: one vote per rater, case and question; rater ids normalised; older files
(with duplicates, or raters in other casings) read and migrated without losing a row."""

from __future__ import annotations

import sqlite3

import pytest

from maskedit.app.study import (
    DB_NAME,
    AlreadyAnswered,
    Pair,
    StudyCase,
    Vote,
    VoteStore,
    check_rater,
    format_summary,
    make_votes,
    read_votes,
    summarize,
)

# The table as files written before votes were unique (no index).
OLD_SCHEMA = """
CREATE TABLE votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rater TEXT NOT NULL, case_id TEXT NOT NULL, method TEXT NOT NULL, masked_side TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, time TEXT NOT NULL
)
"""


def _votes(rater, case, side, answer="left"):
    pair = Pair(StudyCase(case, None, "i", "pixel"), side)
    return make_votes(pair, rater, {"region": answer, "instruction": answer})


def _line(text, question):
    return next(x for x in text.splitlines() if x.startswith("pixel") and f" {question} " in x)


def test_a_second_vote_on_the_same_case_is_refused(tmp_path):
    # Two tabs, one rater, the same case: each drew its own side; only the first answer counts.
    path = tmp_path / DB_NAME
    store = VoteStore(path)
    store.add(_votes("ann", "a", "left"))
    with pytest.raises(AlreadyAnswered, match="rater 'ann' has already answered case 'a'"):
        store.add(_votes("ann", "a", "right"))
    store.add(_votes("bob", "a", "right"))
    votes = read_votes(path)
    assert [(v.rater, v.masked_side) for v in votes] == [("ann", "left")] * 2 + [
        ("bob", "right")
    ] * 2
    assert votes.duplicates == 0
    text = format_summary(summarize(votes))
    assert _line(text, "region").split()[2:4] == ["2", "1"]  # n 2: masked 1 (ann), baseline 1
    assert "duplicate" not in text
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(
            "INSERT INTO votes (rater, case_id, method, masked_side, question, answer, time) "
            "VALUES ('ann', 'a', 'pixel', 'right', 'region', 'left', 't')"
        )


def test_rater_ids_are_normalised():
    assert check_rater("  Ann  ") == "ann" and check_rater("ANN") == "ann"
    assert check_rater("Straße") == "strasse"  # casefold, not just lower


def test_rater_ids_are_normalised_when_stored_and_read(tmp_path):
    store = VoteStore(tmp_path / DB_NAME)
    store.add([Vote("  Ann ", "a", "pixel", "left", "region", "left", "t")])
    assert store.done_cases("ann") == store.done_cases(" ANN") == {"a"}
    with pytest.raises(AlreadyAnswered):
        store.add([Vote("ann", "a", "pixel", "right", "region", "right", "t")])
    assert [v.rater for v in store.votes()] == ["ann"]


def _old_file(path):
    rows = [  # ann answers case a twice (two tabs), once as "Ann ": both later rows are dropped
        ("ann", "a", "left", "region", "left"),
        ("ann", "a", "left", "instruction", "left"),
        ("Ann ", "a", "right", "region", "left"),
        ("ann", "b", "left", "region", "left"),
        ("ann", "c", "left", "region", "right"),
        ("ANN", "b", "right", "region", "right"),
        ("bob", "a", "right", "region", "right"),
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_SCHEMA)
        conn.executemany(
            "INSERT INTO votes (rater, case_id, method, masked_side, question, answer, time) "
            "VALUES (?, ?, 'pixel', ?, ?, ?, 't')",
            rows,
        )
    conn.close()


def _check_summary(votes):
    assert votes.duplicates == 2
    assert [(v.rater, v.case_id, v.question) for v in votes] == [
        ("ann", "a", "region"),
        ("ann", "a", "instruction"),
        ("ann", "b", "region"),
        ("ann", "c", "region"),
        ("bob", "a", "region"),
    ]
    text = format_summary(summarize(votes))
    # region: ann a masked, b masked, c baseline; bob a masked → n 4, one per rater and case.
    assert _line(text, "region").split()[2:5] == ["4", "3", "1"]
    assert "cases answered per rater: ann 3, bob 1" in text
    assert "dropped 2 duplicate votes" in text


def test_an_older_file_is_read_with_duplicates_dropped_and_raters_normalised(tmp_path):
    path = tmp_path / DB_NAME
    _old_file(path)
    _check_summary(read_votes(path))  # read only: the file is left as it is
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM votes").fetchone() == (7,)
    conn.close()


def test_an_older_file_is_migrated_without_losing_a_row(tmp_path):
    path = tmp_path / DB_NAME
    _old_file(path)
    store = VoteStore(path)
    VoteStore(path)  # a second open finds it done
    with sqlite3.connect(path) as conn:
        raters = {r for (r,) in conn.execute("SELECT rater FROM votes")}
        kept = conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
        moved = conn.execute(
            "SELECT rater, masked_side FROM duplicate_votes ORDER BY id"
        ).fetchall()
    conn.close()
    assert raters == {"ann", "bob"} and kept == 5
    assert moved == [("ann", "right"), ("ann", "right")]
    _check_summary(read_votes(path))
    assert store.done_cases("Ann") == {"a", "b", "c"}
    with pytest.raises(AlreadyAnswered):
        store.add(_votes("ann", "c", "left"))
    store.add(_votes("bob", "b", "left"))
    assert len(read_votes(path)) == 7


def test_a_multi_turn_case_asks_about_every_turns_instruction(tmp_path):
    """A multi-turn edit's pictures went through every turn: the rater is shown all of its
    instructions, in order, not only the last."""
    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from maskedit.app.study import load_cases, region_words
    from maskedit.cli import app

    Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - id: walk\n   image: p.png\n   steps: 1\n   turns:\n"
        "     - {instruction: make it red, box: [2, 2, 20, 20]}\n"
        "     - {instruction: make it blue, box: [30, 10, 50, 30]}\n"
        " - {id: one, image: p.png, instruction: make it green, box: [2, 2, 20, 20], steps: 1}\n"
    )
    out = tmp_path / "o"
    args = ["run", str(tmp_path / "m.yaml"), "--out", str(out), "--models", "tiny"]
    assert CliRunner().invoke(app, args).exit_code == 0
    cases = {c.id: c for c in load_cases(out)}
    assert cases["walk"].instruction == "1. make it red · 2. make it blue"
    assert cases["one"].instruction == "make it green"
    assert region_words(cases["walk"]) == "the region: every turn's region together"


def _study(folder, damaged=()):
    """A study folder of cases a and b (8×10 pictures, a mask each; the masks of `damaged` cut
    short) and its page's Start handler."""
    import json
    import random

    import numpy as np
    from PIL import Image

    from maskedit.app.study import build_study_app

    for case in ("a", "b"):
        (folder / case).mkdir(parents=True)
        for name in ("original.png", "baseline.png", "blended.png", "mask.png"):
            Image.fromarray(np.full((8, 10, 3), 50, np.uint8)).save(folder / case / name)
        (folder / case / "record.json").write_text(json.dumps({"instruction": "make it red"}))
    for case in damaged:
        _cut(folder / case / "mask.png")
    demo = build_study_app(folder, random.Random(0))
    return next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_start")


def _cut(path):
    path.write_bytes(path.read_bytes()[:40])


def test_the_page_counts_only_the_cases_in_the_folder(tmp_path):
    """Votes on cases no longer in the folder (removed, or now incomplete) stay in the file but
    do not count towards "Case k of N"."""
    on_start = _study(tmp_path)
    store = VoteStore(tmp_path / DB_NAME)
    for gone in ("old1", "old2", "a"):
        store.add(_votes("ann", gone, "left"))
    pair, prompt = on_start("ann")[:2]
    assert pair.case.id == "b" and "Case 2 of 2" in prompt


def test_a_case_whose_mask_does_not_read_is_left_out(tmp_path):
    """Its outline cannot be drawn: the case is left out with a warning, as one whose picture
    does not read, and the page goes on (it stopped with an error)."""
    from maskedit.errors import MaskeditWarning

    with pytest.warns(MaskeditWarning, match="case 'a' left out"):
        on_start = _study(tmp_path / "before", damaged=("a",))
    pair, prompt = on_start("ann")[:2]
    assert pair.case.id == "b" and "Case 1 of 1" in prompt

    # Cut short after the page started: left out when it comes up.
    on_start = _study(tmp_path / "after")
    VoteStore(tmp_path / "after" / DB_NAME).add(_votes("ann", "b", "left"))
    _cut(tmp_path / "after" / "a" / "mask.png")
    with pytest.warns(MaskeditWarning, match="case 'a' left out"):
        pair, prompt = on_start("ann")[:2]
    assert pair is None and "All 1 cases rated" in prompt


def test_a_file_that_is_not_a_study_database_is_one_line(tmp_path):
    """The page says what is wrong with study.sqlite (as --summary does), not a traceback."""
    from maskedit.errors import InputError

    path = tmp_path / DB_NAME
    path.write_bytes(b"not a database, only text " * 40)
    with pytest.raises(InputError, match="not a readable study database"):
        VoteStore(path)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE votes (note TEXT)")  # another program's table of that name
    conn.close()
    with pytest.raises(InputError, match="not a readable study database"):
        VoteStore(other)
