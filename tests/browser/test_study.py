"""`maskedit study` in a real browser: a rater votes on a blind pair; the vote is in SQLite."""

from __future__ import annotations

import sqlite3

from maskedit.app.study import DB_NAME


def test_vote_is_stored(page, study_app, artifacts):
    url, study_dir = study_app
    page.goto(url)

    # Submitting before answering is refused in the page, and nothing is stored.
    page.locator("#rater textarea, #rater input").first.fill("rater-1")
    page.locator("#start").click()
    page.get_by_text("Case 1 of 2").wait_for()
    for sel in ("#ref", "#left", "#right"):
        page.locator(f"{sel} img").wait_for()
    page.wait_for_timeout(400)
    page.screenshot(path=artifacts / "study-main.png", full_page=True)
    page.locator("#submit").click()
    page.get_by_text("choose one of left, right, both, neither").first.wait_for()

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
    assert rater == "rater-1" and case_id in {"cat", "suit"} and method == "pixel"
    assert side in ("left", "right") and rows[1][3] == side  # one pair, one side for both rows
    assert time.endswith("+00:00") and "T" in time  # ISO 8601, UTC

    # The last pair, then the end; the answered case is not shown again.
    page.locator("#q-region").get_by_label("neither").check()
    page.locator("#q-instruction").get_by_label("right").check()
    page.locator("#submit").click()
    page.get_by_text("All 2 cases rated").wait_for()
    with sqlite3.connect(study_dir / DB_NAME) as conn:
        cases = {r[0] for r in conn.execute("SELECT case_id FROM votes")}
    assert cases == {"cat", "suit"}
