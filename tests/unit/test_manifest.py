"""Manifests: validated whole before anything runs; errors name the case and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskedit.config import load_manifest
from maskedit.errors import InputError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


def test_demo_manifest_parses_with_defaults_and_relative_paths(tmp_path):
    m = load_manifest(Path(__file__).resolve().parents[2] / "examples" / "demo.yaml")
    assert [c.id for c in m.cases] == ["suit", "cat", "motorcycle"]
    assert [c.settings.seed for c in m.cases] == [1337, 1338, 1339]
    assert all(
        c.settings.steps == 20 and c.settings.image_cfg == 1.5 and c.settings.text_cfg == 7.5
        for c in m.cases
    )
    p = _write(tmp_path, "cases:\n - {id: a, image: photos/x.png, instruction: hi, mask: m.png}\n")
    case = load_manifest(p).cases[0]
    assert case.image == str(tmp_path / "photos/x.png") and case.prompts.mask == tmp_path / "m.png"


def test_point_forms(tmp_path):
    p = _write(
        tmp_path,
        "cases:\n - {id: a, image: x.png, instruction: hi, point: [3, 4]}\n"
        " - {id: b, image: x.png, instruction: hi, points: [[1, 2, 1], [5, 6, 0]]}\n"
        " - {id: c, image: x.png, instruction: hi, box: [0, 0, 5, 5]}\n",
    )
    a, b, c = load_manifest(p).cases
    assert a.prompts.points == [(3, 4, 1)]
    assert b.prompts.points == [(1, 2, 1), (5, 6, 0)]
    assert c.prompts.box == (0, 0, 5, 5)


@pytest.mark.parametrize(
    "text, words",
    [
        ("cases: [ {id: a, image: x.png", "not valid YAML"),
        ("- just a list", "expected a mapping"),
        ("cases: []", "non-empty list"),
        (
            "cases:\n - {id: a, image: x.png, point: [1, 2]}",
            r"case 0 \('a'\): missing required key 'instruction'",
        ),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, pointz: [1, 2]}",
            "unknown key 'pointz' .did you mean 'point'",
        ),
        (
            "defaults: {stepz: 3}\ncases:\n - {id: a, image: x.png, instruction: hi, point: [1, 2]}",
            "did you mean 'steps'",
        ),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, point: [1, 2]}\n - {id: a, image: y.png, instruction: hi, point: [1, 2]}",
            "case 1 .*duplicate case id 'a'",
        ),
        (
            "cases:\n - {id: Cat, image: x.png, instruction: hi, point: [1, 2]}\n - {id: cat, image: y.png, instruction: hi, point: [1, 2]}",
            "case 1 .*case id 'cat' and 'Cat' differ only in case.*one folder on macOS and Windows",
        ),
        (
            "cases:\n - {id: a, image: x.png, instruction: '  ', point: [1, 2]}",
            "instruction is empty",
        ),
        ("cases:\n - {id: a, image: x.png, instruction: hi}", "no region given"),
        ("cases:\n - {id: a, image: x.png, instruction: hi, points: [[1, 2, 5]]}", "label 5"),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, points: [[1, 2, 0]]}",
            "only exclude points .label 0. given: add at least one include point or a box",
        ),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, target: cat, points: [[1, 2, 0]]}",
            "only exclude points .label 0. given to refine a target/mask_from mask: add at least",
        ),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, mask_from: edit, points: [[1, 2, 0]]}",
            "only exclude points .label 0. given to refine",
        ),
        ("cases:\n - {id: a, image: x.png, instruction: hi, box: [5, 0, 1, 5]}", "x1 > x0"),
        (
            "cases:\n - {id: a, image: x.png, instruction: hi, point: [1, 2], mask: m.png}",
            "not both",
        ),
        ("cases:\n - {id: a, image: x.png, instruction: hi, point: [1, 2], steps: 0}", "steps"),
        ("cases:\n - {id: ../evil, image: x.png, instruction: hi, point: [1, 2]}", "id"),
    ],
)
def test_malformed_manifests_fail_with_one_line(tmp_path, text, words):
    with pytest.raises(InputError, match=words) as err:
        load_manifest(_write(tmp_path, text))
    assert "\n" not in str(err.value) and "m.yaml" in str(err.value)
