"""`eval`, `report` and `run` on damaged run folders, full disks and read-only folders: one line
naming the file (or the case skipped with a warning), never a traceback; tables written whole,
finished case folders untouched."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from run_fixtures import write_case_folder
from typer.testing import CliRunner

from maskedit.cli import app
from maskedit.errors import InputError, MaskeditWarning
from maskedit.evaluate import evaluate_dir
from maskedit.report.html import build_report
from maskedit.tables import collect_rows, read_record

runner = CliRunner()


def _case(out: Path, case_id: str, **kw) -> Path:
    rng = np.random.default_rng(len(case_id))
    original = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    mask = np.zeros((12, 16), bool)
    mask[3:9, 4:12] = True
    edit = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    pixel = np.where(mask[..., None], edit, original).astype(np.uint8)
    return write_case_folder(out, case_id, original, mask, edit, {"pixel": pixel}, **kw)


DAMAGE = {
    "truncated": lambda c: (c / "record.json").write_text('{"schema": 1, "case_id": "tru'),
    "nul": lambda c: (c / "record.json").write_bytes(b"\0\0\0\0"),
    "list": lambda c: (c / "record.json").write_text("[1, 2, 3]"),
    "deep": lambda c: (c / "record.json").write_text("[" * 100000 + "]" * 100000),
    "outside": lambda c: (c / "record.json").write_text(
        json.dumps({"schema": 1, "case_id": "outside", "methods": {"pixel": "/etc/hostname"}})
    ),
    "dotdot": lambda c: (c / "record.json").write_text(
        json.dumps({"schema": 1, "case_id": "dotdot", "methods": {"pixel": "../good/blended.png"}})
    ),
}


@pytest.fixture
def damaged(tmp_path):
    _case(tmp_path, "good")
    for name, damage in DAMAGE.items():
        damage(_case(tmp_path, name))
    return tmp_path


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_damaged_record_is_one_line_naming_the_file(damaged, name):
    with pytest.raises(InputError) as err:
        read_record(damaged / name)
    assert "\n" not in str(err.value) and f"{name}/record.json" in str(err.value)


def test_eval_and_report_skip_damaged_cases_with_a_warning_and_a_count(damaged):
    res = runner.invoke(app, ["eval", str(damaged), "--clip", "none"])
    assert res.exit_code == 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    for name in DAMAGE:
        assert f"warning: case '{name}' skipped: " in res.stderr
    assert f"in 1 cases ({len(DAMAGE)} damaged, skipped)" in res.stdout
    res = runner.invoke(app, ["report", str(damaged)])
    assert res.exit_code == 0, res.output
    page = (damaged / "report.html").read_text()
    assert "hostname" not in page and "case-good" in page
    assert all(f"case '{name}' left out of the report" in res.stderr for name in DAMAGE)


def test_metrics_rows_of_the_wrong_shape_leave_their_case_out(tmp_path):
    evaluate_dir_case = _case(tmp_path, "a")
    _case(tmp_path, "b")
    evaluate_dir(tmp_path)
    infinite = ('{"rows": [{"method": "pixel", "bg_psnr": Infinity}]}', '{"rows": [{"method": "pixel", "iou": NaN}]}')
    for body in ('{"rows": [{}]}', '{"rows": [{"method": "pixel", "iou": "high"}]}', "", '{"rows": 5}', *infinite):
        (evaluate_dir_case / "metrics.json").write_text(body)
        with pytest.warns(MaskeditWarning, match="a/metrics.json"):
            rows = collect_rows(tmp_path)
        assert {r["case_id"] for r in rows} == {"b"}
        with pytest.warns(MaskeditWarning):
            build_report(tmp_path)


@pytest.mark.parametrize("grid", [b"", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0"])
def test_a_zero_byte_or_truncated_grid_is_left_out_of_the_page(tmp_path, grid):
    case = _case(tmp_path, "a")
    (case / "grid.png").write_bytes(grid)
    with pytest.warns(MaskeditWarning, match="grid.png': not a readable image"):
        page = build_report(tmp_path)
    assert "case-a" in page


def test_a_corrupt_study_database_is_one_line(tmp_path):
    case = _case(tmp_path, "a")
    Image.open(case / "blended.png").save(case / "baseline.png")
    (tmp_path / "study.sqlite").write_bytes(b"this is not a database" * 100)
    res = runner.invoke(app, ["study", str(tmp_path), "--summary"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().startswith("maskedit: error: ") and len(res.stderr.strip().splitlines()) == 1
    assert "study.sqlite': not a readable study database" in res.stderr
    with pytest.raises(sqlite3.DatabaseError):  # what the reader raised before
        sqlite3.connect(tmp_path / "study.sqlite").execute("select * from votes").fetchall()


@pytest.mark.parametrize(
    "body, words",
    [
        ("[1, 2]", "expected"),
        ('{"a": "just text"}', "expected"),
        ('{"a": {"source": ["x"]}}', "captions must be text or null"),
        ("{", "not valid JSON"),
    ],
)
def test_captions_of_the_wrong_shape_are_one_line(tmp_path, body, words):
    _case(tmp_path, "a")
    (tmp_path / "captions.json").write_text(body)
    res = runner.invoke(app, ["eval", str(tmp_path), "--clip", "none", "--captions", str(tmp_path / "captions.json")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "captions.json" in lines[0]


def test_eval_on_an_empty_folder_fails_before_loading_clip(tmp_path, monkeypatch):
    import maskedit.models as models

    monkeypatch.setattr(models, "load_clip", lambda *a, **k: pytest.fail("CLIP was loaded"))
    res = runner.invoke(app, ["eval", str(tmp_path)])
    assert res.exit_code == 2 and "no finished case folders" in res.stderr


@pytest.mark.parametrize("command", ["eval", "report"])
def test_one_case_folder_given_as_the_run_folder_is_named_as_such(tmp_path, command):
    """`maskedit edit`'s output is one case folder: eval and report say so and name the folder
    that holds it, and write nothing into it."""
    case = _case(tmp_path, "a")
    before = sorted(p.name for p in case.iterdir())
    res = runner.invoke(app, [command, str(case), *(["--clip", "none"] if command == "eval" else [])])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"it is one case folder: give the folder that holds it ('{tmp_path}')" in lines[0]
    assert sorted(p.name for p in case.iterdir()) == before


@pytest.mark.parametrize("command", ["eval", "report"])
def test_a_file_given_as_the_run_folder_is_named_as_a_file(tmp_path, command):
    """`maskedit report results/summary.csv` (or the manifest): the file is there, so the line
    says it is a file, not that it was not found."""
    (tmp_path / "summary.csv").write_text("method,n\n")
    res = runner.invoke(app, [command, str(tmp_path / "summary.csv")])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == (
        f"maskedit: error: run folder '{tmp_path / 'summary.csv'}': is a file; give the folder "
        "a run wrote (maskedit run … --out DIR)"
    )


def test_a_case_folder_that_is_a_symbolic_link_is_left_out(tmp_path):
    """A link in the run folder to another run's case folder: eval writes nothing through it
    (the other run's metrics.json stays as it was) and report leaves it out (it was a
    traceback); maskedit never writes a case folder as a link."""
    run, other = tmp_path / "run", tmp_path / "other"
    _case(run, "a")
    _case(other, "b")
    (run / "b").symlink_to(other / "b", target_is_directory=True)
    theirs = _tree(other)
    res = runner.invoke(app, ["eval", str(run), "--clip", "none"])
    assert res.exit_code == 0 and "in 1 cases" in " ".join(res.stdout.split()), res.output
    res = runner.invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    assert _tree(other) == theirs and 'href="b/' not in (run / "report.html").read_text()


def test_the_users_own_tables_and_page_beside_case_folders_are_never_replaced(tmp_path):
    """A folder of the user's that holds `maskedit edit` outputs and their own summary.csv,
    results.jsonl or report.html: eval and report refuse in one line and touch nothing, as run
    does; tables and a page maskedit wrote there (no run's lock: the API's evaluate_dir) are
    rewritten."""
    _case(tmp_path, "a")
    mine = {"summary.csv": b"my,own\n1,2\n", "results.jsonl": b'{"mine": 1}\n', "report.html": b"<h1>my page</h1>"}
    for name, data in mine.items():
        (tmp_path / name).write_bytes(data)
    before = _tree(tmp_path)
    for command in (["eval", str(tmp_path), "--clip", "none"], ["report", str(tmp_path)]):
        res = runner.invoke(app, command)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "which no maskedit run wrote there" in lines[0], res.stderr
        assert _tree(tmp_path) == before
    for name in mine:
        (tmp_path / name).unlink()
    evaluate_dir(tmp_path, clip=None)  # the API writes the tables without a run's lock
    for command in (["report", str(tmp_path)], ["eval", str(tmp_path), "--clip", "none"], ["report", str(tmp_path)]):
        res = runner.invoke(app, command)
        assert res.exit_code == 0, res.output
    assert (tmp_path / "report.html").read_bytes() != mine["report.html"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["eval", "report"])
def test_a_read_only_run_folder_is_one_line(tmp_path, monkeypatch, command):
    _case(tmp_path, "a")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) and m == os.W_OK else real(p, m))
    res = runner.invoke(app, [command, str(tmp_path), "--clip", "none"] if command == "eval" else [command, str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"maskedit: error: run folder '{tmp_path}': not writable " + (
        "(metrics.json and the tables are written there)" if command == "eval" else "(report.html is written there)"
    )
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def _enospc_on(name: str, monkeypatch):
    """os.replace fails with ENOSPC when it would put `name` in place (a full disk)."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("table", ["results.jsonl", "summary.csv"])
def test_disk_full_while_writing_the_tables_is_one_line(tmp_path, monkeypatch, table):
    _case(tmp_path, "a")
    res = runner.invoke(app, ["eval", str(tmp_path), "--clip", "none"])
    assert res.exit_code == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "metrics.json"}
    _enospc_on(table, monkeypatch)
    res = runner.invoke(app, ["eval", str(tmp_path), "--clip", "none"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"maskedit: error: cannot write '{tmp_path / table}': No space left on device"
    assert {p: p.read_bytes() for p in before} == before  # the old tables whole, the case intact
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_while_logging_a_run_stops_it_in_one_line(tmp_path, monkeypatch):
    from maskedit.outputs import append_line

    log = tmp_path / "run_log.jsonl"
    _enospc_on("run_log.jsonl", monkeypatch)
    with pytest.raises(Exception, match="cannot write .*run_log.jsonl.*No space left"):
        append_line(log, '{"case_id": "a"}')
    assert not log.exists()  # never a 0-byte log
    monkeypatch.undo()
    append_line(log, '{"case_id": "a"}')
    real_write = os.write

    def short_write(fd, data):  # the disk fills halfway through the line
        if os.readlink(f"/proc/self/fd/{fd}") == str(log):
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(Exception, match="No space left"):
        append_line(log, '{"case_id": "b"}')
    monkeypatch.undo()
    assert log.read_text() == '{"case_id": "a"}\n'  # no half line


def test_eval_leaves_a_case_it_could_not_score_out_of_the_tables(tmp_path):
    """A case skipped as damaged keeps no rows of an earlier scoring in the new tables."""
    _case(tmp_path, "good")
    bad = _case(tmp_path, "bad")
    assert runner.invoke(app, ["eval", str(tmp_path), "--clip", "none"]).exit_code == 0
    assert (bad / "metrics.json").is_file()
    data = (bad / "blended.png").read_bytes()
    (bad / "blended.png").write_bytes(data[: len(data) // 2])
    res = runner.invoke(app, ["eval", str(tmp_path), "--clip", "none"])
    assert res.exit_code == 0, res.output
    assert "warning: case 'bad' skipped" in res.stderr
    assert "in 1 cases (1 damaged, skipped)" in res.stdout
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {row["case_id"] for row in rows} == {"good"}
    assert "bad" not in (tmp_path / "summary.csv").read_text()
    assert "its old scores are removed" in res.stderr and not (bad / "metrics.json").exists()
    page = build_report(tmp_path)  # the page counts what the tables count
    assert "2 cases · 1 scored" in page and "<td>pixel</td><td>1</td>" in page


def test_eval_waits_for_no_run_and_changes_nothing_while_one_writes(tmp_path):
    """A run holds the folder: eval says so in one line and rewrites no metrics.json or table."""
    import fcntl

    _case(tmp_path, "a")
    assert runner.invoke(app, ["eval", str(tmp_path), "--clip", "none"]).exit_code == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with open(tmp_path / ".maskedit.lock", "a+") as held:  # the run's lock, as the kernel sees it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = runner.invoke(app, ["eval", str(tmp_path), "--clip", "none", "--threshold", "3"])
    assert res.exit_code == 2 and "another maskedit run is writing there" in res.stderr
    assert {p: p.read_bytes() for p in before} == before
