"""Hostile manifests: bounded YAML (size, depth, alias expansion), values of the wrong type, and
case ids that would collide with the run's own files — each one `InputError` line."""

from __future__ import annotations

from pathlib import Path

import pytest

import maskedit.config.yaml_doc as config  # where the bounds are read
from maskedit.config import RUN_FOLDER_FILES, load_manifest
from maskedit.errors import InputError

CASE = "{id: a, image: p.png, instruction: hi, point: [1, 2]}"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


def _refused(tmp_path: Path, text: str, words: str) -> str:
    with pytest.raises(InputError, match=words) as err:
        load_manifest(_write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message and "m.yaml" in message and len(message) < 600
    return message


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    """"Billion laughs": 9 levels of 9 aliases each are 9^9 values once expanded."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "".join(f"{level}\n" for level in levels)  # refused before the unknown keys are seen
    _refused(tmp_path, bomb + "cases: *l9\n", "expands to more than 1,000,000 values")
    _refused(tmp_path, "cases: &a [*a]\n", "refers to a value that contains it")
    # a merge-key bomb: each level merges the one below twice
    merges = "a0: &a0 {x: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: [*a{i - 1}, *a{i - 1}]}}\n" for i in range(1, 30)
    )
    _refused(tmp_path, merges + "cases: [*a29]\n", "expands to more than")


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path, opening):
    closing = "]" if opening == "[" else "}"
    _refused(tmp_path, "cases: " + opening * 5000 + "1" + closing * 5000, "nested|not valid YAML")
    _refused(tmp_path, "cases: " + "[" * 65 + "]" * 65, "nested more than 64 levels")


def test_a_huge_manifest_is_refused_by_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MAX_MANIFEST_BYTES", 1000)
    _refused(tmp_path, "cases:\n" + f" - {CASE}\n" * 40, "is over the limit of 1,000")


def test_the_python_yaml_parser_is_bounded_too(tmp_path, monkeypatch):
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    _refused(tmp_path, "cases: " + "[" * 5000 + "]" * 5000, "nested more than 64 levels")
    _refused(tmp_path, "cases: &a [*a]\n", "refers to a value that contains it")


@pytest.mark.parametrize(
    "case, words",
    [
        ("{id: a, image: p.png, instruction: , point: [1, 2]}", "instruction is empty"),
        ("{id: a, image: p.png, instruction: null, point: [1, 2]}", "instruction is empty"),
        ("{id: a, image: p.png, instruction: [make, red], point: [1, 2]}", "instruction: expected text, got a list"),
        ("{id: a, image: p.png, instruction: {a: 1}, point: [1, 2]}", "instruction: expected text, got a mapping"),
        ("{id: [a], image: p.png, instruction: hi, point: [1, 2]}", "id: expected a name"),
        ("{id: a, image: [p.png], instruction: hi, point: [1, 2]}", "image: expected a file path"),
        ("{id: a, image: p.png, instruction: hi, mask: {a: 1}}", "mask: expected a file path"),
        ("{id: a, image: p.png, instruction: hi, point: [1, 2], target: [x]}", "target"),
        ("{id: a, image: p.png, instruction: hi, point: [1, 2], text_cfg: .inf}", "text_cfg.*finite"),
        ("{id: a, image: p.png, instruction: hi, point: [.nan, 2]}", "finite"),
        ("{id: a, image: p.png, instruction: hi, point: [1, 2], blend_start: 0.8, blend_end: 0.2}", "blend_start 0.8 is after blend_end 0.2"),
        ("{id: \"a\\nb\", image: p.png, instruction: hi, point: [1, 2]}", "id"),
        ("{id: a, image: p.png, instruction: hi, point: [1, 2], \"x\\ny\": 1}", "unknown key 'x\\\\ny'"),
    ],
)
def test_values_of_the_wrong_type_are_refused(tmp_path, case, words):
    _refused(tmp_path, f"cases:\n - {case}\n", words)


@pytest.mark.parametrize("setting", ["steps: yes", "seed: no", "dilate: true", "text_cfg: on", "feather: off"])
def test_a_yaml_boolean_is_not_a_number(tmp_path, setting):
    """`steps: yes` is refused, not run as 1 step (nor `seed: no` as seed 0)."""
    key = setting.split(":")[0]
    _refused(tmp_path, f"cases:\n - {{id: a, image: p.png, instruction: hi, point: [1, 2], {setting}}}\n", f"{key}: expected a number, got the boolean")
    _refused(tmp_path, f"defaults: {{{setting}}}\ncases:\n - {{id: a, image: p.png, instruction: hi, point: [1, 2]}}\n", f"{key}: expected a number")


@pytest.mark.parametrize("region, field", [("box: [no, no, yes, yes]", "box"), ("point: [yes, no]", "points"),
                                           ("points: [[3, 3, yes]]", "points")])
def test_a_yaml_boolean_is_not_a_coordinate_or_a_label(tmp_path, region, field):
    """`box: [no, no, yes, yes]` is refused, not run as the box [0, 0, 1, 1]."""
    _refused(tmp_path, f"cases:\n - {{id: a, image: p.png, instruction: hi, {region}}}\n",
             f"{field}: expected numbers, got the boolean")


def test_a_key_written_twice_is_refused_and_a_merge_key_is_not(tmp_path):
    """`{id: a, id: b}` would run as case b without a word; YAML's `<<` merge then a key of
    its own is how shared settings are meant to be overridden."""
    _refused(tmp_path, "cases:\n - {id: a, image: p.png, instruction: hi, id: b, point: [1, 2]}\n",
             "key 'id' twice \\(line 2\\)")
    _refused(tmp_path, "defaults: {steps: 2}\ndefaults: {steps: 3}\ncases: []\n", "key 'defaults' twice")
    text = ("base: &b {image: p.png, instruction: hi, point: [1, 2], steps: 2}\n"
            "cases:\n - {<<: *b, id: a, steps: 3}\n")
    from maskedit.config.yaml_doc import read_yaml

    doc = read_yaml(_write(tmp_path, text), "m.yaml: ")
    assert doc["cases"][0]["steps"] == 3 and doc["cases"][0]["image"] == "p.png"


def test_yaml_1_1_surprises_keep_what_was_written(tmp_path):
    text = (
        "cases:\n"
        " - {id: yes, image: p.png, instruction: on, point: [1, 2]}\n"
        " - {id: 010, image: p.png, instruction: 1e3, point: [1, 2]}\n"
        " - {id: 7, image: 0x10, instruction: no, point: [1, 2]}\n"
    )
    cases = load_manifest(_write(tmp_path, text)).cases
    assert [(c.id, c.instruction) for c in cases] == [("yes", "on"), ("010", "1e3"), ("7", "no")]
    assert cases[2].image == str(tmp_path / "0x10")


@pytest.mark.parametrize("name", [*RUN_FOLDER_FILES, "Summary.CSV"])
def test_case_ids_may_not_take_the_runs_own_file_names(tmp_path, name):
    _refused(tmp_path, f"cases:\n - {{id: {name}, image: p.png, instruction: hi, point: [1, 2]}}\n",
             "is the name of a file the run writes")


def test_the_reserved_names_are_the_files_the_run_writes():
    from maskedit.app.study import DB_NAME
    from maskedit.report.html import REPORT_FILE
    from maskedit.run_log import RUN_LOG
    from maskedit.tables import RESULTS_FILE, SUMMARY_FILE

    assert {RESULTS_FILE, SUMMARY_FILE, REPORT_FILE, RUN_LOG, DB_NAME} == set(RUN_FOLDER_FILES)


def test_ten_thousand_sample_cases_validate_quickly(tmp_path):
    """Validating a large manifest of bundled samples decodes each sample once, not per case."""
    from maskedit import images
    from maskedit.preflight import check_case

    text = "cases:\n" + "".join(
        f" - {{id: c{i}, image: 'skimage:astronaut', instruction: hi, point: [5, 5]}}\n"
        for i in range(2000)
    )
    calls = {"n": 0}
    real = images.sample_image

    def counting(name):
        calls["n"] += 1
        return real(name)

    images._sample_size.cache_clear()
    import unittest.mock

    with unittest.mock.patch.object(images, "sample_image", counting):
        for case in load_manifest(_write(tmp_path, text)).cases:
            check_case(case)
    assert calls["n"] <= 1


def test_manifest_paths_no_file_system_takes_are_one_line(tmp_path):
    import os

    os.symlink(tmp_path / "a.yaml", tmp_path / "b.yaml")
    os.symlink(tmp_path / "b.yaml", tmp_path / "a.yaml")
    for path, words in [
        (tmp_path / "a.yaml", "a symbolic link loop"),
        (tmp_path / "m\0.yaml", "contains a NUL byte"),
        (tmp_path / ("x" * 300 + ".yaml"), "has a name of 305 bytes"),
        (tmp_path, "not a file"),
    ]:
        with pytest.raises(InputError, match=words) as err:
            load_manifest(path)
        assert "\n" not in str(err.value) and "\0" not in str(err.value)
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: loop.png, instruction: hi, point: [1, 2]}\n"
    )
    os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
    with pytest.raises(InputError, match="image 'loop.png': a symbolic link loop|image '.*loop.png': a symbolic link loop"):
        load_manifest(tmp_path / "m.yaml")
