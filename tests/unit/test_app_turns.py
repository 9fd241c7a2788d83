"""The editing page's turns and region layers without a browser: "keep editing" makes a result
the next turn (the library's `TurnsEdit`), undo / redo / go to a turn, the history's zip, and
several region layers in one edit (`maskedit.edit_regions`)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from maskedit.app.history import (
    OVERLAP_NOTE,
    add_layer,
    layer_choices,
    layers_html,
    remove_layer,
)
from maskedit.errors import InputError
from maskedit.images import read_image, read_mask, write_png

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CAT_CLICK = (451, 361)  # canvas pixel of the cat's face: chelsea is shown ×2


@pytest.fixture(scope="module")
def events(tiny_models, tmp_path_factory):
    from maskedit.app.events import PageEvents

    return PageEvents(tiny_models, tmp_path_factory.mktemp("turns"))


def _box(hw, y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros(hw, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _mask_region(events, image, mask, tmp_path, name):
    path = tmp_path / f"{name}.png"
    write_png(path, mask.astype(np.uint8) * 255)
    return events.mask_file(image, str(path))


def _run(events, image, history, region, instruction, methods=("pixel",), seeds="1", **kw):
    job = events.check_any_run(
        kw.get("layers", ()),
        image,
        history,
        region,
        instruction,
        list(methods),
        0,
        0,
        seeds,
        1,
        7.5,
        1.5,
    )
    return events.run(job, [], kw.get("session", "t"))


def test_keep_editing_makes_turns_and_outside_every_mask_is_the_photo(events, tmp_path):
    photo, display, history, _ = events.sample("skimage:chelsea")
    history, region = events.click(photo, display, history, "include", CAT_CLICK)
    first = _run(events, photo, history, region, "make it red", ("pixel", "latent"), "3, 4")

    # Keep the latent output of seed 4: the turn's output is that very picture.
    pick = next(i for i, o in enumerate(first.outputs) if "latent" in o.methods and o.seed == 4)
    image, _, history, region, turns, layers = events.keep(first, pick, None, "t")
    assert np.array_equal(image, first.outputs[pick].image)
    assert history == () and region is None and layers == ()
    view = events.history_view(turns)
    assert [c for _, c in view.thumbnails] == ["photo", "turn 1: make it red"]

    # Turn 2 edits turn 1's output inside a box of its own.
    _, region2 = _mask_region(events, image, _box(photo.shape[:2], 10, 60, 20, 120), tmp_path, "b")
    second = _run(events, image, (), region2, "add a hat")
    assert np.array_equal(second.original, image)
    head, *_ = events.keep(second, 0, turns, "t")
    view = events.history_view(turns)
    assert [c for _, c in view.thumbnails][1:] == ["turn 1: make it red", "turn 2: add a hat"]

    # Outside the union of both turns' masks, the head is the photo bit for bit.
    from maskedit.turns import TurnsEdit

    edit = TurnsEdit.open(turns)
    union = edit.union(edit.path())
    assert union.any() and not union.all()
    assert np.array_equal(head[~union], photo[~union])
    assert not np.array_equal(head, photo)
    record = json.loads((edit.turn_dir(edit.head) / "record.json").read_text())
    assert record["turn"]["depth"] == 2 and record["instruction"] == "add a hat"
    assert record["methods"] == {"pixel": "blended.png"}

    # Undo, redo, and a thumbnail: the canvas follows head.
    assert np.array_equal(events.turn_undo(turns)[0], image)
    assert len(events.history_view(turns).thumbnails) == 2
    assert np.array_equal(events.turn_redo(turns)[0], head)
    assert len(events.history_view(turns).thumbnails) == 3
    with pytest.raises(InputError, match="redo: nothing undone"):
        events.turn_redo(turns)
    assert np.array_equal(events.turn_goto(turns, 0)[0], photo)
    with pytest.raises(InputError, match="undo: the history is at the photo"):
        events.turn_undo(turns)

    # The zip holds the history, every turn's folder and the strip.
    archive = events.download_history(turns, "t")
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
    root = edit.folder.name
    assert {f"{root}/history.json", f"{root}/strip.png"} <= names
    for turn_id in ("t01", "t02"):
        assert f"{root}/turns/{turn_id}/record.json" in names
        assert f"{root}/turns/{turn_id}/blended.png" in names

    # Unzipped elsewhere, with the page's folder gone, the history works on its own: it names
    # its masks relative to itself, never by the server's paths.
    from maskedit.turns import reproduce_turn

    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
        texts = "".join(z.read(n).decode() for n in names if n.endswith(".json"))
    assert str(events.root) not in texts and str(edit.folder) not in texts
    unzipped = tmp_path / "unzipped" / root
    away = edit.folder.with_name(f"{root}-away")
    edit.folder.rename(away)
    try:
        for turn_id in ("t01", "t02"):
            again = reproduce_turn(unzipped / "turns" / turn_id, events.models)
            shown = read_image(unzipped / "turns" / turn_id / "blended.png")
            assert np.abs(again.blended.astype(int) - shown.astype(int)).max() <= 2
        moved = TurnsEdit.open(unzipped)
        moved.goto("t02")  # the page left head at the photo
        moved.undo(2)
        moved.redo(2)
        assert moved.union(moved.path()).sum() == union.sum()
    finally:
        away.rename(edit.folder)


def test_a_result_kept_from_an_earlier_turn_starts_a_branch(events, tmp_path):
    photo, display, history, _ = events.sample("skimage:astronaut")
    box = _box(photo.shape[:2], 50, 150, 50, 150)
    _, region = _mask_region(events, photo, box, tmp_path, "a")
    run = _run(events, photo, (), region, "one", session="b")
    image, *_, turns, _ = events.keep(run, 0, None, "b")
    run2 = _run(events, image, (), region, "two", session="b")
    events.keep(run2, 0, turns, "b")
    events.turn_goto(turns, 1)  # back to turn 1: the next kept result is a branch
    run3 = _run(events, image, (), region, "three", session="b")
    events.keep(run3, 0, turns, "b")
    from maskedit.turns import TurnsEdit

    edit = TurnsEdit.open(turns)
    assert [n.id for n in edit.path()] == ["t01", "t03"] and len(edit.nodes) == 3
    assert [n.id for n in edit.children("t01")] == ["t02", "t03"]
    # A run made on another photo than head's cannot be kept into this history.
    with pytest.raises(InputError, match="another photo"):
        events.keep(run, 0, turns, "b")
    with pytest.raises(InputError, match="pick one of the run's results"):
        events.keep(run3, 9, turns, "b")
    with pytest.raises(InputError, match="run an edit first"):
        events.keep(None, 0, turns, "b")


def test_region_layers_are_added_listed_removed_and_checked(tmp_path):
    mask = _box((20, 30), 2, 8, 2, 8)
    layers = add_layer((), tmp_path, mask, " make it red ", "SAM, 1 include")
    layers = add_layer(layers, tmp_path, _box((20, 30), 5, 15, 5, 15), "<b>blue</b>")
    assert [la.instruction for la in layers] == ["make it red", "<b>blue</b>"]
    assert np.array_equal(read_mask(layers[0].mask_file) > 0, mask)
    page = layers_html(layers)
    assert "&lt;b&gt;blue" in page and "<b>blue" not in page and OVERLAP_NOTE in page
    assert layer_choices(layers) == [("1. make it red", "1"), ("2. <b>blue</b>", "2")]
    assert remove_layer(layers, "1") == layers[1:]
    with pytest.raises(InputError, match="pick the layer"):
        remove_layer(layers, None)
    with pytest.raises(InputError, match="instruction is empty"):
        add_layer(layers, tmp_path, mask, "  ")
    with pytest.raises(InputError, match="no mask yet"):
        add_layer(layers, tmp_path, np.zeros((20, 30), bool), "x")
    with pytest.raises(InputError, match="another photo"):
        add_layer(layers, tmp_path, np.ones((10, 10), bool), "x")


def test_two_region_layers_run_in_one_edit_and_the_record_lists_both(events, tmp_path):
    photo, *_ = events.sample("skimage:chelsea")
    hw = photo.shape[:2]
    _, r1 = _mask_region(events, photo, _box(hw, 20, 120, 20, 200), tmp_path, "l1")
    _, r2 = _mask_region(events, photo, _box(hw, 100, 200, 150, 300), tmp_path, "l2")
    layers = events.add_layer(photo, r1, "make it red", (), "l")
    layers = events.add_layer(photo, r2, "make it blue", layers, "l")
    with pytest.raises(InputError, match="region layers: made on another photo"):
        other, *_ = events.sample("skimage:astronaut")
        _run(events, other, (), None, "", layers=layers, session="l")
    run = _run(events, photo, (), None, "ignored", ("pixel", "latent"), layers=layers, session="l")
    record = json.loads((run.folders[0] / "record.json").read_text())
    assert [r["instruction"] for r in record["regions"]] == ["make it red", "make it blue"]
    assert record["overlaps"][0]["regions"] == [1, 2] and record["overlaps"][0]["kept"] == 2
    assert [la["instruction"] for la in record["app"]["layers"]] == ["make it red", "make it blue"]
    assert run.instruction == "make it red; make it blue" and not run.baselines
    union = _box(hw, 20, 120, 20, 200) | _box(hw, 100, 200, 150, 300)
    for out in run.outputs:
        assert np.array_equal(out.image[~union], photo[~union])

    # Kept: one turn with both regions, its output the very picture shown.
    pick = next(i for i, o in enumerate(run.outputs) if "latent" in o.methods)
    image, *_, turns, layers_after = events.keep(run, pick, None, "l")
    assert layers_after == ()
    from maskedit.turns import TurnsEdit

    edit = TurnsEdit.open(turns)
    assert len(edit.node(edit.head).turn.regions) == 2
    assert np.abs(image.astype(int) - run.outputs[pick].image.astype(int)).max() <= 2
    for region in edit.node(edit.head).turn.regions:  # the turn's masks live in its folder
        assert region.prompts.mask.parent.parent == edit.folder


def test_keeping_a_result_writes_the_picture_shown_without_editing_again(
    events, tmp_path, monkeypatch
):
    """The kept turn is the run's own result (that method's output, its settings naming that
    method): no second edit, so the history holds exactly the picture the user chose."""
    import maskedit.turns
    from maskedit.turns import TurnsEdit

    photo, display, history, _ = events.sample("skimage:motorcycle_left")
    _, region = _mask_region(events, photo, _box(photo.shape[:2], 40, 200, 60, 300), tmp_path, "c")
    run = _run(events, photo, (), region, "make it blue", ("pixel", "latent"), session="k")
    pick = next(i for i, o in enumerate(run.outputs) if "latent" in o.methods)

    def no_edit(*args, **kwargs):
        raise AssertionError("keep edited the turn again")

    monkeypatch.setattr(maskedit.turns, "run_turn", no_edit)
    image, *_, turns, _ = events.keep(run, pick, None, "k")
    assert np.array_equal(image, run.outputs[pick].image)
    edit = TurnsEdit.open(turns)
    folder = edit.turn_dir(edit.head)
    record = json.loads((folder / "record.json").read_text())
    assert record["methods"] == {"latent": "blended.png"}
    assert record["settings"]["methods"] == ["latent"]
    assert record["turn"]["spec"]["regions"][0]["settings"]["methods"] == ["latent"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {row["method"] for row in metrics["rows"]} == {"baseline", "latent"}

    # The library refuses a result made on another image than head's.
    result, extra = run.made[run.outputs[pick].seed]
    with pytest.raises(InputError, match="another image"):
        edit.add(edit.nodes[edit.head].turn, events.models, made=(result, extra))
