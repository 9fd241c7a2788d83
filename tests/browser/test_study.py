"""`maskedit study` in a real browser: a rater votes on a blind pair (by mouse and by keys); the
vote is in SQLite; the region is drawn; text stays text; the last case ends the study."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from gradio_page import EVIL_INSTRUCTION, pixels, shoot, toasts_gone

from maskedit.app.study import DB_NAME, load_cases, region_view
from maskedit.images import read_image

pytestmark = pytest.mark.integration  # a browser and the study's server: outside the default run, in CI's


def _start(page, url, rater):
    page.goto(url)
    page.locator("#rater textarea, #rater input").first.fill(rater)
    page.locator("#start").click()
    page.get_by_text("Case 1 of 2").wait_for()
    for sel in ("#ref", "#left", "#right"):
        page.locator(f"{sel} img").wait_for()


def test_vote_is_stored(page, study_app, artifacts):
    url, study_dir = study_app
    page.goto(url)
    assert page.locator("#ref").is_hidden(), "empty panes before the study starts"

    # Submitting before answering is refused in the page, and nothing is stored.
    _start(page, url, "rater-1")
    shoot(page, artifacts, "study-main")
    page.locator("#submit").click()
    page.get_by_text("choose one of left, right, both, neither").first.wait_for()

    # The region: the original with the case's outline and click (or phrase) drawn on it.
    cases = {c.id: c for c in load_cases(study_dir)}
    shown = pixels(page, "#ref")
    first = next(
        c for c in cases.values() if shown.shape == read_image(c.folder / "original.png").shape
    )
    expected = region_view(first, read_image(first.folder / "original.png"))
    assert np.array_equal(shown, expected)
    label = page.locator("#ref").inner_text()
    assert "the region: 1 click" in label or "the region: the phrase 'the suit'" in label
    if first.id == "cat":  # made with tiny random models: the banner says so
        page.locator("#study-banner").get_by_text("TINY RANDOM MODELS").wait_for()
    else:
        assert page.locator("#study-banner").is_hidden()

    page.locator("#q-region").get_by_label("left").check()
    page.locator("#q-instruction").get_by_label("both").check()
    page.locator("#submit").click()
    page.get_by_text("Case 2 of 2").wait_for()

    with sqlite3.connect(study_dir / DB_NAME) as conn:
        rows = conn.execute(
            "SELECT rater, case_id, method, masked_side, question, answer, time FROM votes"
        ).fetchall()
    assert len(rows) == 2
    assert {r[4]: r[5] for r in rows} == {"region": "left", "instruction": "both"}
    rater, case_id, method, side, *_, time = rows[0]
    assert rater == "rater-1" and case_id == first.id and method == "pixel"
    assert side in ("left", "right") and rows[1][3] == side  # one pair, one side for both rows
    assert time.endswith("+00:00") and "T" in time  # ISO 8601, UTC

    # The last pair, by keys (4: neither; W: right; Enter: submit), then the end screen; a
    # rater id edited without Start changes nothing: the votes stay the started rater's.
    page.locator("#rater textarea, #rater input").first.fill("someone-else")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("4")
    page.keyboard.press("w")
    assert page.locator("#q-region").get_by_label("neither").is_checked()
    assert page.locator("#q-instruction").get_by_label("right").is_checked()
    page.keyboard.press("Enter")
    page.get_by_text("All 2 cases rated").wait_for()
    for sel in ("#ref", "#left", "#right", "#submit", "#q-region"):
        assert page.locator(sel).is_hidden(), f"{sel} still shown after the last case"
    assert "press Start" not in page.locator("body").inner_text()
    toasts_gone(page)  # the refused first submit's message went with the next action
    shoot(page, artifacts, "study-end")
    with sqlite3.connect(study_dir / DB_NAME) as conn:
        answers = conn.execute("SELECT case_id, question, answer FROM votes").fetchall()
        raters = {r[0] for r in conn.execute("SELECT rater FROM votes")}
    assert raters == {"rater-1"}
    assert {r[0] for r in answers} == {"cat", "suit"}
    assert sorted(r[2] for r in answers if r[0] != first.id) == ["neither", "right"]
    assert page.offsite == []


def test_instruction_is_text_and_nothing_is_fetched(page, phone, study_app, artifacts):
    url, _ = study_app
    for p, rater in ((page, "desk"), (phone, "phone")):
        _start(p, url, rater)
        if "make the suit red" not in p.locator("#prompt").inner_text():
            p.locator("#q-region").get_by_label("left").check()
            p.locator("#q-instruction").get_by_label("left").check()
            p.locator("#submit").click()
            p.get_by_text("Case 2 of 2").wait_for()
        p.locator("#prompt").get_by_text(EVIL_INSTRUCTION).wait_for()  # as typed, as text
        assert p.evaluate("() => window.hacked") is None
        assert p.locator("#prompt img").count() == 0
        assert p.offsite == [], p.offsite
        shoot(p, artifacts, "study-text")


def test_the_same_rater_in_two_tabs_votes_once_per_case(page, phone, study_app):
    # Both tabs start on a case; whichever submits a case second gets a note and moves on.
    url, study_dir = study_app
    _start(page, url, "ann")
    _start(phone, url, "  Ann ")  # the same rater: space and case do not matter
    same_case = page.locator("#prompt").inner_text() == phone.locator("#prompt").inner_text()

    def submit(p, then):
        p.locator("#q-region").get_by_label("left").check()
        p.locator("#q-instruction").get_by_label("left").check()
        p.locator("#submit").click()
        p.get_by_text(then).first.wait_for()

    note = "already answered; next case"
    submit(page, "Case 2 of 2")
    submit(phone, "Case 2 of 2" if same_case else "All 2 cases rated")
    if same_case:  # the phone's case was answered first on the desk
        phone.get_by_text(note).first.wait_for()
    submit(page, "All 2 cases rated")  # the case left; when the phone answered it first, a note
    if not same_case:
        page.get_by_text(note).first.wait_for()
    with sqlite3.connect(study_dir / DB_NAME) as conn:
        rows = conn.execute("SELECT rater, case_id, masked_side FROM votes").fetchall()
    assert len(rows) == 4 and {r[0] for r in rows} == {"ann"}
    assert {r[1] for r in rows} == {"cat", "suit"}
    assert all(len({r[2] for r in rows if r[1] == c}) == 1 for c in ("cat", "suit"))


def test_a_case_with_a_damaged_picture_is_left_out(page, browser, study_dir, artifacts):
    """A case whose edit cannot be read is left out with a warning; the rater is never shown an
    error in its place and still reaches the end of the study."""
    import warnings

    from conftest import free_port

    from maskedit.app.study import build_study_app
    from maskedit.app.web import launch

    damaged = study_dir / "cat" / "blended.png"
    damaged.write_bytes(damaged.read_bytes()[:300])  # cut short, as by a full disk
    with warnings.catch_warnings(record=True) as caught:  # said once, as the page starts
        warnings.simplefilter("always")
        demo = build_study_app(study_dir)
    url = launch(demo, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        with warnings.catch_warnings(record=True) as later:
            warnings.simplefilter("always")
            page.goto(url)
            page.locator("#rater textarea, #rater input").first.fill("ann")
            page.locator("#start").click()
            page.get_by_text("Case 1 of 1").wait_for(timeout=20_000)
            shoot(page, artifacts, "study-damaged-case")
            page.locator("#q-region").get_by_label("left").check()
            page.locator("#q-instruction").get_by_label("left").check()
            page.locator("#submit").click()
            page.get_by_text("All 1 cases rated").wait_for()
        assert any("cat" in str(w.message) and "blended.png" in str(w.message) for w in caught)
        assert not any("left out" in str(w.message) for w in later)  # not again per rater
        with sqlite3.connect(study_dir / DB_NAME) as conn:
            cases = {row[0] for row in conn.execute("SELECT case_id FROM votes")}
        assert cases == {"suit"}
    finally:
        demo.close()
