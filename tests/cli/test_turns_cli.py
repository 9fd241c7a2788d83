"""`maskedit turns` and manifests with turns, end to end with tiny models."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
TINY = ["--models", "tiny", "--steps", "2"]


def _photo(root: Path) -> Path:
    y, x = np.mgrid[0:60, 0:90]
    Image.fromarray(np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)).save(root / "photo.png")
    for k in range(3):
        mask = np.zeros((60, 90), np.uint8)
        mask[5 + 18 * k : 18 + 18 * k, 10:40] = 255
        Image.fromarray(mask).save(root / f"m{k}.png")
    return root / "photo.png"


def _turns(*args: str):
    return runner.invoke(app, ["turns", *args])


def _head(out: Path) -> str:
    return json.loads((out / "record.json").read_text())["turns"]["head"]


def test_turns_undo_redo_and_a_branch_from_the_command_line(tmp_path):
    photo = _photo(tmp_path)
    out = tmp_path / "walk"
    res = _turns(
        str(photo),
        "--out",
        str(out),
        "--turn",
        f"mask={tmp_path / 'm0.png'}; make it red",
        "--turn",
        f"mask={tmp_path / 'm1.png'}; seed=7; make it blue",
        *TINY,
    )
    assert res.exit_code == 0, res.output
    assert "turn t01: make it red" in res.stdout and "head: t02 (photo → t01 → t02)" in res.stdout
    assert sorted(p.name for p in (out / "turns").iterdir()) == ["t01", "t02"]
    t02 = json.loads((out / "turns" / "t02" / "record.json").read_text())
    assert t02["seed"] == 7 and t02["settings"]["steps"] == 2 and t02["turn"]["parent"] == "t01"
    photo_px = np.asarray(Image.open(photo))
    union = np.asarray(Image.open(out / "mask.png")) > 0
    final = np.asarray(Image.open(out / "blended.png"))
    assert np.array_equal(final[~union], photo_px[~union])
    before = (out / "blended.png").read_bytes()

    res = _turns("--out", str(out), "--undo", "1")  # no models: only head moves
    assert res.exit_code == 0 and _head(out) == "t01" and "loading" not in res.output
    res = _turns("--out", str(out), "--redo", "1")
    assert res.exit_code == 0 and _head(out) == "t02"
    assert (out / "blended.png").read_bytes() == before

    res = _turns("--out", str(out), "--from", "t01", "--turn", "box=50,5,85,40; add a kite", *TINY)
    assert res.exit_code == 0, res.output
    assert "head: t03 (photo → t01 → t03)" in res.stdout
    history = json.loads((out / "history.json").read_text())
    assert [(t["id"], t["parent"]) for t in history["turns"]] == [
        ("t01", None),
        ("t02", "t01"),
        ("t03", "t01"),
    ]
    res = _turns("--out", str(out), "--from", "t02")
    assert res.exit_code == 0 and (out / "blended.png").read_bytes() == before


def test_the_files_said_written_are_those_in_the_folder(tmp_path):
    """At head a turn, the line names the edit's files; undone back to the photo, only the photo
    and the strip are there, and the line says so (it named grid, blended and record too)."""
    photo, out = _photo(tmp_path), tmp_path / "walk"
    res = _turns(str(photo), "--out", str(out), "--turn", "point=5,5; make it red", *TINY)
    assert res.exit_code == 0, res.output
    said = re.search(r"wrote .*?/ \((.*?);", " ".join(res.stdout.split())).group(1).split(", ")
    assert set(said) <= {p.name for p in out.iterdir()} and "record.json" in said
    res = _turns("--out", str(out), "--undo", "1")
    assert res.exit_code == 0, res.output
    said = re.search(r"wrote .*?/ \((.*?);", " ".join(res.stdout.split())).group(1).split(", ")
    assert said == ["original.png", "strip.png"]
    assert not (out / "record.json").exists() and (out / "strip.png").is_file()


def test_a_turns_file_runs_from_the_photo_and_resumes(tmp_path):
    _photo(tmp_path)
    (tmp_path / "walk.yaml").write_text(
        "image: photo.png\nsteps: 2\nmethods: [pixel, latent]\nturns:\n"
        " - {instruction: make it red, mask: m0.png}\n"
        " - {instruction: make it blue, mask: m1.png, seed: 3}\n"
        " - regions:\n"
        "    - {instruction: make it gold, mask: m2.png}\n"
    )
    out = tmp_path / "out"
    res = _turns(str(tmp_path / "walk.yaml"), "--out", str(out), "--models", "tiny")
    assert res.exit_code == 0, res.output
    assert _head(out) == "t03" and (out / "blended_latent.png").is_file()
    res = _turns(str(tmp_path / "walk.yaml"), "--out", str(out), "--models", "tiny")
    assert res.exit_code == 0 and res.stdout.count("(made before: kept)") == 3
    res = _turns(
        str(tmp_path / "walk.yaml"), "--out", str(out), "--models", "tiny", "--methods", "crop"
    )
    assert res.exit_code == 0 and "(made before" not in res.stdout  # other methods: new turns
    assert json.loads((out / "record.json").read_text())["method"] == "crop"
    assert len(json.loads((out / "history.json").read_text())["turns"]) == 6


def test_the_same_turn_flags_again_resume_and_never_edit_twice(tmp_path):
    """With the photo, --turn lists the sequence from the photo: after an interrupt (here: the
    first turn alone) the same command again takes that turn again and makes the rest."""
    photo, out = _photo(tmp_path), tmp_path / "walk"
    first, second = f"mask={tmp_path / 'm0.png'}; make it red", "box=50,5,85,40; add a kite"
    assert _turns(str(photo), "--out", str(out), "--turn", first, *TINY).exit_code == 0
    res = _turns(str(photo), "--out", str(out), "--turn", first, "--turn", second, *TINY)
    assert res.exit_code == 0 and res.stdout.count("(made before: kept)") == 1, res.output
    res = _turns(str(photo), "--out", str(out), "--turn", first, "--turn", second, *TINY)
    assert res.stdout.count("(made before: kept)") == 2
    history = json.loads((out / "history.json").read_text())
    assert [t["parent"] for t in history["turns"]] == [None, "t01"] and _head(out) == "t02"
    res = _turns("--out", str(out), "--turn", first, *TINY)  # no photo: on from head
    assert res.exit_code == 0 and "made before" not in res.stdout and _head(out) == "t03"
    doc = json.loads((out / "history.json").read_text())
    for node in doc["turns"]:  # a history from before turns' files were hashed
        del node["inputs"]
    (out / "history.json").write_text(json.dumps(doc))
    res = _turns(str(photo), "--out", str(out), "--turn", first, "--turn", second, *TINY)
    assert res.stdout.count("(made before: kept)") == 2, res.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["{photo}", "--turn", "colour=red; hi"], "--turn 'colour=red; hi': unknown key 'colour'"),
        (["{photo}", "--turn", "point=1,2"], "expected one instruction"),
        (["{photo}", "--turn", "point=200,2; hi"], r"point \(200, 2\) is outside the image"),
        (["{photo}", "--turn", "point=1,2; a", "--region", "point=1,2; b"], "not both"),
        (["--turn", "point=1,2; hi"], "holds no turns yet"),
        (["{photo}", "--undo", "1"], r"undo 1: head is 0 turn"),
        (["{file}", "--undo", "1"], "a turns file runs its turns from the photo"),
        (["{dir}/none.yaml"], "turns file '.*none.yaml': file not found"),
        (["{dir}/bad.yaml"], r"turns file .*: turn 1: unknown key 'pont'"),
        (["{dir}/deep.yaml"], r"turns file .*deep.yaml': (nested|not valid YAML)"),
        (["{photo}", "--baseline-chain"], "--baseline-chain: give the turns to chain"),
    ],
)
def test_bad_turns_input_is_one_line(tmp_path, args, words):
    photo = _photo(tmp_path)
    (tmp_path / "walk.yaml").write_text(
        "image: photo.png\nturns: [{instruction: hi, mask: m0.png}]"
    )
    (tmp_path / "bad.yaml").write_text("image: photo.png\nturns: [{instruction: hi, pont: [1, 2]}]")
    (tmp_path / "deep.yaml").write_text("image: photo.png\nturns: " + "[" * 5000 + "]" * 5000)
    args = [a.format(photo=photo, file=tmp_path / "walk.yaml", dir=tmp_path) for a in args]
    res = _turns(*args, "--out", str(tmp_path / "o"), *TINY)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error:"), res.stderr
    assert re.search(words, lines[0]), lines[0]


def test_another_photo_in_a_turns_folder_is_refused(tmp_path):
    photo = _photo(tmp_path)
    out = tmp_path / "walk"
    assert (
        _turns(str(photo), "--out", str(out), "--turn", "box=1,1,20,20; hi", *TINY).exit_code == 0
    )
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((60, 90, 3), np.uint8)).save(other)
    res = _turns(str(other), "--out", str(out), "--turn", "box=1,1,20,20; hi", *TINY)
    assert res.exit_code == 2 and "holds the turns of another photo" in res.stderr
    res = _turns(str(other), "--out", str(out), "--turn", "box=1,1,20,20; hi", "--force", *TINY)
    assert res.exit_code == 0 and _head(out) == "t01"
    assert len(json.loads((out / "history.json").read_text())["turns"]) == 1


def _manifest(root: Path) -> Path:
    _photo(root)
    (root / "m.yaml").write_text(
        "defaults: {steps: 2}\ncases:\n"
        " - {id: plain1, image: photo.png, instruction: make it red, mask: m0.png}\n"
        " - id: walk\n"
        "   image: photo.png\n"
        "   turns:\n"
        "     - {instruction: make it red, mask: m0.png}\n"
        "     - {instruction: make it blue, box: [50, 5, 85, 40]}\n"
        " - {id: plain2, image: photo.png, instruction: make it blue, mask: m1.png}\n"
    )
    return root / "m.yaml"


def test_a_manifest_with_a_turns_case_runs_resumes_and_reports(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(out), "--models", "tiny", "--clip", "none"]
    res = runner.invoke(app, [*args, "--batch-size", "2"])
    assert res.exit_code == 0, res.output
    assert "3 done, 0 already finished" in res.stdout
    assert (out / "walk" / "turns" / "t02" / "record.json").is_file()
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    walk = [r for r in rows if r["case_id"] == "walk"]
    assert {r["method"] for r in walk} == {"baseline", "pixel"}
    assert all(r["turns"] == 2 for r in walk)
    plain = json.loads((out / "plain1" / "record.json").read_text())
    assert plain["batch"] == {"baseline": 2}  # the plain cases still share their calls
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "0 done, 3 already finished" in res.stdout
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert "case-walk" in (out / "report.html").read_text()


def test_baseline_chain_flag_chains_the_plain_editor_and_resumes_without_editing(tmp_path):
    photo, out = _photo(tmp_path), tmp_path / "walk"
    turns = ["--turn", f"mask={tmp_path / 'm0.png'}; make it red"]
    turns += ["--turn", f"mask={tmp_path / 'm1.png'}; make it blue"]
    res = _turns(str(photo), "--out", str(out), *turns, "--baseline-chain", *TINY)
    assert res.exit_code == 0, res.output
    for turn_id in ("t01", "t02"):
        assert (out / "turns" / turn_id / "baseline_chain.png").is_file()
    assert (out / "baseline_chain.png").is_file()
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["baseline", "pixel", "baseline_chain"]
    res = _turns(str(photo), "--out", str(out), *turns, "--baseline-chain", *TINY)
    assert res.stdout.count("(made before: kept)") == 2, res.output
    res = _turns(str(photo), "--out", str(out), *turns, *TINY)  # off: other turns, no chain
    assert res.exit_code == 0 and "made before" not in res.stdout and _head(out) == "t04"
    assert not (out / "turns" / "t04" / "baseline_chain.png").exists()
    assert not (out / "baseline_chain.png").exists()
    # on again, continuing from head (t04, made without it): the turns up to head get the chain
    # (t03's is its baseline; t04's one edit), and the new turn continues it
    more = ["--turn", f"mask={tmp_path / 'm0.png'}; make it green"]
    res = _turns("--out", str(out), *more, "--baseline-chain", *TINY)
    assert res.exit_code == 0, res.output
    assert "no chain image" not in res.stderr
    t03 = out / "turns" / "t03"
    assert (t03 / "baseline_chain.png").read_bytes() == (t03 / "baseline.png").read_bytes()
    for turn_id in ("t04", "t05"):
        assert (out / "turns" / turn_id / "baseline_chain.png").is_file(), turn_id
        rows = json.loads((out / "turns" / turn_id / "metrics.json").read_text())["rows"]
        assert "baseline_chain" in [r["method"] for r in rows]
    assert (out / "baseline_chain.png").is_file()


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"instruction": "hi", "mask": "m0.png", "baseline_chain": True}, "only a case with turns"),
        ({"regions": [{"instruction": "hi", "mask": "m0.png"}], "baseline_chain": True}, "only a"),
        ({"turns": [{"instruction": "hi", "mask": "m0.png", "baseline_chain": True}]}, "only a"),
        ({"turns": [{"instruction": "hi", "mask": "m0.png"}], "baseline_chain": "yes"}, "true or"),
    ],
)
def test_baseline_chain_belongs_to_a_case_with_turns(tmp_path, raw, words):
    from maskedit.config import case_from_dict
    from maskedit.errors import InputError

    _photo(tmp_path)
    with pytest.raises(InputError, match=f"^case 1: (turn 1: )?baseline_chain: .*{words}") as err:
        case_from_dict({"id": "c", "image": "photo.png", **raw}, tmp_path, "case 1: ")
    assert "\n" not in str(err.value)


def test_toggling_baseline_chain_in_a_manifest_redoes_the_turns_case(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(out), "--models", "tiny", "--clip", "none"]
    assert runner.invoke(app, args).exit_code == 0
    text = manifest.read_text().replace("   turns:\n", "   baseline_chain: true\n   turns:\n")
    manifest.write_text(text)
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "1 done (1 redone" in res.stdout, res.output
    assert "2 already finished" in res.stdout
    assert (out / "walk" / "baseline_chain.png").is_file()
    walk = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["method"] for r in walk if r["case_id"] == "walk"} == {
        "baseline",
        "pixel",
        "baseline_chain",
    }


def test_a_refused_move_leaves_head_where_it_was(tmp_path):
    """`--from t01 --undo 5` (a move, then one too far): one line, and head has not moved."""
    photo = _photo(tmp_path)
    out = tmp_path / "walk"
    res = _turns(str(photo), "--out", str(out), "--turn", "box=1,1,20,20; hi", *TINY)
    assert res.exit_code == 0, res.output
    assert _turns("--out", str(out), "--undo", "1").exit_code == 0

    def head() -> str | None:
        return json.loads((out / "history.json").read_text())["head"]

    assert head() is None
    for moves, words in (
        (["--from", "t01", "--undo", "5"], "undo 5: head is 1 turn(s)"),
        (["--from", "t01", "--redo", "1"], "redo 1: 0 turn(s) to redo"),
    ):
        res = _turns("--out", str(out), *moves)
        assert res.exit_code == 2 and words in res.stderr, res.output
        assert head() is None, moves
    assert json.loads((out / "history.json").read_text())["redo"] == ["t01"]
    res = _turns("--out", str(out), "--turn", "box=2,2,20,20; hi", "--force", *TINY)
    assert res.exit_code == 2 and "--force starts its turns again from the photo" in res.stderr
    # everything undone: the folder is still maskedit's, and --force starts it again
    res = _turns(str(photo), "--out", str(out), "--turn", "box=2,2,20,20; hi", "--force", *TINY)
    assert res.exit_code == 0, res.output
    assert _head(out) == "t01" and len(json.loads((out / "history.json").read_text())["turns"]) == 1


def _files(folder: Path) -> dict:
    """Every file under `folder` (hidden ones too): its bytes and when it was last written."""
    return {
        p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize(
    "moves, words",
    [
        (["--undo", "1"], "undo 1: head is 0 turn(s) from the photo"),
        (["--redo", "1"], "redo 1: 0 turn(s) to redo"),
        (["--from", "t01"], "turn 't01': no such turn"),
        (["--from", "t01", "--turn", "box=1,1,20,20; hi"], "turn 't01': no such turn"),
    ],
)
def test_a_refused_move_leaves_nothing_behind(one_turn, tmp_path, moves, words):
    """A move a new history cannot make is refused before anything is made: no folder, no
    history, no lock; an empty --out stays empty, and --force over finished turns removes none."""
    photo = one_turn / "photo.png"
    walk, empty = tmp_path / "walk", tmp_path / "empty"
    shutil.copytree(one_turn / "walk", walk)
    empty.mkdir()
    before = _files(walk)
    for out, extra in ((tmp_path / "new" / "walk", []), (empty, []), (walk, ["--force"])):
        res = _turns(str(photo), "--out", str(out), *moves, *extra, *TINY)
        assert res.exit_code == 2, (out, res.output)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and words in lines[0], res.stderr
    assert not (tmp_path / "new").exists() and list(empty.iterdir()) == []
    assert _files(walk) == before
    res = _turns("--out", str(walk), "--from", "t01", "--undo", "2")  # refused on an old one too
    assert res.exit_code == 2 and "undo 2: head is 1 turn(s)" in res.stderr, res.output
    assert _files(walk) == before
    other = tmp_path / "other.png"  # the new folder is free for another photo
    Image.fromarray(np.zeros((60, 90, 3), np.uint8)).save(other)
    assert _turns(str(other), "--out", str(tmp_path / "new" / "walk")).exit_code == 0


def test_force_never_removes_a_users_file_inside_turns(one_turn, tmp_path):
    """`turns --force` over finished turns whose turns/ or a turn's folder holds the user's file:
    refused with one line naming it, before anything is removed."""
    walk = tmp_path / "walk"
    shutil.copytree(one_turn / "walk", walk)
    for note in ("turns/t01/notes.txt", "turns/notes.txt"):
        (walk / note).write_text("mine")
        before = _files(walk)
        res = _turns(
            str(one_turn / "photo.png"),
            "--out",
            str(walk),
            "--turn",
            "box=2,2,20,20; hi",
            "--force",
            *TINY,
        )
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and f"'{note}'" in lines[0], res.stderr
        assert "nothing was touched" in lines[0] and _files(walk) == before
        (walk / note).unlink()


def test_force_removes_nothing_while_another_command_writes_there(tmp_path):
    """`turns --force` on a folder another maskedit command holds: refused by the lock before
    anything is removed (the other command's turns, and its lock, stay)."""
    import fcntl

    photo = _photo(tmp_path)
    out = tmp_path / "walk"
    assert _turns(str(photo), "--out", str(out), "--turn", "box=1,1,20,20; hi", *TINY).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with open(out / ".maskedit.lock", "a+") as held:  # another process's lock, as the kernel sees it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = _turns(str(photo), "--out", str(out), "--turn", "box=2,2,20,20; hi", "--force", *TINY)
    assert res.exit_code == 2 and "another maskedit run is writing there" in res.stderr, res.output
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.fixture(scope="module")
def one_turn(tmp_path_factory) -> Path:
    """A folder with the photo and `walk/`, a turns folder holding one turn (t01)."""
    root = tmp_path_factory.mktemp("one_turn")
    photo = _photo(root)
    res = _turns(str(photo), "--out", str(root / "walk"), "--turn", "box=1,1,20,20; hi", *TINY)
    assert res.exit_code == 0, res.output
    return root


def _damage(doc: dict, **fields) -> str:
    return json.dumps(doc | fields)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda doc: "[" * 100_000, "not valid JSON: maximum recursion depth"),
        (lambda doc: "\0" * 8, "not valid JSON"),
        (lambda doc: "[]", "expected a JSON object, got a list"),
        (lambda doc: _damage(doc, head=["t01"]), "head: expected a turn id or null, got a list"),
        (lambda doc: _damage(doc, head="t09"), "head: no turn 't09'"),
        (lambda doc: _damage(doc, redo="t01"), "redo: expected a list of turn ids, got a str"),
        (lambda doc: _damage(doc, redo=["t01", 1]), "redo: expected a list of turn ids"),
        (lambda doc: _damage(doc, turns={"t01": 1}), "turns: expected a list, got a dict"),
        (lambda doc: _damage(doc, edit=None), "edit: expected text, got a NoneType"),
        (lambda doc: _damage(doc, turns=[doc["turns"][0] | {"id": 1}]), r"turns\[0\].id"),
        (
            lambda doc: _damage(doc, turns=[doc["turns"][0] | {"parent": "t01"}]),
            r"turns\[0\].parent: 't01' is not a turn listed before it",
        ),
        (lambda doc: _damage(doc, turns=[doc["turns"][0], doc["turns"][0]]), "'t01' twice"),
        (lambda doc: _damage(doc, turns=[doc["turns"][0] | {"models": []}]), "models: expected"),
        (lambda doc: _damage(doc, benchmark="pie"), "benchmark: expected a mapping or null"),
    ],
)
def test_a_damaged_history_is_one_line_and_left_as_it_is(one_turn, tmp_path, damage, words):
    """history.json cut, nested 100,000 deep, or with a field of the wrong type: one line naming
    the file, exit 2, and the file not rewritten."""
    photo, out = one_turn / "photo.png", tmp_path / "walk"
    shutil.copytree(one_turn / "walk", out)
    (out / "history.json").write_text(damage(json.loads((out / "history.json").read_text())))
    before = (out / "history.json").read_bytes()
    for args in ([], ["--undo", "1"], [str(photo), "--turn", "box=1,1,20,20; hi", *TINY]):
        res = _turns("--out", str(out), *args)
        assert res.exit_code == 2, (args, res.output)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith(f"maskedit: error: '{out / 'history.json'}': not a turns history")
        assert re.search(words, lines[0]), lines[0]
        assert (out / "history.json").read_bytes() == before


@pytest.mark.parametrize("there", ["new", "empty"])
def test_turns_that_fail_before_their_first_turn_leave_nothing(tmp_path, monkeypatch, there):
    """No weights (or a first edit that fails): a new --out is not left holding a history of
    the photo, which would refuse the next photo; an empty one is left empty."""
    import importlib

    from maskedit.errors import MissingWeightsError

    turns_cli = importlib.import_module("maskedit.cli.turns")  # the package names its command so

    def no_weights(options):
        raise MissingWeightsError("editor 'timbrooks/instruct-pix2pix': not in the cache")

    monkeypatch.setattr(turns_cli, "load", no_weights)
    photo, out = _photo(tmp_path), tmp_path / "walk"
    if there == "empty":
        out.mkdir()
    res = _turns(str(photo), "--out", str(out), "--turn", "point=5,5; hi", "--models", "tiny")
    assert res.exit_code == 2 and "not in the cache" in res.stderr, res.output
    assert (not out.exists()) if there == "new" else (list(out.iterdir()) == [])
    monkeypatch.undo()
    other = tmp_path / "other.png"
    Image.fromarray(255 - np.asarray(Image.open(photo))).save(other)
    res = _turns(str(other), "--out", str(out), "--turn", "point=5,5; hi", "--models", "tiny", "--steps", "1")
    assert res.exit_code == 0, res.output  # another photo may start there


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failure", ["no weights", "first edit fails"])
def test_force_that_makes_no_turn_keeps_the_old_turns(tmp_path, monkeypatch, failure):
    """`turns --force` starts again from the photo, but the old turns stay until a new one is
    made: with no weights, or a first turn that fails while it runs, the folder is as it was
    (never neither the old turns nor a new one), and nothing is left beside it."""
    import importlib

    from maskedit.errors import MissingWeightsError

    photo, out = _photo(tmp_path), tmp_path / "walk"
    assert _turns(str(photo), "--out", str(out), "--turn", "point=5,5; make it red", *TINY).exit_code == 0
    before = _tree(out)
    turn = "point=5,5; make it blue"
    if failure == "no weights":
        turns_cli = importlib.import_module("maskedit.cli.turns")

        def no_weights(options):
            raise MissingWeightsError("editor 'timbrooks/instruct-pix2pix': not in the cache")

        monkeypatch.setattr(turns_cli, "load", no_weights)
    else:  # masked guidance needs image guidance >= 1: refused when the turn runs
        turn = "point=5,5; method=guidance; image_cfg=0.5; make it blue"
    res = _turns(str(photo), "--out", str(out), "--force", "--turn", turn, *TINY)
    assert res.exit_code in (2, 3) and "Traceback" not in res.output, res.output
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.png", "m1.png", "m2.png", "photo.png", "walk"]
    monkeypatch.undo()
    res = _turns(str(photo), "--out", str(out), "--force", "--turn", "point=5,5; make it blue", *TINY)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "history.json").read_text())["turns"][0]["turn"]["regions"][0]["instruction"] == "make it blue"
    assert len(json.loads((out / "history.json").read_text())["turns"]) == 1


def test_a_moved_turns_folder_resumes_and_names_no_old_path(tmp_path):
    """A mask kept in the folder's masks/ is named relative to the folder: after `mv walk
    walk2` (the old place removed) the same command on walk2 takes every turn again."""
    photo = _photo(tmp_path)
    out = tmp_path / "old" / "walk"
    first = f"mask={tmp_path / 'm0.png'}; make it red"
    assert _turns(str(photo), "--out", str(out), "--turn", first, *TINY).exit_code == 0
    (out / "masks").mkdir()
    shutil.copyfile(tmp_path / "m1.png", out / "masks" / "hat.png")
    second = "mask={}; seed=7; add a hat"
    res = _turns(str(photo), "--out", str(out), "--turn", first, "--turn",
                 second.format(out / "masks" / "hat.png"), *TINY)  # fmt: skip
    assert res.exit_code == 0, res.output
    moved = tmp_path / "walk2"
    shutil.move(out, moved)
    shutil.rmtree(tmp_path / "old")
    texts = "".join(p.read_text() for p in moved.rglob("*.json"))
    assert str(tmp_path / "old") not in texts

    res = _turns("--out", str(moved), "--undo", "1")
    assert res.exit_code == 0 and _head(moved) == "t01"
    res = _turns(str(photo), "--out", str(moved), "--turn", first, "--turn",
                 second.format(moved / "masks" / "hat.png"), *TINY)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stdout.count("(made before: kept)") == 2 and _head(moved) == "t02"
    assert sorted(p.name for p in (moved / "turns").iterdir()) == ["t01", "t02"]


@pytest.mark.parametrize("lost", ["t01/blended.png", "t02/blended.png", "t01/mask.png"])
def test_a_turn_folder_that_lost_a_file_is_edited_again(tmp_path, lost):
    """A finished multi-turn case whose turn folder lost a picture is not finished: the run
    edits that turn and the ones after it again (the old ones stay in the history as a branch),
    a rerun then skips it, and another --threshold rescores instead of stopping on the file."""
    manifest = _manifest(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(out), "--models", "tiny", "--clip", "none"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "walk" / "turns" / lost).unlink()
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1 done (1 redone" in " ".join(res.stdout.split()), res.stdout
    history = json.loads((out / "walk" / "history.json").read_text())
    head = history["head"]
    assert head not in ("t01", "t02")
    path = [head]
    parents = {t["id"]: t["parent"] for t in history["turns"]}
    while parents[path[-1]] is not None:
        path.append(parents[path[-1]])
    assert lost.split("/")[0] not in path and len(path) == 2
    for turn in path:
        assert (out / "walk" / "turns" / turn / Path(lost).name).is_file()
    assert "0 done, 3 already finished" in runner.invoke(app, args).stdout
    res = runner.invoke(app, [*args, "--threshold", "30"])
    assert res.exit_code == 0 and "3 done (3 rescored" in " ".join(res.stdout.split()), res.output
    damaged = lost.split("/")[0]  # off head's path now: left as it is, and said so
    assert f"turn {damaged}: its folder is incomplete ('{Path(lost).name}' is missing" in res.stderr


def test_turns_resumed_under_another_threshold_are_scored_again(tmp_path):
    """A run cut short after its turns were made (the edit's own record.json not yet written),
    resumed with another --threshold: the turns it takes again are scored with that threshold,
    as the edit's own rows are, not left with the first run's scores."""
    manifest = _manifest(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(out), "--models", "tiny", "--clip", "none"]
    assert runner.invoke(app, [*args, "--threshold", "20"]).exit_code == 0
    (out / "walk" / "record.json").unlink()
    res = runner.invoke(app, [*args, "--threshold", "30"])
    assert res.exit_code == 0, res.output
    for metrics in [out / "walk", *(out / "walk" / "turns").iterdir()]:
        rows = json.loads((metrics / "metrics.json").read_text())["rows"]
        assert {row["change_threshold"] for row in rows} == {30.0}, metrics


@pytest.mark.parametrize("cut", ["t01/blended.png", "t02/blended.png", "t01/mask.png"])
def test_a_turn_picture_that_does_not_read_back_is_edited_again_when_rescoring(tmp_path, cut):
    """A turn's picture cut short (not empty, so its folder looks whole): another --threshold
    cannot score it, so that turn and the ones after it are edited again rather than the case
    failing on every rerun; a later rescoring leaves the cut turn, now off head's path, as it
    is, and says so."""
    manifest = _manifest(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(manifest), "--out", str(out), "--models", "tiny", "--clip", "none"]
    assert runner.invoke(app, args).exit_code == 0
    picture = out / "walk" / "turns" / cut
    picture.write_bytes(picture.read_bytes()[:60])
    res = runner.invoke(app, [*args, "--threshold", "30"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())
    assert "3 done (1 redone" in said and "2 rescored" in said, said
    history = json.loads((out / "walk" / "history.json").read_text())
    assert history["head"] not in ("t01", "t02")
    assert "0 done, 3 already finished" in runner.invoke(app, [*args, "--threshold", "30"]).stdout
    res = runner.invoke(app, [*args, "--threshold", "40"])
    assert res.exit_code == 0 and "3 done (3 rescored" in " ".join(res.stdout.split()), res.output
    damaged = cut.split("/")[0]
    assert f"turn {damaged}: " in res.stderr and "its scores stay as they were" in res.stderr


def test_the_same_turn_again_is_edited_again_when_its_folder_lost_its_output(tmp_path):
    """`maskedit turns` takes a turn again only from a whole folder: one that lost its output
    is edited again, not read back (which stopped on the missing file)."""
    photo, out = _photo(tmp_path), tmp_path / "walk"
    first, second = f"mask={tmp_path / 'm0.png'}; make it red", "box=50,5,85,40; add a kite"
    assert _turns(str(photo), "--out", str(out), "--turn", first, *TINY).exit_code == 0
    (out / "turns" / "t01" / "blended.png").unlink()
    res = _turns(str(photo), "--out", str(out), "--turn", first, "--turn", second, *TINY)
    assert res.exit_code == 0, res.output
    assert "made before" not in res.stdout and _head(out) == "t03"
    assert (out / "turns" / "t02" / "blended.png").is_file()


def test_a_phrase_turn_is_edited_again_under_another_target_model(tmp_path):
    """A `target=` turn's mask comes from the phrase model: another --target-model edits it
    again; the same one again takes it again; a turn without a phrase does not care."""
    photo, out = _photo(tmp_path), tmp_path / "walk"
    phrase = "target=the red thing; make the red thing blue"
    other = ["--target-model", "someone/clipseg-other"]
    assert _turns(str(photo), "--out", str(out), "--turn", phrase, *TINY).exit_code == 0
    res = _turns(str(photo), "--out", str(out), "--turn", phrase, *TINY, *other)
    assert res.exit_code == 0 and "made before" not in res.stdout and _head(out) == "t02"
    res = _turns(str(photo), "--out", str(out), "--turn", phrase, *TINY, *other)
    assert "(made before: kept)" in res.stdout and _head(out) == "t02"
    boxed, box_out = "box=50,5,85,40; add a kite", tmp_path / "box"
    assert _turns(str(photo), "--out", str(box_out), "--turn", boxed, *TINY).exit_code == 0
    res = _turns(str(photo), "--out", str(box_out), "--turn", boxed, *TINY, *other)
    assert "(made before: kept)" in res.stdout


def test_a_phrase_turn_recorded_before_its_phrase_model_was_kept_is_taken_again(tmp_path):
    """A history written before it kept a phrase turn's --target-model (its models without
    "text_model"): the same command again takes the turn again, so upgrading edits nothing."""
    photo, out = _photo(tmp_path), tmp_path / "walk"
    phrase = "target=the red thing; make the red thing blue"
    other = ["--target-model", "someone/clipseg-other"]
    assert _turns(str(photo), "--out", str(out), "--turn", phrase, *TINY, *other).exit_code == 0
    history = json.loads((out / "history.json").read_text())
    assert history["turns"][0]["models"].pop("text_model") == "someone/clipseg-other"
    (out / "history.json").write_text(json.dumps(history))  # as the earlier version wrote it
    res = _turns(str(photo), "--out", str(out), "--turn", phrase, *TINY, *other)
    assert "(made before: kept)" in res.stdout and _head(out) == "t01", res.output
