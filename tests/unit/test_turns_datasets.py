"""MagicBrush's multi-turn setting: one case per image, its turns with their own ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from run_fixtures import write_magicbrush

from maskedit.config import load_manifest
from maskedit.datasets import read_captions
from maskedit.datasets.magicbrush import magicbrush_turns_to_manifest
from maskedit.errors import InputError
from maskedit.images import read_mask

HW = (6, 8)


def _rgba_mask(region: np.ndarray) -> Image.Image:
    rgba = np.full((*HW, 4), 200, np.uint8)
    rgba[..., 3] = np.where(region, 0, 255)
    return Image.fromarray(rgba, "RGBA")


def _sessions(img_id: str, n: int) -> dict[str, list[dict[str, str]]]:
    turns = []
    for k in range(1, n + 1):
        turns.append(
            {
                "input": f"{img_id}-input.png" if k == 1 else f"{img_id}-output{k - 1}.png",
                "mask": f"{img_id}-mask{k}.png",
                "output": f"{img_id}-output{k}.png",
                "instruction": f"edit {k} of {img_id}",
            }
        )
    return {img_id: turns}


def _regions(img_id: str, n: int) -> dict[str, Image.Image]:
    masks = {}
    for k in range(1, n + 1):
        region = np.zeros(HW, bool)
        region[k - 1, 1 : 3 + k] = True
        masks[f"{img_id}-mask{k}.png"] = _rgba_mask(region)
    return masks


def test_one_multi_turn_case_per_image(tmp_path):
    sessions = _sessions("242679", 3) | _sessions("5", 1)
    masks = _regions("242679", 3) | _regions("5", 1)
    descriptions = {
        "242679": {
            "242679-input.png": "a dog",
            "242679-output1.png": "a dog with a hat",
            "242679-output3.png": "a dog with a red hat and a ball",
        }
    }
    root = write_magicbrush(
        tmp_path / "test", sessions, masks, HW, global_descriptions=descriptions
    )
    (root / "local_descriptions.json").write_text(
        json.dumps({"242679": {"242679-output3.png": "a ball"}})
    )
    path = magicbrush_turns_to_manifest(root, tmp_path / "mb")
    dog, five = load_manifest(path, allow_outside=True).cases
    assert (dog.id, five.id) == ("242679", "5") and len(dog.turns) == 3 and len(five.turns) == 1
    assert dog.baseline_chain and five.baseline_chain  # the protocol: each model on its own output
    # tagged, so that a run loads MagicBrush's networks (DINO) for its turns
    assert dog.benchmark.model_dump() == {
        "name": "magicbrush",
        "mask_source": "annotation",
        "id": "242679",
    }
    folder = root / "images" / "242679"
    assert dog.image == str(folder / "242679-input.png")  # only the first input: iterative
    for k, turn in enumerate(dog.turns, start=1):
        assert turn.instruction == f"edit {k} of 242679"
        assert turn.ground_truth == str(folder / f"242679-output{k}.png")
        mask = read_mask(turn.regions[0].prompts.mask) > 0.5
        assert np.array_equal(mask, np.asarray(masks[f"242679-mask{k}.png"])[..., 3] < 128)
    assert dog.turns[0].captions == {"source": "a dog", "target": "a dog with a hat"}
    assert dog.turns[1].captions == {"source": "a dog with a hat", "target": None}
    assert dog.turns[2].captions["local"] == "a ball"
    assert read_captions(tmp_path / "mb" / "captions.json")["242679"] == {
        "source": "a dog",
        "target": "a dog with a red hat and a ball",
        "local": "a ball",
    }


def test_a_missing_ground_truth_is_named(tmp_path):
    root = write_magicbrush(tmp_path / "test", _sessions("9", 2), _regions("9", 2), HW)
    (root / "images" / "9" / "9-output2.png").unlink()
    with pytest.raises(InputError, match=r"'9' turn 2: ground truth '.*9-output2.png' not found"):
        magicbrush_turns_to_manifest(root, tmp_path / "out")


def test_the_command_line_converts_and_names_bad_folders(tmp_path):
    from typer.testing import CliRunner

    from maskedit.cli import app

    root = write_magicbrush(tmp_path / "test", _sessions("9", 2), _regions("9", 2), HW)
    res = CliRunner().invoke(app, ["convert", "magicbrush-turns", str(root), str(tmp_path / "o")])
    assert res.exit_code == 0 and "wrote 1 case →" in res.stdout, res.output
    (case,) = load_manifest(tmp_path / "o" / "manifest.yaml").cases
    assert [t.instruction for t in case.turns] == ["edit 1 of 9", "edit 2 of 9"]
    res = CliRunner().invoke(app, ["convert", "magicbrush-turns", str(tmp_path), str(tmp_path / "p")])
    assert res.exit_code == 2 and "edit_sessions.json': file not found" in res.stderr
