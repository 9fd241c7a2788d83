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
