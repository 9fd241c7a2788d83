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


# Fleiss (1971) / the textbook example: 10 cases, 14 raters each, 5 categories; κ = 0.210.
# P̄ = 0.378 (mean of the per-case agreements), P_e = Σ p_j² = 0.213, κ = (0.378 − 0.213)/0.787.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_and_pairwise_agreement_by_hand():
    import numpy as np

    from maskedit.app.study import fleiss_kappa, pairwise_agreement

    table = np.array(FLEISS_TABLE)
    assert pairwise_agreement(table) == pytest.approx(0.378, abs=5e-4)
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    # Two raters, two cases: both say "masked" on the first; masked vs baseline on the second.
    # P̄ = (1 + 0)/2 = 0.5; p = (3/4, 1/4), P_e = 10/16; κ = (0.5 − 0.625)/0.375 = −1/3.
    two = np.array([[2, 0, 0, 0], [1, 1, 0, 0]])
    assert pairwise_agreement(two) == 0.5 and fleiss_kappa(two) == pytest.approx(-1 / 3)
    assert math.isnan(fleiss_kappa(np.array([[2, 0, 0, 0]])))  # one category only: undefined
    # Raters per case may vary: three on one case, two on another.
    varied = np.array([[3, 0, 0, 0], [0, 2, 0, 0]])
    assert pairwise_agreement(varied) == 1.0 and fleiss_kappa(varied) == pytest.approx(1.0)


def test_agreement_compares_outcomes_not_sides():
    from maskedit.app.study import agreement, rating_counts, votes_per_rater

    # ann saw the masked result on the left, bob on the right: both chose the masked one.
    votes = [
        _v("pixel", "left", "region", "left", rater="ann", case="a"),
        _v("pixel", "right", "region", "right", rater="bob", case="a"),
        _v("pixel", "left", "region", "right", rater="ann", case="b"),
        _v("pixel", "left", "region", "right", rater="bob", case="b"),
        _v("pixel", "left", "region", "both", rater="ann", case="c"),  # one rater: left out
    ]
    counts = rating_counts(votes, "region")
    assert counts.tolist() == [[2, 0, 0, 0], [0, 2, 0, 0]]  # masked ×2; baseline ×2
    assert votes_per_rater(votes) == {"ann": 3, "bob": 2}
    region = next(a for a in agreement(votes) if a.question == "region")
    assert region.cases == 2 and region.pairwise == 1.0 and region.kappa == pytest.approx(1.0)
    assert region.kappa_ci is not None


def test_summary_names_the_raters_and_their_agreement():
    votes = [
        _v("pixel", side, q, side, rater=r, case=c)
        for c in ("a", "b", "c")
        for r, side in (("ann", "left"), ("bob", "right"))
        for q in ("region", "instruction")
    ]
    text = format_summary(summarize(votes))
    assert "raters: 2; cases answered per rater: ann 3, bob 3" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("region") and "κ" in x)
    assert "3 cases" in line and "pairwise 100.0%" in line and "Fleiss' κ" in line
    alone = format_summary(summarize(votes[:2]))
    assert "needs cases answered by at least two raters" in alone


def test_region_is_drawn_where_the_case_put_it(tmp_path):
    import numpy as np
    from PIL import Image

    from maskedit.app.study import load_cases, region_view, region_words
    from maskedit.grid import INCLUDE

    folder = _case(tmp_path, "a")
    original = np.full((40, 60, 3), 100, np.uint8)
    for name in ("original.png", "baseline.png", "blended.png"):
        Image.fromarray(original).save(folder / name)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:40] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    record = json.loads((folder / "record.json").read_text())
    record |= {"tiny_models": True, "mask": {"points": [[30, 20, 1]], "box": None}}
    (folder / "record.json").write_text(json.dumps(record))
    (case,) = load_cases(tmp_path)
    assert case.tiny and region_words(case) == "the region: 1 click"
    view = region_view(case, original)
    assert tuple(view[20, 30]) == INCLUDE  # the click
    assert tuple(view[9, 30]) == (255, 255, 255)  # the outline, just outside the mask
    assert tuple(view[2, 2]) == (100, 100, 100) and tuple(view[15, 25]) == (100, 100, 100)
    record["mask"] = {"target": {"phrase": "<b>the cat</b>"}}
    (folder / "record.json").write_text(json.dumps(record))
    (case,) = load_cases(tmp_path)
    assert region_words(case) == "the region: the phrase '<b>the cat</b>'"  # shown as text


def test_busy_port_names_the_port_and_the_flag(tmp_path, capsys):
    import socket

    import typer

    from maskedit.cli.serve import study_command

    _case(tmp_path, "a")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(typer.Exit):
            study_command(tmp_path, host="127.0.0.1", port=port, summary=False)
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--port" in err
