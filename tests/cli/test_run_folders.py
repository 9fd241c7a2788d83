"""Run folders: `--force` never deletes what maskedit did not write, a finished case is reused only
when everything that produced it is the same, and a killed run leaves nothing a rerun trips on
(docs/bad-inputs.md, "Outputs" and "Runtime")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app
from maskedit.errors import OutputError

runner = CliRunner()
TINY = ["--models", "tiny", "--clip", "none"]


def _photo(path: Path, h: int = 40, w: int = 56) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], -1).astype(np.uint8)).save(path)
    return path


def _mask(path: Path, rows: slice, h: int = 40, w: int = 56) -> Path:
    m = np.zeros((h, w), np.uint8)
    m[rows, 10:40] = 255
    Image.fromarray(m).save(path)
    return path


def _one_error_line(res, code: int = 2) -> str:
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "TINY RANDOM" not in ln]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error:"), res.stderr
    return lines[0]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(manifest: Path, out: Path, *extra: str):
    return runner.invoke(app, ["run", str(manifest), "--out", str(out), *TINY, *extra])


# --- --force replaces only what maskedit wrote ---------------------------------------------------


def test_force_never_touches_folders_maskedit_did_not_write(tmp_path, monkeypatch):
    """`run m.yaml --out . --force` with case ids that are the user's folders: refused, untouched."""
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "photos" / "p.png")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        " - {id: notes, image: photos/p.png, instruction: hi, point: [5, 5]}\n"
        " - {id: photos, image: photos/p.png, instruction: hi, point: [5, 5]}\n"
    )
    before = _tree(tmp_path)
    for force in ([], ["--force"]):
        line = _one_error_line(runner.invoke(app, ["run", "m.yaml", "--out", ".", *TINY, *force]))
        assert "case 'notes' cannot be written there:" in line and "todo.txt" in line and "nothing was touched" in line
        assert _tree(tmp_path) == before
        assert not (tmp_path / ".maskedit.lock").exists()  # refused before the run started
    # a table of the user's where the run would write its own
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: fresh, image: photos/p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    (tmp_path / "summary.csv").write_text("my,table\n")
    line = _one_error_line(runner.invoke(app, ["run", "m.yaml", "--out", ".", *TINY, "--force"]))
    assert "'summary.csv', which no maskedit run wrote there" in line
    assert (tmp_path / "summary.csv").read_text() == "my,table\n" and not (tmp_path / "fresh").exists()


def test_edit_force_replaces_an_edit_but_never_the_users_folder(tmp_path, monkeypatch):
    img = _photo(tmp_path / "p.png")
    out = tmp_path / "o"
    args = ["edit", str(img), "-i", "x", "--point", "5,5", "--steps", "1", "--models", "tiny"]
    assert runner.invoke(app, [*args, "--out", str(out)]).exit_code == 0
    assert runner.invoke(app, [*args, "--seed", "3", "--out", str(out), "--force"]).exit_code == 0
    assert json.loads((out / "record.json").read_text())["seed"] == 3
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "blended.png").write_bytes(img.read_bytes())
    (mine / "diary.txt").write_text("mine")
    before = _tree(mine)
    line = _one_error_line(runner.invoke(app, [*args, "--out", str(mine), "--force"]))
    assert "'diary.txt'" in line and "--force replaces only a folder maskedit wrote" in line
    assert _tree(mine) == before
    monkeypatch.chdir(mine)
    line = _one_error_line(runner.invoke(app, [*args, "--out", ".", "--force"]))
    assert "is the current folder" in line
    assert _tree(mine) == before


def test_edit_and_turns_force_name_a_run_folder_as_one_and_keep_it(tmp_path):
    """`--force` on a folder `maskedit run` wrote: one line saying it holds a run (not "files
    maskedit did not write"), and every case of the run is kept."""
    _photo(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    runs = tmp_path / "runs"
    assert runner.invoke(app, ["run", str(tmp_path / "m.yaml"), "--out", str(runs), *TINY]).exit_code == 0
    before = _tree(runs)
    photo = str(tmp_path / "p.png")
    for args in (
        ["edit", photo, "-i", "x", "--point", "5,5", "--steps", "1", "--models", "tiny"],
        ["turns", photo, "--turn", "point=5,5; steps=1; x", "--models", "tiny"],
    ):
        line = _one_error_line(runner.invoke(app, [*args, "--out", str(runs), "--force"]))
        assert "holds a 'maskedit run' of several cases" in line and "did not write" not in line
        assert _tree(runs) == before


def test_write_case_api_refuses_a_foreign_folder(tmp_path, tiny_models, photo):
    import maskedit
    from maskedit import EditSettings
    from maskedit.outputs import write_case

    res = maskedit.edit(photo, "x", models=tiny_models, points=[(5, 5)], settings=EditSettings(steps=1))
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "record.json").write_text('{"mine": true}')
    (tmp_path / "f" / "a.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        write_case(res, tmp_path / "f", force=True)
    assert (tmp_path / "f" / "a.txt").read_text() == "mine"


def test_an_interrupted_replace_keeps_the_old_result(tmp_path, tiny_models, photo, monkeypatch):
    """Stopped between swapping the old folder out and the new one in (Ctrl-C there, or kill -9,
    which the next writer mends): the old result is back, never neither."""
    import maskedit
    from maskedit import EditSettings, outputs
    from maskedit.outputs import remove_leftovers, write_case

    res = maskedit.edit(photo, "x", models=tiny_models, points=[(5, 5)], settings=EditSettings(steps=1))
    write_case(res, tmp_path / "a")
    before = _tree(tmp_path / "a")
    real, calls = os.replace, []

    def stop_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        write_case(res, tmp_path / "a", force=True)
    monkeypatch.setattr(outputs.os, "replace", real)
    assert _tree(tmp_path / "a") == before and sorted(os.listdir(tmp_path)) == ["a"]
    os.rename(tmp_path / "a", tmp_path / ".a.k1ll3d9x.old")  # what kill -9 there leaves
    assert remove_leftovers(tmp_path) == [".a.k1ll3d9x.old"]
    assert _tree(tmp_path / "a") == before


# --- a finished case is reused only when nothing that produced it changed ------------------------


def test_changed_cases_are_redone_and_the_rest_reused(tmp_path):
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"

    def write(instruction: str = "hi", seed: int = 1) -> None:
        manifest.write_text(
            "defaults: {steps: 1}\ncases:\n"
            f" - {{id: a, image: p.png, instruction: {instruction}, point: [5, 5], seed: {seed}}}\n"
            " - {id: b, image: p.png, instruction: hi, mask: m.png}\n"
            " - {id: c, image: p.png, instruction: hi, point: [9, 9]}\n"
        )

    out = tmp_path / "o"
    write()
    res = _run(manifest, out)
    assert res.exit_code == 0, res.output
    assert "3 done, 0 already finished" in res.stdout
    stamps = {c: (out / c / "record.json").stat().st_mtime_ns for c in "abc"}

    def rerun(expect_redone: set[str], *extra: str) -> None:
        res = _run(manifest, out, *extra)
        assert res.exit_code == 0, res.output
        n = len(expect_redone)
        assert f"{n} done ({n} redone" in res.stdout and f"{3 - n} already finished" in res.stdout
        for c in "abc":
            changed = (out / c / "record.json").stat().st_mtime_ns != stamps[c]
            assert changed == (c in expect_redone), c
            stamps[c] = (out / c / "record.json").stat().st_mtime_ns

    write(instruction="make it blue")  # the instruction
    rerun({"a"})
    assert json.loads((out / "a" / "record.json").read_text())["instruction"] == "make it blue"
    write(instruction="make it blue", seed=2)  # the seed
    rerun({"a"})
    _mask(tmp_path / "m.png", slice(8, 30))  # a mask file's contents, same name
    rerun({"b"})
    assert np.asarray(Image.open(out / "b" / "mask.png"))[25, 20] == 255
    rerun({"a", "b", "c"}, "--methods", "pixel,latent")  # the methods
    rerun({"a", "b", "c"}, "--methods", "pixel,latent", "--working-size", "64")  # a model setting
    (out / "c" / "blended_latent.png").unlink()  # a folder that lost an image
    (out / "a" / "record.json").write_text("")  # an empty record
    rerun({"a", "c"}, "--methods", "pixel,latent", "--working-size", "64")
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted({r["case_id"] for r in rows}) == ["a", "b", "c"] and len(rows) == 9


def test_the_tables_cover_the_manifest_being_run(tmp_path):
    _photo(tmp_path / "p.png")
    (tmp_path / "one.yaml").write_text(
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    (tmp_path / "two.yaml").write_text(
        "cases:\n - {id: b, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    out = tmp_path / "o"
    assert _run(tmp_path / "one.yaml", out).exit_code == 0
    res = _run(tmp_path / "two.yaml", out)
    assert res.exit_code == 0, res.output
    assert "summary.csv covers this manifest's cases; 1 other case folder" in res.stdout
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["case_id"] for r in rows} == {"b"}


def test_a_case_whose_redo_fails_leaves_the_tables_and_they_are_always_rewritten(tmp_path):
    """A changed case that fails keeps its old folder on disk but not its rows (they are the old
    instruction's); a manifest none of whose cases is scored rewrites the tables empty."""
    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"

    def write(instruction: str, extra: str = "") -> None:
        manifest.write_text(
            "defaults: {steps: 1}\ncases:\n"
            " - {id: a, image: p.png, instruction: hi, point: [5, 5]}\n"
            f" - {{id: b, image: p.png, instruction: {instruction}, point: [5, 5]{extra}}}\n"
        )

    out = tmp_path / "o"
    write("make it blue")
    assert _run(manifest, out).exit_code == 0
    # changed, and its redo fails while running (masked guidance needs image guidance >= 1)
    write("make it purple", ", method: guidance, image_cfg: 0.5")
    res = _run(manifest, out)
    assert "1 failed" in res.stdout, res.output
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["case_id"] for r in rows} == {"a"}
    assert json.loads((out / "b" / "record.json").read_text())["instruction"] == "make it blue"
    (tmp_path / "other.yaml").write_text(
        "cases:\n - {id: c, image: p.png, instruction: hi, point: [5, 5], steps: 1, method: guidance, image_cfg: 0.5}\n"
    )
    res = _run(tmp_path / "other.yaml", out)
    assert "1 failed" in res.stdout and "2 other case folders" in res.stdout, res.output
    assert (out / "results.jsonl").read_text() == ""
    assert (out / "summary.csv").read_text().startswith("method,n,scored_against,miou")


@pytest.mark.parametrize("how", ["--force", "another photo"])
def test_a_turns_case_started_again_keeps_its_old_turns_when_its_first_turn_fails(tmp_path, how):
    """A multi-turn case started again from the photo (`--force`, or its photo changed) whose
    first turn fails while it runs keeps its old folder, as a plain case's failed redo does,
    instead of being left with a history and no turn; the next good run makes it anew."""
    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"

    def write(turn: str) -> None:
        manifest.write_text(
            f"cases:\n - {{id: walk, image: p.png, steps: 1, turns: [{{instruction: hi, point: [5, 5]{turn}}}]}}\n"
        )

    out = tmp_path / "o"
    write("")
    assert _run(manifest, out).exit_code == 0
    before = _tree(out / "walk")
    # masked guidance needs image guidance >= 1: refused when the turn runs
    write(", method: guidance, image_cfg: 0.5")
    if how == "another photo":
        _photo(tmp_path / "p.png", w=50)
    res = _run(manifest, out, *(["--force"] if how == "--force" else []))
    assert res.exit_code == 1 and "1 failed" in res.stdout, res.output
    assert _tree(out / "walk") == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".maskedit.lock"]
    write("")
    res = _run(manifest, out, *(["--force"] if how == "--force" else []))
    assert res.exit_code == 0 and "1 done" in res.stdout, res.output


def test_a_finished_folder_that_lost_what_its_scores_need_is_redone(tmp_path):
    """metrics.json deleted or cut short, or the reference mask the case is scored against
    gone: the case is redone, not counted as finished while it drops out of the tables."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "defaults: {steps: 1}\ncases:\n"
        + "".join(f" - {{id: {c}, image: p.png, instruction: hi, point: [5, 5], reference_mask: m.png}}\n" for c in "abc")
    )
    out = tmp_path / "o"
    assert _run(manifest, out).exit_code == 0
    (out / "a" / "metrics.json").unlink()
    (out / "b" / "metrics.json").write_text('{"rows": [')
    (out / "c" / "reference_mask.png").unlink()
    res = _run(manifest, out)
    assert res.exit_code == 0, res.output
    assert "3 done (3 redone" in res.stdout, res.stdout
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["case_id"] for r in rows} == {"a", "b", "c"}
    assert {r["scored_against"] for r in rows} == {"annotation"}
    res = _run(manifest, out)
    assert "0 done, 3 already finished" in res.stdout, res.stdout


def test_a_stopped_run_rebuilds_the_tables_from_the_cases_it_finished(tmp_path, monkeypatch):
    """Ctrl-C after a case was redone: the tables show its new rows, not the old ones."""
    import maskedit.runner as runner_module

    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"
    cases = "".join(f" - {{id: {c}, image: p.png, instruction: INSTR, point: [5, 5]}}\n" for c in "ab")
    manifest.write_text("defaults: {steps: 1}\ncases:\n" + cases.replace("INSTR", "hi"))
    out = tmp_path / "o"
    assert _run(manifest, out).exit_code == 0
    manifest.write_text("defaults: {steps: 1}\ncases:\n" + cases.replace("INSTR", "make it red"))
    real = runner_module.process_case

    def stop_at_b(case, *args, **kwargs):
        if case.id == "b":
            raise KeyboardInterrupt
        return real(case, *args, **kwargs)

    monkeypatch.setattr(runner_module, "process_case", stop_at_b)
    res = _run(manifest, out)
    assert res.exit_code == 130, res.output
    rows = {r["case_id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    new = json.loads((out / "a" / "metrics.json").read_text())["rows"]
    assert [r for r in rows.values() if r["case_id"] == "a"] == [r for r in new if r["method"] == rows["a"]["method"]]
    assert json.loads((out / "a" / "record.json").read_text())["instruction"] == "make it red"


# --- killed runs ------------------------------------------------------------------------------


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    _photo(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    out = tmp_path / "o"
    out.mkdir()
    (out / ".maskedit.lock").touch()
    for name in (".a.k2x9q0ab.partial", ".zz.abcdefgh.partial", ".a.q1w2e3r4.old"):  # kill -9
        (out / name).mkdir()
        (out / name / "original.png").write_bytes(b"half")
    (out / ".results.jsonl.a1b2c3d4.tmp").write_text("half")
    (out / ".mine").mkdir()  # not a name maskedit writes: kept
    res = _run(tmp_path / "m.yaml", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".maskedit.lock", ".mine", "a", "results.jsonl", "run_log.jsonl", "summary.csv"
    ]


def test_the_users_files_named_like_leftovers_are_kept(tmp_path):
    """A folder or file of the user's whose name only looks like a temp name (`.thesis.20240101.old`
    holding chapters, `.notes.20240101.tmp`) is not a leftover: a run in that folder, or an edit
    beside it, keeps it; a leftover holds nothing but maskedit's files."""
    _photo(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    out = tmp_path / "docs"
    mine = {
        ".thesis.20240101.old/ch1.txt": b"chapter one",
        ".a.20240101.partial/notes.txt": b"mine too",
        ".notes.20240101.tmp": b"a draft",
        "todo.txt": b"keep",
    }
    for name, data in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    res = _run(tmp_path / "m.yaml", out)
    assert res.exit_code == 0, res.output
    assert {n: (out / n).read_bytes() for n in mine} == mine
    assert (out / "a" / "record.json").is_file()
    (tmp_path / ".x.20240101.old").mkdir()  # beside an edit's --out x
    (tmp_path / ".x.20240101.old" / "ch1.txt").write_bytes(b"chapter one")
    res = runner.invoke(
        app, ["edit", str(tmp_path / "p.png"), "-i", "hi", "--point", "5,5", "--steps", "1",
              "--out", str(tmp_path / "x"), "--models", "tiny"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / ".x.20240101.old" / "ch1.txt").read_bytes() == b"chapter one"


@pytest.mark.integration  # two maskedit processes, one interrupted: in CI's run
def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(tmp_path):
    _photo(tmp_path / "p.png")
    ids = [f"c{i}" for i in range(3)]
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 10}\ncases:\n"
        + "".join(f" - {{id: {i}, image: p.png, instruction: hi, point: [5, 5]}}\n" for i in ids)
    )
    out = tmp_path / "o"
    exe = str(Path(sys.executable).with_name("maskedit"))
    cmd = [exe, "run", str(tmp_path / "m.yaml"), "--out", str(out), *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "c0" / "record.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "maskedit: interrupted; finished work is kept" in err and "Traceback" not in err
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
    done = {p.name for p in out.iterdir() if (p / "record.json").exists()}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(ids) - len(done)} done" in proc.stdout
    assert {p.name for p in out.iterdir() if p.is_dir()} == set(ids)
    log = [json.loads(x) for x in (out / "run_log.jsonl").read_text().splitlines()]
    assert sorted(r["case_id"] for r in log if r["status"] == "ok") == ids
    assert os.path.getsize(out / "run_log.jsonl") > 0


def test_force_never_deletes_the_users_file_in_a_folder_maskedit_wrote(tmp_path):
    """A note the user put into an edit's or a case's folder: `--force` refuses, and the note stays."""
    img = _photo(tmp_path / "p.png")
    out = tmp_path / "o"
    args = ["edit", str(img), "-i", "x", "--point", "5,5", "--steps", "1", "--models", "tiny"]
    assert runner.invoke(app, [*args, "--out", str(out)]).exit_code == 0
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    line = _one_error_line(runner.invoke(app, [*args, "--seed", "3", "--out", str(out), "--force"]))
    assert "'notes.txt'" in line and "nothing was touched" in line
    assert _tree(out) == before
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    assert _run(manifest, tmp_path / "r").exit_code == 0
    (tmp_path / "r" / "a" / "notes.txt").write_text("mine")
    before = _tree(tmp_path / "r" / "a")
    resumed = _run(manifest, tmp_path / "r")  # a finished case is only read: the run goes on
    assert resumed.exit_code == 0 and "1 already finished" in resumed.stdout, resumed.output
    assert _tree(tmp_path / "r" / "a") == before
    line = _one_error_line(_run(manifest, tmp_path / "r", "--force"))
    assert "case 'a' cannot be written there:" in line and "'notes.txt'" in line
    assert _tree(tmp_path / "r" / "a") == before
    manifest.write_text(  # changed: the case is to be redone, but not over the user's file
        "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 2}\n"
        " - {id: b, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    )
    res = _run(manifest, tmp_path / "r")
    assert res.exit_code == 1 and "case 'a' cannot be written there:" in res.output, res.output
    assert _tree(tmp_path / "r" / "a") == before and (tmp_path / "r" / "b" / "record.json").is_file()


def test_a_users_file_inside_a_turns_case_keeps_it_from_a_changed_photo_and_force(tmp_path):
    """A note the user put into a multi-turn case's turns/ or a turn's folder: a changed photo
    and `--force` refuse the case with one line naming the note, and nothing is touched; the
    masks the app writes into its masks/ are maskedit's, and `--force` replaces them."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "defaults: {steps: 1}\ncases:\n - id: w\n   image: p.png\n   turns:\n"
        "     - {instruction: make it red, mask: m.png}\n"
    )
    out = tmp_path / "o"
    assert _run(manifest, out).exit_code == 0
    (out / "w" / "turns" / "t01" / "notes.txt").write_text("mine")
    before = _tree(out / "w")
    line = _one_error_line(_run(manifest, out, "--force"))
    assert "case 'w' cannot be written there:" in line and "'turns/t01/notes.txt'" in line
    assert "nothing was touched" in line and _tree(out / "w") == before
    Image.fromarray(np.full((40, 56, 3), 77, np.uint8)).save(tmp_path / "p.png")  # another photo
    res = _run(manifest, out)
    assert res.exit_code == 1 and "'turns/t01/notes.txt'" in res.output, res.output
    assert _tree(out / "w") == before
    (out / "w" / "turns" / "t01" / "notes.txt").unlink()
    (out / "w" / "turns" / "notes.txt").write_text("mine")
    line = _one_error_line(_run(manifest, out, "--force"))
    assert "'turns/notes.txt'" in line and (out / "w" / "turns" / "notes.txt").is_file()
    (out / "w" / "turns" / "notes.txt").unlink()
    (out / "w" / "masks").mkdir()
    _mask(out / "w" / "masks" / "mask-0123456789abcdef-56x40.png", slice(5, 20))
    assert _run(manifest, out, "--force").exit_code == 0
    assert not (out / "w" / "masks").exists()


def test_a_turns_case_is_redone_when_its_manifest_or_mask_changed_and_resumed_when_damaged(
    tmp_path,
):
    """A multi-turn case is reused only when nothing that made it changed (its turns, a turn's
    mask file); a folder whose summary record.json is missing (a run stopped while rewriting it)
    is resumed, its turns taken again, not refused as someone else's folder."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"

    def write(second: str = "make it blue") -> None:
        manifest.write_text(
            "defaults: {steps: 1}\ncases:\n - id: w\n   image: p.png\n   turns:\n"
            "     - {instruction: make it red, mask: m.png}\n"
            f"     - {{instruction: {second}, box: [30, 5, 50, 30]}}\n"
        )

    def rerun(expect: str) -> list[str]:
        res = _run(manifest, out)
        assert res.exit_code == 0, res.output
        assert expect in res.stdout, res.stdout
        return sorted(p.name for p in (out / "w" / "turns").iterdir())

    out = tmp_path / "o"
    write()
    assert rerun("1 done, 0 already finished") == ["t01", "t02"]
    assert rerun("0 done, 1 already finished") == ["t01", "t02"]
    write("make it green")  # the second turn's instruction: a new second turn on the first
    assert rerun("1 done (1 redone") == ["t01", "t02", "t03"]
    assert json.loads((out / "w" / "record.json").read_text())["turns"]["path"] == ["t01", "t03"]
    _mask(tmp_path / "m.png", slice(8, 30))  # the first turn's mask file: both turns made again
    assert rerun("1 done (1 redone") == ["t01", "t02", "t03", "t04", "t05"]
    assert np.asarray(Image.open(out / "w" / "turns" / "t04" / "mask.png"))[25, 20] == 255
    (out / "w" / "record.json").unlink()  # stopped while the summary was rewritten
    assert rerun("1 done (1 redone") == ["t01", "t02", "t03", "t04", "t05"]
    assert rerun("0 done, 1 already finished") == ["t01", "t02", "t03", "t04", "t05"]
    res = _run(manifest, out, "--threshold", "3")  # scored otherwise: the turns taken again too
    assert res.exit_code == 0 and "1 rescored" in res.stdout, res.output
    assert sorted(p.name for p in (out / "w" / "turns").iterdir())[-1] == "t05"  # none edited
    for turn in ("t04", "t05"):
        rows = json.loads((out / "w" / "turns" / turn / "metrics.json").read_text())["rows"]
        assert {row["change_threshold"] for row in rows} == {3.0}
    grey = np.full((40, 56, 3), 77, np.uint8)
    Image.fromarray(grey).save(tmp_path / "p.png")  # another photo: the edit starts again from it
    assert _run(manifest, out, "--threshold", "3").exit_code == 0
    assert sorted(p.name for p in (out / "w" / "turns").iterdir()) == ["t01", "t02"]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "w" / "original.png")), grey)


def test_a_turns_case_whose_files_moved_is_rescored_without_editing_its_turns(tmp_path):
    """A manifest moved with its masks and ground truth (a dataset's `root:` moved) names the
    same bytes elsewhere: its multi-turn case is finished, another threshold scores its turns
    again from their folders (reading the ground truth where it now lies) and edits none."""
    data = tmp_path / "data"
    _photo(data / "p.png")
    _mask(data / "m.png", slice(5, 20))
    _photo(data / "truth.png")
    (data / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n - id: w\n   image: p.png\n   turns:\n"
        "     - {instruction: make it red, mask: m.png}\n"
        "     - {instruction: make it blue, mask: m.png, ground_truth: truth.png}\n"
    )
    out = tmp_path / "o"
    assert _run(data / "m.yaml", out).exit_code == 0
    moved = tmp_path / "moved"
    data.rename(moved)
    dry = ["run", str(moved / "m.yaml"), "--out", str(out), *TINY, "--dry-run", "--threshold", "3"]
    res = runner.invoke(app, dry)
    assert "case w: scored otherwise" in res.stdout, res.output
    res = _run(moved / "m.yaml", out, "--threshold", "3")
    assert res.exit_code == 0 and "1 rescored" in res.stdout, res.output
    assert sorted(p.name for p in (out / "w" / "turns").iterdir()) == ["t01", "t02"]
    rows = json.loads((out / "w" / "turns" / "t02" / "metrics.json").read_text())["rows"]
    assert {row["change_threshold"] for row in rows} == {3.0}
    assert _run(moved / "m.yaml", out, "--threshold", "3").stdout.count("1 already finished") == 1


def test_a_turns_case_that_is_no_benchmarks_any_more_drops_its_benchmark_columns(tmp_path):
    """A multi-turn case whose `benchmark:` is removed from the manifest is redone as a plain
    case: its rows and record no longer name the benchmark it was."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    case = (
        "defaults: {steps: 1}\ncases:\n - id: w\n   image: p.png\nTAG   turns:\n"
        "     - {instruction: make it red, mask: m.png}\n"
    )
    tag = "   benchmark: {name: magicbrush, mask_source: annotation}\n"
    manifest.write_text(case.replace("TAG", tag))
    out = tmp_path / "o"
    assert _run(manifest, out).exit_code == 0
    assert json.loads((out / "w" / "record.json").read_text())["benchmark"]["name"] == "magicbrush"
    manifest.write_text(case.replace("TAG", ""))
    res = _run(manifest, out)
    assert res.exit_code == 0 and "1 redone" in res.stdout, res.output
    assert "benchmark" not in json.loads((out / "w" / "record.json").read_text())
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert rows and not any("benchmark" in row for row in rows), rows


def test_what_a_file_browser_leaves_in_a_case_folder_is_not_the_users(tmp_path):
    """.DS_Store (Finder), Thumbs.db (Explorer), ._x (macOS on other disks) in a case folder:
    --force still replaces it; the web app's masks/ in its turns folder is maskedit's too."""
    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n")
    assert _run(manifest, tmp_path / "r").exit_code == 0
    for name in (".DS_Store", "Thumbs.db", "._grid.png"):
        (tmp_path / "r" / "a" / name).write_bytes(b"\0")
    res = _run(manifest, tmp_path / "r", "--force")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "r" / "a" / ".DS_Store").exists()
    img, out = tmp_path / "p.png", tmp_path / "walk"
    args = ["turns", str(img), "--out", str(out), "--turn", "box=1,1,20,20; hi", "--models", "tiny", "--steps", "1"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "masks").mkdir()
    (out / "masks" / "0a1b.png").write_bytes(b"\0")  # as the app keeps a region layer's mask
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_an_edit_killed_mid_swap_is_put_back_and_refused_before_models_load(tmp_path, monkeypatch):
    from maskedit import models as models_module

    img = _photo(tmp_path / "p.png")
    out = tmp_path / "ed"
    args = ["edit", str(img), "-i", "x", "--point", "5,5", "--steps", "1", "--models", "tiny"]
    assert runner.invoke(app, [*args, "--out", str(out)]).exit_code == 0
    before = _tree(out)
    os.rename(out, tmp_path / ".ed.k1ll3d9x.old")  # kill -9 between the two renames
    monkeypatch.setattr(models_module, "load_models", lambda *a, **k: pytest.fail("loaded"))
    line = _one_error_line(runner.invoke(app, [*args, "--out", str(out)]))
    assert "folder exists and is not empty; pass --force" in line
    assert _tree(out) == before


def test_a_case_without_a_ground_truth_keeps_its_scores_when_the_run_gains_dino(tmp_path):
    """DINO scores only against a ground truth: when a manifest gains a MagicBrush case (so the
    run loads DINO), a finished case without one is not scored again; the new case is."""
    _photo(tmp_path / "p.png")
    _photo(tmp_path / "gt.png", h=40, w=56)
    manifest = tmp_path / "m.yaml"
    first = "cases:\n - {id: a, image: p.png, instruction: hi, point: [5, 5], steps: 1}\n"
    manifest.write_text(first)
    out = tmp_path / "o"
    tiny = ["run", str(manifest), "--models", "tiny", "--clip", "none", "--out", str(out)]
    assert runner.invoke(app, tiny).exit_code == 0
    scored = (out / "a" / "metrics.json").read_bytes()
    manifest.write_text(
        first + " - {id: b, image: p.png, instruction: hi, point: [5, 5], steps: 1, "
        "ground_truth: gt.png, benchmark: {name: magicbrush, mask_source: click, id: b}}\n"
    )
    res = runner.invoke(app, tiny)
    assert res.exit_code == 0, res.output
    assert "1 done, 1 already finished" in " ".join(res.stdout.split()), res.stdout
    assert (out / "a" / "metrics.json").read_bytes() == scored
    truth_rows = json.loads((out / "b" / "metrics.json").read_text())["rows"]
    assert any("dino" in key for row in truth_rows for key in row)  # the new case has DINO


def test_a_resume_with_another_clip_rescores_the_finished_cases_without_editing(tmp_path):
    """A finished case scored with another CLIP is scored again from its folder (its pictures
    untouched, nothing edited), so the tables hold one CLIP model. So is a folder from before
    metrics.json kept its scoring (scored with older formulas too)."""
    from maskedit.tiny.clip import build_tiny_clip

    model, processor = build_tiny_clip(seed=1)
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"
    case = " - {{id: {}, image: p.png, instruction: hi, point: [5, 5], steps: 1}}\n"
    manifest.write_text("cases:\n" + case.format("a"))
    out = tmp_path / "o"
    tiny = ["run", str(manifest), "--models", "tiny", "--out", str(out)]
    assert runner.invoke(app, [*tiny, "--clip", "auto"]).exit_code == 0
    pictures = {p.name: p.read_bytes() for p in (out / "a").glob("*.png")}
    manifest.write_text("cases:\n" + case.format("a") + case.format("b"))
    res = runner.invoke(app, [*tiny, "--clip", str(tmp_path / "clip")])
    assert res.exit_code == 0, res.output
    assert "2 done (1 rescored" in " ".join(res.stdout.split()), res.stdout
    assert "mixes" not in res.stderr
    assert {p.name: p.read_bytes() for p in (out / "a").glob("*.png")} == pictures
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {row["clip_model"] for row in rows} == {str(tmp_path / "clip")}
    assert "0 done, 2 already finished" in runner.invoke(
        app, [*tiny, "--clip", str(tmp_path / "clip")]
    ).stdout
    metrics = out / "a" / "metrics.json"
    assert runner.invoke(app, [*tiny, "--clip", "auto"]).exit_code == 0
    doc = json.loads(metrics.read_text())
    del doc["scoring"]  # as written before metrics.json kept its scoring
    metrics.write_text(json.dumps(doc))
    from maskedit.config import load_manifest
    from maskedit.fingerprints import scored_fingerprint
    from maskedit.models import load_models

    record = json.loads((out / "a" / "record.json").read_text())  # and its fingerprint then
    options = load_models("tiny", need_sam=False).options
    record["fingerprint"] = scored_fingerprint(load_manifest(manifest).cases[0], options, None)
    (out / "a" / "record.json").write_text(json.dumps(record))
    res = runner.invoke(app, [*tiny, "--clip", str(tmp_path / "clip")])
    assert res.exit_code == 0, res.output
    assert "2 done (2 rescored" in " ".join(res.stdout.split()), res.stdout
    assert "mixes" not in res.stderr
    assert {p.name: p.read_bytes() for p in (out / "a").glob("*.png")} == pictures
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {row["clip_model"] for row in rows} == {str(tmp_path / "clip")}
    res = runner.invoke(app, [*tiny, "--clip", str(tmp_path / "clip")])
    assert "mixes" not in res.stderr and "0 done, 2 already finished" in res.stdout


def _one_case_run(tmp_path: Path) -> tuple[Path, Path]:
    """A manifest of one masked case, run once: (the manifest, the run folder)."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("cases:\n - {id: a, image: p.png, instruction: hi, mask: m.png, steps: 1}\n")
    out = tmp_path / "o"
    assert _run(manifest, out).exit_code == 0
    return manifest, out


def test_another_threshold_rescores_without_editing_and_an_older_folder_is_still_done(tmp_path):
    """--threshold is scoring: another one scores the finished cases again from their folders
    and edits nothing. A folder whose fingerprint hashed the threshold too (written before, with
    no scoring kept) is scored again under that threshold (older formulas), and edited again
    under another, as it was then; one made with the default threshold is scored again under
    another."""
    from maskedit.config import load_manifest
    from maskedit.fingerprints import case_fingerprint, scored_fingerprint

    manifest, out = _one_case_run(tmp_path)
    pictures = {p.name: p.read_bytes() for p in (out / "a").glob("*.png")}
    res = _run(manifest, out, "--threshold", "40")
    assert res.exit_code == 0 and "1 done (1 rescored" in " ".join(res.stdout.split()), res.output
    assert {p.name: p.read_bytes() for p in (out / "a").glob("*.png")} == pictures
    rows = json.loads((out / "a" / "metrics.json").read_text())["rows"]
    assert {row["change_threshold"] for row in rows} == {40.0}
    assert "0 done, 1 already finished" in _run(manifest, out, "--threshold", "40").stdout
    record_file = out / "a" / "record.json"  # as written when the threshold was hashed in
    from maskedit.models import load_models

    case = load_manifest(manifest).cases[0]
    models = load_models("tiny", need_sam=False)
    record = json.loads(record_file.read_text())
    assert record["fingerprint"] == case_fingerprint(case, models.options)  # the run's models
    old = scored_fingerprint(case, models.options, 40.0)
    record["fingerprint"] = old
    record_file.write_text(json.dumps(record))
    metrics = out / "a" / "metrics.json"
    doc = json.loads(metrics.read_text())
    del doc["scoring"]
    metrics.write_text(json.dumps(doc))
    res = _run(manifest, out, "--threshold", "40")
    assert "1 done (1 rescored" in " ".join(res.stdout.split()), res.output
    assert "0 done, 1 already finished" in _run(manifest, out, "--threshold", "40").stdout
    doc = json.loads(metrics.read_text())
    del doc["scoring"]
    metrics.write_text(json.dumps(doc))
    res = _run(manifest, out, "--threshold", "20")
    assert res.exit_code == 0 and "1 done (1 redone" in " ".join(res.stdout.split()), res.output
    # made with the default threshold, as most older folders were: its fingerprint says so, so
    # another threshold scores it again and edits nothing; the one after that finds it finished
    pictures = {p.name: p.read_bytes() for p in (out / "a").glob("*.png")}
    record = json.loads(record_file.read_text())
    record["fingerprint"] = scored_fingerprint(case, models.options, None)
    record_file.write_text(json.dumps(record))
    doc = json.loads(metrics.read_text())
    del doc["scoring"]
    metrics.write_text(json.dumps(doc))
    res = _run(manifest, out, "--threshold", "40")
    assert res.exit_code == 0 and "1 done (1 rescored" in " ".join(res.stdout.split()), res.output
    assert {p.name: p.read_bytes() for p in (out / "a").glob("*.png")} == pictures
    assert "0 done, 1 already finished" in _run(manifest, out, "--threshold", "40").stdout


def test_a_dry_run_compares_what_the_flags_and_this_machine_say(tmp_path):
    """--dry-run compares what the run will: the metric networks its flags name without loading
    any (--clip none, the tiny models' own) and the device this machine runs on, so each line
    says what the run then does."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    case = " - {{id: {0}, image: p.png, instruction: hi, mask: m.png, steps: 1}}\n"
    manifest.write_text("cases:\n" + case.format("a") + case.format("b"))
    out = tmp_path / "o"

    def run(*extra: str) -> str:
        args = ["run", str(manifest), "--out", str(out), "--models", "tiny", *extra]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        return " ".join(res.stdout.split())

    assert "2 done" in run()  # scored with the tiny CLIP
    assert "would edit 0, rescore 0, skip 2" in run("--dry-run")
    said = run("--dry-run", "--clip", "none")
    assert "case a: scored otherwise" in said and "rescore 2, skip 0" in said, said
    assert "rescore 2, skip 0" in run("--dry-run", "--clip", "none", "--ray")  # Ray's driver too
    assert "2 done (2 rescored" in run("--clip", "none")
    record_file = out / "a" / "record.json"
    record = json.loads(record_file.read_text())
    record["models"]["device"], record["models"]["ip2p"]["dtype"] = "cuda:0", "float16"
    record_file.write_text(json.dumps(record))  # as if made on a GPU
    said = run("--dry-run", "--clip", "none")
    assert "case a: its case, inputs or models changed: edited again" in said, said
    assert "would edit 1, rescore 0, skip 1" in said
    assert "1 done (1 redone" in run("--clip", "none")


@pytest.mark.parametrize(
    "kept", [None, [20.0], "threshold 20", {}, {"clip": None}, {"threshold": {"a": [None]}}]
)
def test_a_folder_whose_kept_scoring_is_gone_or_damaged_is_scored_again(tmp_path, kept):
    """A folder this version wrote (its fingerprint hashes no threshold) whose metrics.json lost
    its "scoring" or holds another value there cannot say what scored it: another threshold
    scores it again rather than keep rows scored under the old one."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("cases:\n - {id: a, image: p.png, instruction: hi, mask: m.png, steps: 1}\n")
    out = tmp_path / "o"
    assert _run(manifest, out, "--threshold", "20").exit_code == 0
    metrics = out / "a" / "metrics.json"
    doc = json.loads(metrics.read_text())
    if kept is None:
        del doc["scoring"]
    else:
        doc["scoring"] = kept
    metrics.write_text(json.dumps(doc))
    said = " ".join(_run(manifest, out, "--threshold", "30", "--dry-run").stdout.split())
    assert "case a: scored otherwise" in said, said
    res = _run(manifest, out, "--threshold", "30")
    assert res.exit_code == 0 and "1 done (1 rescored" in " ".join(res.stdout.split()), res.output
    doc = json.loads(metrics.read_text())
    assert {row["change_threshold"] for row in doc["rows"]} == {30.0}
    assert doc["scoring"]["threshold"] == 30.0


@pytest.mark.parametrize("batch", ["1", "2"])
def test_a_runs_warnings_name_their_case(tmp_path, batch):
    """Two cases with empty masks: each warning line says which case it is about, alone or in
    a shared batch."""
    _photo(tmp_path / "p.png")
    Image.fromarray(np.zeros((40, 56), np.uint8)).save(tmp_path / "empty.png")
    case = "  - {{id: {0}, image: p.png, instruction: make it red, mask: empty.png, steps: 2}}\n"
    (tmp_path / "m.yaml").write_text("cases:\n" + case.format("cat") + case.format("dog"))
    res = _run(tmp_path / "m.yaml", tmp_path / "out", "--batch-size", batch)
    assert res.exit_code == 0, res.output
    said = [ln for ln in res.stderr.splitlines() if "mask is empty" in ln]
    assert said == [
        f"maskedit: warning: case '{c}': the mask is empty: nothing may change, so the output "
        "is the input"
        for c in ("cat", "dog")
    ], res.stderr


def test_a_regions_or_turns_cases_warnings_name_the_region_as_the_manifest_does(tmp_path):
    """A case of several regions names the region of a warning as its errors do ("region 2"),
    and a turn of one region adds nothing: no "request 1" the manifest never spoke of."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    Image.fromarray(np.zeros((40, 56), np.uint8)).save(tmp_path / "empty.png")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        " - {id: r, image: p.png, regions: [{instruction: gold, mask: m.png},"
        " {instruction: silver, mask: empty.png}]}\n"
        " - {id: t, image: p.png, turns: [{instruction: red, mask: empty.png}]}\n"
    )
    res = _run(tmp_path / "m.yaml", tmp_path / "out")
    assert res.exit_code == 0, res.output
    said = [ln for ln in res.stderr.splitlines() if "mask is empty" in ln]
    empty = "the mask is empty: nothing may change, so the output is the input"
    assert said == [
        f"maskedit: warning: case 'r': region 2: {empty}",
        f"maskedit: warning: case 't': {empty}",
    ], res.stderr
    walk = tmp_path / "walk.yaml"
    walk.write_text("image: p.png\nsteps: 1\nturns:\n - {instruction: red, mask: empty.png}\n")
    res = runner.invoke(app, ["turns", str(walk), "--out", str(tmp_path / "w"), "--models", "tiny"])
    assert res.exit_code == 0, res.output
    assert [ln for ln in res.stderr.splitlines() if "mask is empty" in ln] == [
        f"maskedit: warning: {empty}"
    ], res.stderr


def test_a_case_to_rescore_whose_picture_does_not_read_back_is_edited_again(tmp_path):
    """Another --threshold rescores a finished case from its pictures; a truncated one (not
    empty, so the folder looked whole) cannot be scored, so the case is edited again instead
    of failing on every rerun."""
    manifest, out = _one_case_run(tmp_path)
    blended = out / "a" / "blended.png"
    blended.write_bytes(blended.read_bytes()[:40])
    res = _run(manifest, out, "--threshold", "40")
    assert res.exit_code == 0 and "1 done (1 redone" in " ".join(res.stdout.split()), res.output
    Image.open(blended).load()  # whole again
    assert "0 done, 1 already finished" in _run(manifest, out, "--threshold", "40").stdout


def test_a_case_to_rescore_that_holds_the_users_file_is_rescored_and_never_replaced(tmp_path):
    """A note of the user's in a finished case folder: another --threshold rescores the case
    there (metrics.json is maskedit's), the note stays; when a picture there does not read back,
    the case is refused before any edit, naming the note, not edited for nothing."""
    manifest, out = _one_case_run(tmp_path)
    (out / "a" / "notes.txt").write_text("mine")
    res = _run(manifest, out, "--threshold", "30")
    assert res.exit_code == 0 and "1 done (1 rescored" in " ".join(res.stdout.split()), res.output
    blended = out / "a" / "blended.png"
    blended.write_bytes(blended.read_bytes()[:40])
    before = _tree(out / "a")
    res = _run(manifest, out, "--threshold", "40")
    assert res.exit_code == 1, res.output
    said = " ".join(res.stderr.split())
    assert "case 'a' cannot be written there:" in said and "'notes.txt'" in said, said
    assert "blended.png" in said and "--force" not in said, said
    assert _tree(out / "a") == before


def test_a_dry_run_says_what_each_case_would_get_and_writes_nothing(tmp_path):
    """--dry-run: one line per case (edited, edited again, rescored, skipped), the counts, and
    no folder made or file touched; the run after it does what it said."""
    _photo(tmp_path / "p.png")
    _mask(tmp_path / "m.png", slice(5, 20))
    manifest = tmp_path / "m.yaml"
    case = " - {{id: {0}, image: p.png, instruction: {1}, mask: m.png, steps: 1}}\n"
    manifest.write_text("cases:\n" + case.format("a", "hi") + case.format("b", "hi"))
    out = tmp_path / "o"
    res = _run(manifest, out, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "case a: new: edited" in res.stdout and "would edit 2, rescore 0, skip 0" in res.stdout
    assert not out.exists() and "TINY RANDOM" not in res.output
    assert _run(manifest, out).exit_code == 0
    before = _tree(out)
    manifest.write_text("cases:\n" + case.format("a", "hi") + case.format("b", "make it red"))
    res = _run(manifest, out, "--dry-run", "--threshold", "30")
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())
    assert "case a: scored otherwise: scored again from its folder, not edited" in said
    assert "case b: its case, inputs or models changed: edited again" in said
    assert "would edit 1, rescore 1, skip 0 finished, 0 cannot run" in said
    assert _tree(out) == before
    res = _run(manifest, out, "--threshold", "30")
    assert "2 done (1 redone" in " ".join(res.stdout.split()) and "1 rescored" in res.stdout
    assert "would edit 0, rescore 0, skip 2 finished" in " ".join(
        _run(manifest, out, "--dry-run", "--threshold", "30").stdout.split()
    )


def test_a_new_turns_case_run_with_force_is_made(tmp_path):
    """--force on a multi-turn case that has no folder yet (a first run, or a new case) edits
    it as a new one: there are no old turns to keep aside."""
    _photo(tmp_path / "p.png")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "cases:\n - {id: walk, image: p.png, steps: 1, turns: [{instruction: hi, point: [5, 5]}]}\n"
    )
    out = tmp_path / "o"
    res = _run(manifest, out, "--force")
    assert res.exit_code == 0 and "1 done" in res.stdout, res.output
    assert (out / "walk" / "history.json").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".maskedit.lock"]


def test_old_turns_whose_move_aside_is_cut_short_all_stay(tmp_path, monkeypatch):
    """A move aside cut short (a subfolder that cannot be moved) puts back what it moved and
    removes nothing: the old turns stay whole in their folder, nothing is left beside it."""
    from maskedit import run_folder

    folder = tmp_path / "walk"
    (folder / "turns" / "t01").mkdir(parents=True)
    (folder / "turns" / "t01" / "output.png").write_bytes(b"t01")
    for name in ("history.json", "original.png", "strip.png"):
        (folder / name).write_text(name)
    before = _tree(folder)
    replace = os.replace

    def refuse_turns(src, dst):
        if Path(src).name == "turns":
            raise PermissionError(13, "Permission denied")
        replace(src, dst)

    monkeypatch.setattr(run_folder.os, "replace", refuse_turns)
    with pytest.raises(OutputError, match="permission denied"):
        with run_folder.old_turns_kept(folder):
            pass
    monkeypatch.setattr(run_folder.os, "replace", replace)
    assert _tree(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["walk"]
