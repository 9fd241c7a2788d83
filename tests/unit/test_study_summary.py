"""The study's pure parts: Wilson intervals worked out by hand, outcomes, summary, pairs, store."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from datetime import UTC, datetime

import pytest

from maskedit.app.study import (
    DB_NAME,
    Pair,
    StudyCase,
    Vote,
    VoteStore,
    assign_pair,
    check_rater,
    format_summary,
    load_cases,
    make_votes,
    next_pair,
    outcome,
    read_votes,
    summarize,
    wilson_interval,
)
from maskedit.errors import InputError


# Hand computation, z = 1.959964 (z² = 3.841459):
#   8/10: p = .8, denom = 1 + .3841459 = 1.3841459, centre = (.8 + .1920729)/denom = .716740,
#         half = z·√(.016 + .0096036)/denom = 1.959964 · .1600114 / 1.3841459 = .226578
#         → (.490162, .943318)  (textbook tables: 0.490, 0.943)
#   5/10: centre .5, half = z·√(.025 + .0096036)/denom = 1.959964 · .1860204 / 1.3841459 = .263407
#         → (.236593, .763407)
#   0/5:  p = 0, denom = 1.7682918, centre = .3841459/1.7682918 = .217241, half = z·√(.0384146)/denom
#         = 1.959964 · .1959964 / 1.7682918 = .217241 → (0, .434482)
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (8, 10, 0.490162, 0.943318),
        (5, 10, 0.236593, 0.763407),
        (0, 5, 0.0, 0.434482),
        (5, 5, 0.565518, 1.0),  # the mirror image of 0/5
    ],
)
def test_wilson_interval_by_hand(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=2e-6)
    assert hi == pytest.approx(high, abs=2e-6)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no evidence: the whole range
    lo, hi = wilson_interval(1, 1)
    assert hi == 1.0 and lo == pytest.approx(1 / (1 + 1.959963984540054**2))  # = 0.206543
    big_lo, big_hi = wilson_interval(5000, 10000)  # close to the normal interval for large n
    half = 1.959963984540054 * math.sqrt(0.25 / 10000)
    assert big_lo == pytest.approx(0.5 - half, abs=1e-5) and big_hi == pytest.approx(
        0.5 + half, abs=1e-5
    )
    with pytest.raises(ValueError, match="3/2"):
        wilson_interval(3, 2)


@pytest.mark.parametrize(
    ("side", "answer", "expected"),
    [
        ("left", "left", "masked"),
        ("left", "right", "baseline"),
        ("right", "right", "masked"),
        ("right", "left", "baseline"),
        ("left", "both", "both"),
        ("right", "neither", "neither"),
    ],
)
def test_outcome_sees_through_the_side(side, answer, expected):
    assert outcome(side, answer) == expected


def _v(method, side, question, answer, rater="r", case="c"):
    return Vote(rater, case, method, side, question, answer, "2025-01-01T00:00:00+00:00")


def test_summarize_counts_by_hand():
    votes = [
        # pixel × region: masked wins 3 (2 on the left, 1 on the right), baseline 1, one tie each.
        _v("pixel", "left", "region", "left"),
        _v("pixel", "left", "region", "left"),
        _v("pixel", "right", "region", "right"),
        _v("pixel", "right", "region", "left"),
        _v("pixel", "left", "region", "both"),
        _v("pixel", "right", "region", "neither"),
        # pixel × instruction: only ties.
        _v("pixel", "left", "instruction", "both"),
        # latent × region: baseline wins once.
        _v("latent", "right", "region", "left"),
    ]
    rows = summarize(votes)
    assert [(r.method, r.question) for r in rows] == [
        ("latent", "region"),
        ("pixel", "region"),
        ("pixel", "instruction"),
    ]
    latent, region, instr = rows
    assert (region.n, region.masked, region.baseline, region.both, region.neither) == (
        6,
        3,
        1,
        1,
        1,
    )
    assert region.decisive == 4 and region.win_rate == 0.75
    assert region.ci95 == wilson_interval(3, 4)
    assert (instr.n, instr.decisive, instr.win_rate, instr.ci95) == (1, 0, None, (0.0, 1.0))
    assert (latent.masked, latent.baseline, latent.win_rate) == (0, 1, 0.0)


def test_format_summary():
    assert format_summary([]) == "no votes yet"
    text = format_summary(
        summarize(
            [_v("pixel", "left", "region", "left")] * 8
            + [_v("pixel", "left", "region", "right")] * 2
            + [_v("pixel", "left", "instruction", "both")]
        )
    )
    lines = text.splitlines()
    assert "win rate" in lines[0]
    region = next(line for line in lines if line.startswith("pixel") and "region" in line)
    assert region.split()[:7] == ["pixel", "region", "10", "8", "2", "0", "0"]
    assert "80.0%" in region and "[49.0%, 94.3%]" in region and "of 10 decisive" in region
    assert "no decisive votes" in next(line for line in lines if "instruction " in line)


def _case(tmp_path, name, instruction="make it red", method=None, files=True):
    folder = tmp_path / name
    folder.mkdir()
    if files:
        for f in ("original.png", "baseline.png", "blended.png"):
            (folder / f).write_bytes(b"png")
    record = {"instruction": instruction} | ({"method": method} if method else {})
    (folder / "record.json").write_text(json.dumps(record))
    return folder


def test_load_cases(tmp_path):
    _case(tmp_path, "b", method="latent")
    _case(tmp_path, "a")
    _case(tmp_path, "incomplete", files=False)
    _case(tmp_path, ".a.partial")
    cases = load_cases(tmp_path)
    assert [(c.id, c.method, c.instruction) for c in cases] == [
        ("a", "pixel", "make it red"),
        ("b", "latent", "make it red"),
    ]


def test_load_cases_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_cases(tmp_path / "nope")
    with pytest.raises(InputError, match="no case folders"):
        load_cases(tmp_path)
    _case(tmp_path, "x", instruction="  ")
    with pytest.raises(InputError, match=r"x/record.json.*instruction"):
        load_cases(tmp_path)


def test_pairs_are_randomised_and_skip_done_cases(tmp_path):
    cases = [StudyCase(c, tmp_path / c, "i", "pixel") for c in ("a", "b", "c")]
    rng = random.Random(0)
    sides = [assign_pair(cases[0], rng).masked_side for _ in range(400)]
    assert set(sides) == {"left", "right"} and 160 < sides.count("left") < 240
    for _ in range(20):
        pair = next_pair(cases, {"a", "c"}, rng)
        assert pair.case.id == "b"
    assert next_pair(cases, {"a", "b", "c"}, rng) is None
    left = Pair(cases[0], "left")
    assert (left.left_file.name, left.right_file.name) == ("blended.png", "baseline.png")
    right = Pair(cases[0], "right")
    assert (right.left_file.name, right.right_file.name) == ("baseline.png", "blended.png")


def test_make_votes_checks_answers_and_rater(tmp_path):
    pair = Pair(StudyCase("a", tmp_path, "i", "pixel"), "right")
    now = datetime(2025, 5, 1, 12, 30, tzinfo=UTC)
    votes = make_votes(pair, "  ann ", {"region": "left", "instruction": "both"}, now)
    assert votes == [
        Vote("ann", "a", "pixel", "right", "region", "left", "2025-05-01T12:30:00+00:00"),
        Vote("ann", "a", "pixel", "right", "instruction", "both", "2025-05-01T12:30:00+00:00"),
    ]
    with pytest.raises(InputError, match="follow the instruction.*left, right, both, neither"):
        make_votes(pair, "ann", {"region": "left", "instruction": None})
    with pytest.raises(InputError, match="rater id: is empty"):
        make_votes(pair, " ", {"region": "left", "instruction": "left"})
    with pytest.raises(InputError, match="printable"):
        check_rater("a\nb")


def test_store_round_trip(tmp_path):
    path = tmp_path / DB_NAME
    assert read_votes(path) == []  # no file yet: no votes, and no file created
    assert not path.exists()
    store = VoteStore(path)
    first = [_v("pixel", "left", "region", "left", rater="ann", case="a")]
    second = [_v("pixel", "right", "instruction", "neither", rater="bob", case="b")]
    store.add(first)
    store.add(second)
    assert store.votes() == first + second
    assert store.done_cases("ann") == {"a"} and store.done_cases("carl") == set()
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO votes (rater, case_id, method, masked_side, question, answer, time) "
            "VALUES ('x', 'a', 'pixel', 'up', 'region', 'left', 't')"
        )
