"""MagicBrush as the Hugging Face copy ships it (parquet rows with encoded images) converts to the
same cases as the released zip's folder of the same turns."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from maskedit.config import load_manifest
from maskedit.datasets.magicbrush import magicbrush_to_manifest, magicbrush_turns_to_manifest
from maskedit.errors import InputError
from maskedit.images import read_image, read_mask

pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

HW = (6, 8)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _sessions() -> dict[str, list[dict]]:
    """Two images' turns as pixels: a white-region mask each (the copy's form); turn k's source
    is turn k−1's target, as in the dataset."""
    rng = np.random.default_rng(3)
    sessions = {}
    for img_id, n in (("242679", 2), ("000123", 1)):
        source = rng.integers(0, 256, (*HW, 3), dtype=np.uint8)
        turns = []
        for k in range(1, n + 1):
            region = np.zeros(HW, bool)
            region[k : k + 2, 2 * k : 2 * k + 3] = True
            target = rng.integers(0, 256, (*HW, 3), dtype=np.uint8)
            turns.append(
                {
                    "source": source,
                    "mask": np.where(region[..., None], 255, 0).astype(np.uint8).repeat(3, 2),
                    "region": region,
                    "target": target,
                    "instruction": f"edit {k} of {img_id}",
                }
            )
            source = target
        sessions[img_id] = turns
    return sessions


def _write_parquet(root, sessions, split="dev", shards=2) -> None:
    """The copy's files: data/<split>-0000i-of-0000n-<hash>.parquet, rows split over shards."""
    rows = [
        {
            "img_id": img_id,
            "turn_index": k,
            "source_img": {"bytes": _png(t["source"]), "path": None},
            "mask_img": {"bytes": _png(t["mask"]), "path": None},
            "instruction": t["instruction"],
            "target_img": {"bytes": _png(t["target"]), "path": None},
        }
        for img_id, turns in sessions.items()
        for k, t in enumerate(turns, start=1)
    ][::-1]  # rows in no particular order
    (root / "data").mkdir(parents=True)
    for i in range(shards):
        table = pa.Table.from_pylist(rows[i::shards])
        pq.write_table(table, root / "data" / f"{split}-{i:05d}-of-{shards:05d}-ab12.parquet")


def test_the_hugging_face_copy_converts_turn_by_turn(tmp_path):
    sessions = _sessions()
    _write_parquet(tmp_path / "MagicBrush", sessions)
    manifest = load_manifest(magicbrush_to_manifest(tmp_path / "MagicBrush", tmp_path / "mb"))
    cases = {c.id: c for c in manifest.cases}
    assert sorted(cases) == ["000123_1", "242679_1", "242679_2"]
    for img_id, turns in sessions.items():
        for k, turn in enumerate(turns, start=1):
            case = cases[f"{img_id}_{k}"]
            assert case.instruction == turn["instruction"]
            np.testing.assert_array_equal(read_image(case.image), turn["source"])
            np.testing.assert_array_equal(read_image(case.ground_truth), turn["target"])
            np.testing.assert_array_equal(read_mask(case.prompts.mask) > 0.5, turn["region"])
            assert case.benchmark.name == "magicbrush"
    # turn 2 edits turn 1's ground truth, named as the released sessions name it
    assert cases["242679_2"].image == cases["242679_1"].ground_truth
    assert cases["242679_1"].image.endswith("images/242679/242679-input.png")


def test_the_hugging_face_copy_converts_to_multi_turn_cases(tmp_path):
    sessions = _sessions()
    _write_parquet(tmp_path / "MagicBrush", sessions, shards=1)
    manifest = magicbrush_turns_to_manifest(tmp_path / "MagicBrush", tmp_path / "mb")
    cases = {c.id: c for c in load_manifest(manifest).cases}
    np.testing.assert_array_equal(read_image(cases["242679"].image), sessions["242679"][0]["source"])
    last = cases["242679"].turns[-1]
    np.testing.assert_array_equal(read_image(last.ground_truth), sessions["242679"][-1]["target"])


def test_another_split_or_a_missing_column_is_one_line(tmp_path):
    _write_parquet(tmp_path / "hf", _sessions(), split="train", shards=1)
    with pytest.raises(InputError, match=r"no dev-\*\.parquet file \(its parquet files are of train\)"):
        magicbrush_to_manifest(tmp_path / "hf", tmp_path / "o")
    assert len(load_manifest(magicbrush_to_manifest(tmp_path / "hf", tmp_path / "t", split="train")).cases) == 3
    (tmp_path / "bad" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"img_id": "1", "turn_index": 1}]), tmp_path / "bad" / "data" / "dev-0.parquet")
    with pytest.raises(InputError, match="no column source_img, mask_img, instruction, target_img"):
        magicbrush_to_manifest(tmp_path / "bad", tmp_path / "o")


def test_unreadable_image_bytes_and_unsafe_ids_are_one_line(tmp_path):
    sessions = _sessions()
    _write_parquet(tmp_path / "hf", {"1": sessions["000123"]}, shards=1)
    table = pq.read_table(tmp_path / "hf" / "data" / "dev-00000-of-00001-ab12.parquet").to_pylist()
    table[0]["mask_img"] = {"bytes": b"not a png", "path": None}
    pq.write_table(pa.Table.from_pylist(table), tmp_path / "hf" / "data" / "dev-00000-of-00001-ab12.parquet")
    with pytest.raises(InputError, match="image '1' turn 1: mask_img: not a readable image"):
        magicbrush_to_manifest(tmp_path / "hf", tmp_path / "o")
    table[0]["img_id"] = "../escape"
    pq.write_table(pa.Table.from_pylist(table), tmp_path / "hf" / "data" / "dev-00000-of-00001-ab12.parquet")
    with pytest.raises(InputError, match="is not usable as a folder name"):
        magicbrush_to_manifest(tmp_path / "hf", tmp_path / "o")
    assert not (tmp_path / "o" / "escape").exists()
