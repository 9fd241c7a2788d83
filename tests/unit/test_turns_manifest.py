"""Manifest cases with `turns:` and `regions:`, and `--turn` text: parsed whole, errors located."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskedit.cli.region_text import parse_turn
from maskedit.config import Case, load_manifest
from maskedit.errors import InputError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


TURNS = """\
defaults: {steps: 3}
cases:
 - id: walk
   image: photo.png
   seed: 5
   turns:
     - {instruction: make the jacket red, point: [3, 4]}
     - {instruction: make it blue, mask: m.png, method: latent,
        captions: {source: a photo, target: a blue photo}, ground_truth: gt.png}
     - seed: 9
       regions:
         - {instruction: one, box: [0, 0, 5, 5]}
         - {instruction: two, target: the sky, steps: 7}
 - id: two
   image: photo.png
   regions:
     - {instruction: make the jacket red, point: [3, 4]}
     - {instruction: make it stormy, target: the sky}
 - {id: plain, image: photo.png, instruction: hi, point: [1, 2]}
"""


def test_turns_and_regions_cases(tmp_path):
    walk, two, plain = load_manifest(_write(tmp_path, TURNS)).cases
    assert len(walk.turns) == 3 and walk.regions == ()
    first, second, third = walk.turns
    assert first.instruction == "make the jacket red" and first.regions[0].prompts.points == [
        (3, 4, 1)
    ]
    assert second.regions[0].prompts.mask == tmp_path / "m.png"
    assert second.regions[0].settings.methods == ("latent",)
    assert second.ground_truth == str((tmp_path / "gt.png").absolute())
    assert second.captions == {"source": "a photo", "target": "a blue photo"}
    assert third.instruction == "one; two"
    # defaults, then the case's keys, then the turn's, then the region's
    settings = [r.settings for r in walk.all_regions]
    assert [s.steps for s in settings] == [3, 3, 3, 7]
    assert [s.seed for s in settings] == [5, 5, 9, 9]
    # the case's own instruction, prompts and settings are its first region's
    assert walk.instruction == "make the jacket red" and walk.prompts == first.regions[0].prompts
    assert walk.image == str(tmp_path / "photo.png")
    assert [r.instruction for r in two.regions] == ["make the jacket red", "make it stormy"]
    assert two.turns == () and two.regions[1].prompts.target == "the sky"
    assert [len(c.all_prompts) for c in (walk, two, plain)] == [4, 2, 1]
    for case in (walk, two, plain):  # what Ray sends to its actors
        assert Case.model_validate_json(case.model_dump_json()) == case


def test_a_multi_turn_case_takes_a_benchmark_tag(tmp_path):
    """The dataset case it is (MagicBrush's iterative setting): it picks the metric networks."""
    text = (
        "cases:\n - {id: a, image: x.png, benchmark: {name: magicbrush, mask_source: annotation,"
        " id: '7'}, turns: [{instruction: hi, point: [1, 2]}]}\n"
    )
    (case,) = load_manifest(_write(tmp_path, text)).cases
    assert (case.benchmark.name, case.benchmark.id) == ("magicbrush", "7")


def test_map_regions_reaches_every_region(tmp_path):
    walk, two, plain = load_manifest(_write(tmp_path, TURNS)).cases

    def louder(region):
        return region.model_copy(update={"instruction": region.instruction + "!"})

    assert [r.instruction for r in walk.map_regions(louder).all_regions] == [
        "make the jacket red!",
        "make it blue!",
        "one!",
        "two!",
    ]
    assert walk.map_regions(louder).instruction == "make the jacket red!"
    assert two.map_regions(louder).regions[1].instruction == "make it stormy!"
    assert plain.map_regions(louder).instruction == "hi!"


@pytest.mark.parametrize(
    "case, words",
    [
        ("{id: a, image: x.png, turns: []}", "'turns' must be a non-empty list"),
        ("{id: a, image: x.png, regions: [], turns: [1]}", "'turns' or 'regions', not both"),
        ("{id: a, turns: [{instruction: hi, point: [1, 2]}]}", "missing required key 'image'"),
        (
            "{id: a, image: x.png, point: [1, 2], turns: [{instruction: hi, point: [1, 2]}]}",
            "'point' belongs in each turn",
        ),
        (
            "{id: a, image: x.png, stepz: 3, turns: [{instruction: hi, point: [1, 2]}]}",
            "unknown key 'stepz' .did you mean 'steps'",
        ),
        (
            "{id: a, image: x.png, turns: [{instruction: hi, point: [1, 2]}, {instruction: hi}]}",
            r"case 0 \('a'\): turn 2: no region given",
        ),
        (
            "{id: a, image: x.png, turns: [{regions: [{instruction: hi, point: [1, 2]},"
            " {instruction: hi, box: [5, 0, 1, 5]}]}]}",
            "turn 1: region 2: box",
        ),
        (
            "{id: a, image: x.png, turns: [{regions: [{instruction: hi, point: [1, 2]}],"
            " instruction: hi}]}",
            "turn 1: 'instruction' belongs in each region",
        ),
        (
            "{id: a, image: x.png, regions: [{instruction: hi, point: [1, 2], image: y.png}]}",
            "region 1: 'image' is not a key of a region",
        ),
        (
            "{id: a, image: x.png, turns: [{instruction: hi, point: [1, 2], ground_truth: 3}]}",
            "turn 1: ground_truth: expected an image file",
        ),
        (
            "{id: a, image: x.png, turns: [{instruction: hi, point: [1, 2],"
            " ground_truth: ../gt.png}]}",
            "ground_truth '.*' is outside the manifest's folder",
        ),
        ("{id: a, image: x.png, turns: [hello]}", "turn 1: expected a mapping"),
        (
            "{id: a, image: x.png, benchmark: {name: nope, mask_source: annotation},"
            " turns: [{instruction: hi, point: [1, 2]}]}",
            "benchmark.name: Input should be",
        ),
        (
            "{id: a, image: x.png, turns: [{instruction: hi, point: [1, 2],"
            " benchmark: {name: magicbrush, mask_source: annotation}}]}",
            "turn 1: 'benchmark' is not a key of a region",
        ),
    ],
)
def test_bad_turns_are_one_clear_line(tmp_path, case, words):
    import re

    with pytest.raises(InputError) as err:
        load_manifest(_write(tmp_path, f"cases:\n - {case}\n"))
    assert re.search(words, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


def test_turn_text():
    assert parse_turn("point=420,310; make the jacket red") == {
        "points": [[420.0, 310.0, 1]],
        "instruction": "make the jacket red",
    }
    raw = parse_turn("point=1,2; point=3,4,0 ;box=0,0,5,5; steps=4; methods=pixel,latent; hi")
    assert raw["points"] == [[1.0, 2.0, 1], [3.0, 4.0, 0]] and raw["box"] == [0, 0, 5, 5]
    assert raw["steps"] == 4 and raw["methods"] == "pixel,latent" and raw["instruction"] == "hi"
    assert parse_turn("target=the sky; make it = stormy")["instruction"] == "make it = stormy"
    assert parse_turn("mask-from=edit; feather=2.5; x")["mask_from"] == "edit"
    assert Path(parse_turn("mask=m.png; x")["mask"]).is_absolute()


@pytest.mark.parametrize(
    "text, words",
    [
        ("colour=red; make it red", "unknown key 'colour'"),
        ("point=1,2", "expected one instruction .* got 0"),
        ("point=1,2; make it red; and blue", "got 2"),
        ("point=1; hi", "expected X,Y"),
        ("box=0,0,5,5; box=1,1,6,6; hi", "box= given twice"),
        ("method=pixel; methods=crop; hi", "methods= given twice"),
        ("mask=a.png; mask=b.png; hi", "mask= given twice"),
        ("mask=; hi", "mask= has no value"),
    ],
)
def test_bad_turn_text(text, words):
    import re

    with pytest.raises(Exception) as err:
        parse_turn(text)
    assert re.search(words, str(err.value)), str(err.value)


@pytest.mark.parametrize(
    "text, words",
    [
        ("image: photo.png\nturns: " + "[" * 5000 + "]" * 5000, "nested|not valid YAML"),
        ("image: photo.png\nturns: " + "[" * 65 + "]" * 65, "nested more than 64 levels"),
        ("image: photo.png\nturns: " + "{a: " * 5000 + "1" + "}" * 5000, "nested|not valid YAML"),
        (
            "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
            + "image: photo.png\nturns: *l9\n",
            "expands to more than 1,000,000 values",
        ),
        ("image: photo.png\nturns: &a [*a]\n", "refers to a value that contains it"),
        ("image: photo.png\nturns: [a\n", "not valid YAML"),
    ],
)
def test_a_turns_file_is_read_within_the_manifests_bounds(tmp_path, text, words):
    """A turns file is read as a manifest is: deep nesting and alias bombs are one line."""
    import re

    from maskedit.cli.turns import read_turns_file

    path = tmp_path / "walk.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_turns_file(path, allow_outside=False, methods=None)
    message = str(err.value)
    assert message.startswith(f"turns file '{path}': ") and re.search(words, message), message
    assert "\n" not in message and len(message) < 600


def test_a_turns_file_keeps_text_as_written_and_is_bounded_in_size(tmp_path, monkeypatch):
    """`instruction: yes` is the instruction "yes", as in a manifest; and the size limit holds."""
    import maskedit.config.yaml_doc as yaml_doc
    from maskedit.cli.turns import read_turns_file

    path = tmp_path / "walk.yaml"
    path.write_text("image: photo.png\nturns: [{instruction: yes, point: [1, 2]}]\n")
    case = read_turns_file(path, allow_outside=False, methods=None)
    assert case.turns[0].instruction == "yes"
    monkeypatch.setattr(yaml_doc, "MAX_MANIFEST_BYTES", 20)
    with pytest.raises(InputError, match="is over the limit of 20"):
        read_turns_file(path, allow_outside=False, methods=None)
