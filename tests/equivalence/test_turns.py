"""Multi-turn edits with tiny models: ten turns keep every pixel outside their masks, a turn's
record reproduces it alone, undo and redo give the same bytes, branches keep both sides, and a
crash in turn 5 keeps turns 1–4 and resumes at 5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import maskedit.turns as turns_module
from maskedit.config import case_from_dict
from maskedit.errors import MaskeditWarning
from maskedit.runner import run_case_turns
from maskedit.turns import HISTORY_FILE, TurnsEdit, reproduce_turn

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H, W = 60, 80


@pytest.fixture(scope="module")
def models():
    from maskedit.models import load_models

    return load_models("tiny", text_backends=("clipseg",))


def _photo() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 3, y * 4, (x + y)], axis=-1).astype(np.uint8)
    img[35:50, 50:70] = (250, 40, 40)
    return img


def _ten_turns(root: Path) -> list[dict]:
    """Ten turns, every mask source: mask files, a box, clicks, a phrase and the edit itself."""
    Image.fromarray(_photo()).save(root / "photo.png")
    turns = []
    for k in range(6):
        mask = np.zeros((H, W), np.uint8)
        mask[4 + 8 * (k % 3) : 10 + 8 * (k % 3), 4 + 12 * k : 12 + 12 * k] = 255
        Image.fromarray(mask).save(root / f"m{k}.png")
        turn = {"instruction": f"paint patch {k}", "mask": f"m{k}.png", "seed": k}
        if k == 2:
            turn |= {"feather": 2.0}  # a soft edge too
        turns.append(turn)
    turns += [
        {"instruction": "make the box blue", "box": [50, 35, 70, 50], "multimask": False},
        {"instruction": "make it green", "point": [60, 42], "erode": 2},
        {"instruction": "make the red square gold", "target": "the red square"},
        {"instruction": "add snow", "mask_from": "edit"},
    ]
    return turns


def _case(root: Path):
    raw = {"id": "walk", "image": "photo.png", "steps": 2, "methods": ["pixel", "latent"]}
    return case_from_dict({**raw, "turns": _ten_turns(root)}, root)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".maskedit.lock"
    }


def _without_timings(files: dict[str, bytes]) -> dict[str, object]:
    """The files, with every record.json read and its timings left out (seconds differ)."""
    out: dict[str, object] = dict(files)
    for name, data in files.items():
        if name.endswith("record.json"):
            record = json.loads(data)
            record.pop("timings_s")
            out[name] = record
    return out


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def walked(tmp_path_factory, models):
    """One uninterrupted ten-turn run (methods pixel and latent), shared by the tests."""
    root = tmp_path_factory.mktemp("walk")
    case = _case(root)
    row = run_case_turns(case, models, root / "out")
    assert row["status"] == "ok", row
    return root, case, root / "out" / "walk"


def test_ten_turns_keep_every_pixel_outside_the_union_of_their_masks(walked):
    root, case, folder = walked
    photo = _photo()
    record = json.loads((folder / "record.json").read_text())
    path = record["turns"]["path"]
    assert len(path) == 10 and record["turns"]["head"] == path[-1] == "t10"
    union = np.zeros((H, W), bool)
    previous = photo
    for k, turn_id in enumerate(path, start=1):
        turn_dir = folder / "turns" / turn_id
        turn_record = json.loads((turn_dir / "record.json").read_text())
        assert turn_record["turn"]["depth"] == k
        assert turn_record["turn"]["parent"] == (path[k - 2] if k > 1 else None)
        # each turn edits the last one's primary output, at native resolution
        assert np.array_equal(_png(turn_dir / "original.png"), previous)
        union |= _png(turn_dir / "mask.png") > 0
        for name in ("blended_pixel.png", "blended_latent.png"):
            out = _png(turn_dir / name)
            assert out.shape == photo.shape
            assert np.array_equal(out[~union], photo[~union]), (turn_id, name)
        rows = json.loads((turn_dir / "metrics.json").read_text())["rows"]
        drift = {r["method"]: r["drift_max"] for r in rows}
        assert drift["pixel"] == drift["latent"] == 0 and drift["baseline"] > 0
        assert all(r["turn"] == k and r["turn_id"] == turn_id for r in rows)
        previous = _png(turn_dir / "blended.png")
    assert 0.05 < union.mean() < 0.95, union.mean()  # the check below has pixels on both sides
    for name in ("blended.png", "blended_pixel.png", "blended_latent.png"):
        final = _png(folder / name)
        assert np.array_equal(final[~union], photo[~union]), name
        assert not np.array_equal(final, photo)
    assert np.array_equal(_png(folder / "mask.png") > 0, union)
    assert np.array_equal(_png(folder / "original.png"), photo)
    assert record["mask"]["source"] == "turns" and record["case_id"] == "walk"
    strip = Image.open(folder / "strip.png")
    assert strip.height < 260 and strip.width > 11 * 100  # the photo and ten turns in one row
    rows = json.loads((folder / "metrics.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"baseline", "pixel", "latent"}
    assert all(r["bg_mse"] == 0 for r in rows if r["method"] != "baseline")


def test_a_turns_record_reproduces_it_alone_from_its_parent_image(walked, models):
    _, _, folder = walked
    for turn_id in ("t03", "t08", "t10"):  # a feathered mask file, a click, the edit's own mask
        turn_dir = folder / "turns" / turn_id
        again = reproduce_turn(turn_dir, models)
        for method in ("pixel", "latent"):
            assert np.array_equal(again.outputs[method], _png(turn_dir / f"blended_{method}.png"))
        assert np.array_equal(again.baseline, _png(turn_dir / "baseline.png"))


def test_undo_then_redo_gives_byte_identical_files(walked, tmp_path):
    _, _, folder = walked
    copy = tmp_path / "walk"
    shutil.copytree(folder, copy)
    before = _files(copy)
    session = TurnsEdit.open(copy)
    session.undo(3)
    session.write_summary()
    undone = _files(copy)
    assert json.loads(undone["record.json"])["turns"]["head"] == "t07"
    assert undone["blended.png"] == before["turns/t07/blended.png"]
    assert undone["strip.png"] != before["strip.png"]
    session = TurnsEdit.open(copy)  # as a later command would
    session.redo(2)
    session.write_summary()
    session.redo(1)
    session.write_summary()
    assert _files(copy) == before
    session.undo(10)
    session.write_summary()
    assert not (copy / "record.json").exists() and (copy / "strip.png").is_file()
    with pytest.raises(Exception, match="undo 1: head is 0 turn"):
        session.undo(1)


def test_a_turn_after_an_undo_starts_a_branch_and_the_history_keeps_both(walked, models, tmp_path):
    root, case, folder = walked
    copy = tmp_path / "walk"
    shutil.copytree(folder, copy)
    before = _files(copy)
    session = TurnsEdit.open(copy)
    session.undo(2)
    node, again = session.add(case.turns[0], models)  # turn 1's spec, after turn 8: new
    assert (node.id, node.parent, again) == ("t11", "t08", False)
    assert [n.id for n in session.path()] == [f"t{k:02d}" for k in range(1, 9)] + ["t11"]
    assert session.redo_stack == []  # a new turn ends what could be redone
    session.write_summary()
    branched = _files(copy)
    for old in ("t09", "t10"):  # the other branch is still there, untouched
        assert all(branched[k] == v for k, v in before.items() if k.startswith(f"turns/{old}/"))
    session.goto("t10")  # back to the first branch: its files again
    session.write_summary()
    back = _files(copy)
    same = {k for k in before if k not in (HISTORY_FILE, "record.json")}
    assert {k: back[k] for k in same} == {k: before[k] for k in same}
    old, new = (json.loads(files["record.json"]) for files in (before, back))
    assert old["turns"].pop("made") == 10 and new["turns"].pop("made") == 11  # t11 is kept
    assert old == new
    session.goto("t08")
    node, again = session.add(case.turns[0], models)  # made before from t08: taken again
    assert (node.id, again) == ("t11", True)


def test_a_crash_in_turn_5_keeps_turns_1_to_4_and_resumes_at_5(
    walked, models, tmp_path, monkeypatch
):
    root, case, reference = walked
    out = tmp_path / "out"
    real = turns_module.run_turn
    calls, crashed = [], []

    def crashing(image, turn, models):
        calls.append(turn.instruction)
        if len(calls) == 5 and not crashed:  # once: in turn 5 of the first run
            crashed.append(True)
            raise RuntimeError("power cut")
        return real(image, turn, models)

    monkeypatch.setattr(turns_module, "run_turn", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        run_case_turns(case, models, out)
    folder = out / "walk"
    assert not (folder / "record.json").exists()  # not finished: a run will not skip it
    session = TurnsEdit.open(folder)
    assert [n.id for n in session.path()] == ["t01", "t02", "t03", "t04"]
    for turn_id in ("t01", "t02", "t03", "t04"):
        assert _without_timings(_files(folder / "turns" / turn_id)) == _without_timings(
            _files(reference / "turns" / turn_id)
        )
    assert sorted(p.name for p in (folder / "turns").iterdir()) == ["t01", "t02", "t03", "t04"]

    calls.clear()
    row = run_case_turns(case, models, out)
    assert row["status"] == "ok" and row["turns_taken_again"] == 4
    assert calls == [t.instruction for t in case.turns[4:]]  # resumed at turn 5
    assert _without_timings(_files(folder)) == _without_timings(_files(reference))


def _chain_case(root: Path, chain: bool):
    """Four turns: two mask files, two regions at once (no baseline: the chain stops), a mask."""
    Image.fromarray(_photo()).save(root / "photo.png")
    for k in range(5):
        mask = np.zeros((H, W), np.uint8)
        mask[4 + 10 * (k % 4) : 12 + 10 * (k % 4), 6 + 14 * k : 18 + 14 * k] = 255
        Image.fromarray(mask).save(root / f"c{k}.png")
    turns = [
        {"instruction": "paint patch 0", "mask": "c0.png", "seed": 3},
        {"instruction": "paint patch 1", "mask": "c1.png", "seed": 4},
        {"regions": [{"instruction": "a", "mask": "c2.png"}, {"instruction": "b", "mask": "c3.png"}]},
        {"instruction": "paint patch 4", "mask": "c4.png"},
    ]
    raw = {"id": "chain", "image": "photo.png", "steps": 2, "methods": ["latent"], "turns": turns}
    return case_from_dict(raw | ({"baseline_chain": True} if chain else {}), root)


@pytest.fixture(scope="module")
def chained(tmp_path_factory, models):
    """The four turns run twice: with the plain editor's chain, and without it (the default)."""
    folders = {}
    for chain in (True, False):
        root = tmp_path_factory.mktemp(f"chain{chain}")
        case = _chain_case(root, chain)
        assert case.baseline_chain is chain
        if chain:  # turn 3 has several regions, so no chain image; turn 4 has none to continue
            with pytest.warns(MaskeditWarning) as said:
                assert run_case_turns(case, models, root / "out")["status"] == "ok"
            words = [str(w.message) for w in said if issubclass(w.category, MaskeditWarning)]
            assert any("several regions has no unmasked edit" in w for w in words), words
            assert any("turn 't03' has no chain image" in w for w in words), words
        else:
            assert run_case_turns(case, models, root / "out")["status"] == "ok"
        folders[chain] = (root, case, root / "out" / "chain")
    return folders


def _rows(path: Path) -> dict[str, dict]:
    return {row["method"]: row for row in json.loads(path.read_text())["rows"]}


def test_the_chain_edits_its_own_last_output_unmasked_and_stops_at_several_regions(
    chained, models
):
    from maskedit.case import edit
    from maskedit.turn_scores import drift

    root, case, folder = chained[True]
    turn = [folder / "turns" / f"t0{k}" for k in range(1, 5)]
    chain1 = _png(turn[0] / "baseline_chain.png")
    assert np.array_equal(chain1, _png(turn[0] / "baseline.png"))  # turn 1: the same parent
    spec = case.turns[1].regions[0]
    again = edit(chain1, spec.instruction, models=models, settings=spec.settings, mask=root / "c1.png")
    chain2 = _png(turn[1] / "baseline_chain.png")
    assert np.array_equal(chain2, again.baseline)  # the unmasked edit of turn 1's chain
    assert not np.array_equal(chain2, _png(turn[1] / "baseline.png"))  # not of the masked one
    for k, turn_dir in enumerate(turn, start=1):
        record = json.loads((turn_dir / "record.json").read_text())
        has = k <= 2  # turn 3 has several regions (no baseline), and the chain stops there
        assert (turn_dir / "baseline_chain.png").is_file() is has
        assert (record["outputs"].get("baseline_chain") == "baseline_chain.png") is has
        assert ("baseline_chain" in _rows(turn_dir / "metrics.json")) is has
    union = (_png(turn[0] / "mask.png") > 0) | (_png(turn[1] / "mask.png") > 0)
    row = _rows(turn[1] / "metrics.json")["baseline_chain"]
    assert row["turn"] == 2 and row["turn_id"] == "t02"
    assert row["drift_max"] == drift(chain2, _photo(), union)["drift_max"] > 0
    assert row["drift_mse"] == pytest.approx(drift(chain2, _photo(), union)["drift_mse"])
    assert isinstance(row["iou"], float)  # against its own parent and the turn's mask


def test_the_chain_is_off_by_default_and_changes_no_masked_output(chained):
    _, case, plain = chained[False]
    _, _, folder = chained[True]
    assert case.baseline_chain is False
    assert not list(plain.rglob("baseline_chain.png"))
    assert all("baseline_chain" not in _rows(p) for p in plain.rglob("metrics.json"))
    assert "baseline_chain" not in (plain / HISTORY_FILE).read_text()
    for k in range(1, 5):
        for name in ("blended.png", "mask.png"):
            same = folder / "turns" / f"t0{k}" / name, plain / "turns" / f"t0{k}" / name
            assert same[0].read_bytes() == same[1].read_bytes()


def test_the_edit_folder_scores_the_head_turns_chain_and_eval_rescores_every_turn(
    chained, tmp_path
):
    _, _, folder = chained[True]
    copy = tmp_path / "chain"
    shutil.copytree(folder, copy)
    session = TurnsEdit.open(copy)
    session.goto("t02")
    session.write_summary()
    rows = _rows(copy / "metrics.json")
    chain2 = _png(copy / "turns" / "t02" / "baseline_chain.png")
    assert np.array_equal(_png(copy / "baseline_chain.png"), chain2)
    assert rows["baseline_chain"]["turns"] == 2 and rows["baseline_chain"]["bg_mse"] > 0
    assert rows["latent"]["bg_mse"] == 0
    record = json.loads((copy / "record.json").read_text())
    assert record["outputs"]["baseline_chain"] == "baseline_chain.png"
    written = {p: p.read_bytes() for p in sorted(copy.rglob("metrics.json"))}
    for path in written:
        path.unlink()
    assert session.rescore() == 4
    assert {p: p.read_bytes() for p in sorted(copy.rglob("metrics.json"))} == written
    session.goto("t04")  # no chain at head: no row, no file
    session.write_summary()
    assert "baseline_chain" not in _rows(copy / "metrics.json")
    assert not (copy / "baseline_chain.png").exists()


def test_a_resumed_chain_edits_nothing_and_a_branch_continues_its_parents_chain(
    chained, models, tmp_path, monkeypatch
):
    import maskedit.turn_chain as chain_module
    from maskedit.case import edit

    root, case, folder = chained[True]
    copy = tmp_path / "chain"
    shutil.copytree(folder, copy)
    before = _files(copy / "turns")
    calls = []
    monkeypatch.setattr(turns_module, "run_turn", lambda *a: calls.append("turn"))
    monkeypatch.setattr(chain_module, "edit", lambda *a, **k: calls.append("chain"))
    row = run_case_turns(case, models, tmp_path)
    assert row["status"] == "ok" and row["turns_taken_again"] == 4 and calls == []
    assert _files(copy / "turns") == before
    monkeypatch.undo()

    session = TurnsEdit.open(copy)
    session.goto("t01")
    region = case.turns[1].regions[0]  # turn 2's spec by another seed, on turn 1: a branch
    region = region.model_copy(update={"settings": region.settings.model_copy(update={"seed": 9})})
    branch = case.turns[1].model_copy(update={"regions": (region,)})
    node, again = session.add(branch, models, chain=True)
    assert (node.id, node.parent, again) == ("t05", "t01", False)
    chain1 = _png(copy / "turns" / "t01" / "baseline_chain.png")
    expected = edit(
        chain1, region.instruction, models=models, settings=region.settings, mask=root / "c1.png"
    )
    assert np.array_equal(_png(copy / "turns" / "t05" / "baseline_chain.png"), expected.baseline)


def test_turning_the_chain_on_for_finished_turns_adds_only_the_chain(chained, models, tmp_path,
                                                                     monkeypatch):
    """The case made without the chain, run again with `baseline_chain: true`: no masked turn is
    edited again, the chain costs one editor call (turn 2; turn 1 reuses its baseline, and the
    chain stops at turn 3), and every turn's chain image, record outputs and metrics.json are the
    bytes of the case made with the chain from the start."""
    import maskedit.turn_chain as chain_module

    root, _, plain = chained[False]
    _, with_chain, reference = chained[True]
    copy = tmp_path / "chain"
    shutil.copytree(plain, copy)
    masked = {k: (copy / "turns" / f"t0{k}" / "blended.png").read_bytes() for k in range(1, 5)}
    calls = []
    monkeypatch.setattr(turns_module, "run_turn", lambda *a: calls.append("turn"))
    real_edit = chain_module.edit
    monkeypatch.setattr(chain_module, "edit",
                        lambda *a, **k: calls.append("chain") or real_edit(*a, **k))
    case = _chain_case(root, True)
    row = run_case_turns(case, models, tmp_path)  # its metrics as add_chain leaves them
    assert row["status"] == "ok" and row["turns_taken_again"] == 4 and calls == ["chain"]
    for k in range(1, 5):
        turn_dir, ref_dir = copy / "turns" / f"t0{k}", reference / "turns" / f"t0{k}"
        assert (turn_dir / "blended.png").read_bytes() == masked[k]
        has = (ref_dir / "baseline_chain.png").is_file()
        assert (turn_dir / "baseline_chain.png").is_file() is has is (k <= 2)
        if has:
            assert (turn_dir / "baseline_chain.png").read_bytes() == (
                ref_dir / "baseline_chain.png").read_bytes()
        outputs = [json.loads((d / "record.json").read_text())["outputs"] for d in (turn_dir, ref_dir)]
        assert outputs[0] == outputs[1]
        assert (turn_dir / "metrics.json").read_bytes() == (ref_dir / "metrics.json").read_bytes()
    history = json.loads((copy / HISTORY_FILE).read_text())
    assert [n.get("baseline_chain") for n in history["turns"]] == [True] * 4
    assert (copy / "baseline_chain.png").exists() is False  # head is turn 4: no chain there
    calls.clear()  # a second run: everything is there, nothing is edited
    assert run_case_turns(case, models, tmp_path)["turns_taken_again"] == 4 and calls == []


def _without_chain(chain_folder: Path, copy: Path, keep_flags: bool) -> None:
    """A copy of the chained case as a run cut short, or an older version, left it: no chain
    image, record or row for turn 2 (its flag kept with `keep_flags`)."""
    shutil.copytree(chain_folder, copy)
    t02 = copy / "turns" / "t02"
    (t02 / "baseline_chain.png").unlink()
    record = json.loads((t02 / "record.json").read_text())
    del record["outputs"]["baseline_chain"]
    (t02 / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    doc = json.loads((t02 / "metrics.json").read_text())
    doc["rows"] = [r for r in doc["rows"] if r["method"] != "baseline_chain"]
    (t02 / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n")
    if not keep_flags:
        history = json.loads((copy / HISTORY_FILE).read_text())
        for node in history["turns"][1:]:
            node.pop("baseline_chain", None)
        (copy / HISTORY_FILE).write_text(json.dumps(history, indent=2) + "\n")


@pytest.mark.parametrize("keep_flags", [True, False])
def test_a_chain_cut_short_is_completed_from_the_files(chained, models, tmp_path, keep_flags):
    """Turn 2 flagged as chained but without its image (an older version's history), or not
    flagged (an upgrade cut short): the next run with the chain completes it from the files,
    the same bytes as the case made with the chain at once."""
    root, case, reference = chained[True]
    copy = tmp_path / "chain"
    _without_chain(reference, copy, keep_flags)
    assert run_case_turns(case, models, tmp_path)["turns_taken_again"] == 4
    t02, ref = copy / "turns" / "t02", reference / "turns" / "t02"
    for name in ("baseline_chain.png", "metrics.json"):
        assert (t02 / name).read_bytes() == (ref / name).read_bytes(), name
    assert json.loads((t02 / "record.json").read_text())["outputs"]["baseline_chain"]


def test_the_chain_is_not_added_by_other_models(chained, tmp_path):
    """Turns made by other models (here another working size) get no chain image from these:
    a warning, the chain stops there, and their files are as they were."""
    from maskedit.models import load_models

    _, case, plain = chained[False]
    copy = tmp_path / "chain"
    shutil.copytree(plain, copy)
    made = {k: _files(copy / "turns" / k) for k in ("t01", "t02")}
    session = TurnsEdit.open(copy)
    session.goto("t02")
    other = load_models("tiny", working_size=64, need_sam=False)
    with pytest.warns(MaskeditWarning, match="turn 't01' was made by other models"):
        node, again = session.add(case.turns[3], other, chain=True)
    assert not again and {k: _files(copy / "turns" / k) for k in made} == made
    assert not (copy / "turns" / node.id / "baseline_chain.png").exists()
    assert [n.chain for n in session.path()] == [False, False, True]


def _mask_turn(mask: Path, instruction: str, seed: int):
    from maskedit.config import EditSettings, Prompts, Region, Turn

    settings = EditSettings(steps=2, methods=("pixel", "latent"), seed=seed)
    region = Region(instruction=instruction, prompts=Prompts(mask=mask), settings=settings)
    return Turn(regions=(region,))


def _texts(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.rglob("*.json")))


def test_creating_an_edit_where_one_is_refuses_and_keeps_its_turns(models, tmp_path):
    """`TurnsEdit.create` on a folder that holds an edit (its history, photo or turns) is one
    line, and the edit there is untouched: a new history would orphan its turns and the next
    turns would be written over them."""
    from maskedit.errors import OutputError

    folder = tmp_path / "walk"
    session = TurnsEdit.create(folder, _photo())
    mask = tmp_path / "m.png"
    Image.fromarray(_box_mask(10, 40, 20, 60).astype(np.uint8) * 255).save(mask)
    session.add(_mask_turn(mask, "paint it", 1), models)
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    with pytest.raises(OutputError, match="holds a multi-turn edit already"):
        TurnsEdit.create(folder, _photo()[::-1].copy())
    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before
    assert [n.id for n in TurnsEdit.open(folder).path()] == ["t01"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")  # a folder without an edit: made there
    assert TurnsEdit.create(tmp_path / "mine", _photo()).head is None


def test_a_turns_rows_name_the_clip_model_that_scored_them(models, tmp_path):
    """Every row of a case names its CLIP model (scores of two CLIPs do not compare): a turn's
    rows too, when the turn is made and when `maskedit eval` scores its folder again."""
    from maskedit.scoring import UNNAMED_CLIP, Scorers
    from maskedit.tiny.clip import build_tiny_clip

    mask = tmp_path / "m.png"
    Image.fromarray(_box_mask(10, 40, 20, 60).astype(np.uint8) * 255).save(mask)
    session = TurnsEdit.create(tmp_path / "walk", _photo())
    scorers = Scorers(clip=build_tiny_clip())
    session.add(_mask_turn(mask, "paint it", 1), models, scorers=scorers)
    metrics = tmp_path / "walk" / "turns" / "t01" / "metrics.json"
    made = json.loads(metrics.read_text())["rows"]
    assert made and {row["clip_model"] for row in made} == {UNNAMED_CLIP}
    assert session.rescore(scorers) == 1
    assert json.loads(metrics.read_text())["rows"] == made


def test_a_moved_turns_folder_works_on_its_own(models, tmp_path):
    """A mask inside the folder (as the page keeps its masks) is named relative to it, one from
    outside by its absolute path: after the folder is moved and its old place removed, its turns
    reproduce, undo and redo, and the same turns given again are taken again."""
    from maskedit.app.history import mask_file

    old = tmp_path / "old" / "walk"
    session = TurnsEdit.create(old, _photo())
    inside = mask_file(old, _box_mask(4, 20, 4, 30))  # old/masks/mask-….png
    outside = tmp_path / "user" / "hat.png"
    outside.parent.mkdir()
    Image.fromarray(_box_mask(30, 50, 40, 70).astype(np.uint8) * 255).save(outside)
    first, second = _mask_turn(inside, "paint it", 1), _mask_turn(outside, "add a hat", 2)
    session.add(first, models)
    session.add(second, models)
    made = _files(old)

    new = tmp_path / "elsewhere" / "walk2"
    new.parent.mkdir()
    shutil.move(old, new)
    shutil.rmtree(tmp_path / "old")
    texts = _texts(new)
    assert str(tmp_path / "old") not in texts and "/old/" not in texts
    assert str(outside) in texts  # a user's own file, outside the folder: named as it is
    history = json.loads((new / HISTORY_FILE).read_text())
    assert history["turns"][0]["turn"]["regions"][0]["prompts"]["mask"] == (f"masks/{inside.name}")
    record = json.loads((new / "turns" / "t01" / "record.json").read_text())
    assert record["mask"]["file"] == f"../../masks/{inside.name}"

    for turn_id in ("t01", "t02"):
        again = reproduce_turn(new / "turns" / turn_id, models)
        for method in ("pixel", "latent"):
            blended = _png(new / "turns" / turn_id / f"blended_{method}.png")
            assert np.array_equal(again.outputs[method], blended)
    session = TurnsEdit.open(new)
    assert session.node("t01").turn.regions[0].prompts.mask == new / "masks" / inside.name
    session.undo(2)
    session.redo(2)
    session.goto(None)  # the same turns again, the first with the moved folder's mask: kept
    moved_first = _mask_turn(new / "masks" / inside.name, "paint it", 1)
    assert session.add(moved_first, models)[1] and session.add(second, models)[1]
    assert sorted(p.name for p in (new / "turns").iterdir()) == ["t01", "t02"]
    assert {k: v for k, v in _files(new).items() if k.startswith("turns/")} == {
        k: v for k, v in made.items() if k.startswith("turns/")
    }


def test_a_history_written_with_absolute_paths_is_still_read(models, tmp_path):
    """history.json and records of an older maskedit name every file as given: read as they
    are, the same turn is taken again, and the next save names the folder's files relatively."""
    from maskedit.app.history import mask_file

    folder = tmp_path / "walk"
    session = TurnsEdit.create(folder, _photo())
    inside = mask_file(folder, _box_mask(4, 20, 4, 30))
    turn = _mask_turn(inside, "paint it", 1)
    session.add(turn, models)
    history = json.loads((folder / HISTORY_FILE).read_text())
    history.pop("schema")
    history["turns"][0]["turn"]["regions"][0]["prompts"]["mask"] = str(inside)
    (folder / HISTORY_FILE).write_text(json.dumps(history))
    record_path = folder / "turns" / "t01" / "record.json"
    record = json.loads(record_path.read_text())
    record["turn"].pop("schema")
    record["turn"]["spec"]["regions"][0]["prompts"]["mask"] = str(inside)
    record_path.write_text(json.dumps(record))

    again = reproduce_turn(folder / "turns" / "t01", models)
    assert np.array_equal(
        again.outputs["pixel"], _png(folder / "turns" / "t01" / "blended_pixel.png")
    )
    session = TurnsEdit.open(folder)
    session.goto(None)
    assert session.add(turn, models)[1]  # taken again, not edited again
    saved = json.loads((folder / HISTORY_FILE).read_text())
    assert saved["schema"] == 2
    assert saved["turns"][0]["turn"]["regions"][0]["prompts"]["mask"] == f"masks/{inside.name}"


def _box_mask(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_a_feathered_turn_scores_the_same_when_made_and_when_read_back(models, tmp_path):
    """A feathered edge holds alpha 0.5 exactly, which mask.png stores as 128 (above one half):
    the turn's rows as the run scores them equal those `maskedit eval` scores from its folder."""
    from maskedit.config import EditSettings, Prompts, Region, Turn

    mask = tmp_path / "m.png"
    Image.fromarray(_box_mask(10, 40, 20, 60).astype(np.uint8) * 255).save(mask)
    settings = EditSettings(steps=2, methods=("pixel", "latent"), feather=2.0)
    region = Region(instruction="paint it", prompts=Prompts(mask=mask), settings=settings)
    session = TurnsEdit.create(tmp_path / "walk", _photo())
    session.add(Turn(regions=(region,)), models)
    session.add(_mask_turn(mask, "paint it again", 2), models)
    turns = tmp_path / "walk" / "turns"
    made = {p: _rows(p) for p in sorted(turns.glob("*/metrics.json"))}
    assert len(made) == 2 and np.any(_png(turns / "t01" / "mask.png") == 128)
    assert session.rescore() == 2
    assert {p: _rows(p) for p in sorted(turns.glob("*/metrics.json"))} == made
