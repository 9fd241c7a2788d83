"""Benchmark converters on small hand-made PIE-Bench and MagicBrush folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image
from run_fixtures import write_magicbrush, write_pie_bench

from maskedit.config import load_manifest
from maskedit.datasets import click_point, read_captions
from maskedit.datasets.magicbrush import (
    magicbrush_mask,
    magicbrush_to_manifest,
    magicbrush_turns_to_manifest,
)
from maskedit.datasets.pie_bench import pie_bench_to_manifest, pie_mask_decode, pie_phrase
from maskedit.errors import InputError, MaskeditWarning
from maskedit.images import read_image, read_mask

H, W = 4, 6  # 24 pixels, flattened row-major: index = 6 * row + col

# RLE [start, length, ...]: pixels 3..6 (row 0 cols 3-5, row 1 col 0) and 14..15 (row 2, cols 2-3)
RLE = [3, 4, 14, 2]
EXPECTED_NO_BORDER = np.array(
    [
        [0, 0, 0, 1, 1, 1],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ],
    bool,
)
# PIE-Bench also sets the one-pixel border: only the interior (rows 1-2, cols 1-4) keeps the RLE
EXPECTED_PIE = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1],
        [1, 1, 1, 1, 1, 1],
    ],
    bool,
)


def test_pie_mask_decode_by_hand():
    np.testing.assert_array_equal(pie_mask_decode(RLE, (H, W), border=False), EXPECTED_NO_BORDER)
    np.testing.assert_array_equal(pie_mask_decode(RLE, (H, W)), EXPECTED_PIE)


def test_pie_mask_decode_clips_a_run_past_the_end_and_refuses_odd_lists():
    mask = pie_mask_decode([20, 100], (H, W), border=False)
    assert mask.sum() == 4 and mask[3, 2:].all()  # 20..23 = row 3, cols 2-5
    with pytest.raises(InputError, match="pairs"):
        pie_mask_decode([1, 2, 3], (H, W))


def _pie_entries():
    return {
        "000000000000": {
            "image_path": "0_random_140/000000000000.jpg",
            "original_prompt": "a [cat] sitting on a wooden chair",
            "editing_prompt": "a [dog] sitting on a wooden chair",
            "editing_instruction": "Make the cat a dog",
            "editing_type_id": "0",
            "blended_word": "cat dog",
            "mask": RLE,
        },
        "111000000001": {
            "image_path": "1_change_object_80/111000000001.jpg",
            "original_prompt": "a red car",
            "editing_prompt": "a blue car",
            "editing_instruction": "Paint the car blue",
            "editing_type_id": "1",
            "blended_word": "red blue",
            "mask": [],
        },
    }


def test_pie_bench_to_manifest(tmp_path):
    root = write_pie_bench(tmp_path / "PIE-Bench", _pie_entries(), (H, W))
    out = tmp_path / "converted"
    manifest_path = pie_bench_to_manifest(root, out)
    assert manifest_path == out / "manifest.yaml"

    doc = yaml.safe_load(manifest_path.read_text())
    assert doc["root"] == str(root.absolute())  # the dataset folder the cases may read
    assert [c["id"] for c in doc["cases"]] == ["000000000000", "111000000001"]
    assert set(doc["cases"][0]) == {
        "id",
        "image",
        "instruction",
        "mask",
        "captions",
        "reference_mask",
        "benchmark",
    }
    # the runner's own validation passes without --allow-outside-paths: the images stay in the
    # dataset folder, which the manifest declares as its root
    manifest = load_manifest(manifest_path)
    first, second = manifest.cases
    assert first.instruction == "Make the cat a dog"
    assert first.image == str(root / "annotation_images/0_random_140/000000000000.jpg")
    # the editing mask is the annotation alone; the reference it is scored against adds
    # PIE-Bench's one-pixel border, as its evaluation decodes it
    np.testing.assert_array_equal(read_mask(first.prompts.mask) > 0.5, EXPECTED_NO_BORDER)
    np.testing.assert_array_equal(read_mask(first.reference_mask) > 0.5, EXPECTED_PIE)
    np.testing.assert_array_equal(read_mask(second.prompts.mask) > 0.5, np.zeros((H, W), bool))
    np.testing.assert_array_equal(
        read_mask(second.reference_mask) > 0.5, pie_mask_decode([], (H, W))
    )
    assert first.benchmark.model_dump() == {
        "name": "pie-bench",
        "mask_source": "annotation",
        "id": "000000000000",
    }

    captions = read_captions(out / "captions.json")
    assert captions["000000000000"] == {
        "source": "a cat sitting on a wooden chair",  # PIE-Bench's [ ] removed
        "target": "a dog sitting on a wooden chair",
    }
    assert captions["111000000001"] == {"source": "a red car", "target": "a blue car"}
    assert first.captions == captions["000000000000"]  # also in the case itself


def test_pie_bench_editing_mask_shapes_the_object_not_the_frame(tmp_path):
    """With the scoring border in the editing mask, --largest-only kept the ring around the image
    and --fill-holes filled the whole frame; the annotation alone keeps its object."""
    from maskedit.masks.shape import shape_mask

    hw = (12, 12)
    obj = np.zeros(hw, bool)
    obj[4:8, 4:8] = True
    rle = [int(i) for r in range(4, 8) for i in (r * 12 + 4, 4)]
    entries = {"0": {**_pie_entries()["000000000000"], "mask": rle}}
    root = write_pie_bench(tmp_path / "pie", entries, hw)
    case = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    mask = read_mask(case.prompts.mask) > 0.5
    np.testing.assert_array_equal(mask, obj)
    assert (shape_mask(mask, largest_only=True) > 0.5).sum() == 16
    assert (shape_mask(mask, fill_holes=True) > 0.5).sum() == 16


def test_click_point_is_the_interior_pixel_farthest_from_the_edge():
    square = np.zeros((9, 12), bool)
    # 5 rows x 7 columns: on the middle row (y 4), x 5, 6 and 7 are all 3 px from the edge (the
    # rows above and below are the nearest outside pixels); the first of the tie is clicked
    square[2:7, 3:10] = True
    assert click_point(square) == (5, 4)
    full = np.ones((5, 5), bool)  # the image's border counts as the edge
    assert click_point(full) == (2, 2)
    ring = np.zeros((11, 11), bool)
    ring[1:10, 1:10] = True
    ring[4:7, 4:7] = False  # a hole: the click stays on the ring
    x, y = click_point(ring)
    assert ring[y, x]
    assert click_point(np.zeros((3, 3), bool)) is None


def test_every_mask_source_keeps_the_annotation_as_reference(tmp_path):
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (8, 8))
    out = tmp_path / "out"
    with pytest.warns(MaskeditWarning, match="111000000001.*empty.*click"):
        path = pie_bench_to_manifest(root, out, mask_source="annotation,click,phrase,relevance")
    cases = {c.id: c for c in load_manifest(path).cases}
    # one case per source and image; the empty annotation has no click
    assert sorted(cases) == [
        "000000000000-annotation",
        "000000000000-click",
        "000000000000-phrase",
        "000000000000-relevance",
        "111000000001-annotation",
        "111000000001-phrase",
        "111000000001-relevance",
    ]
    for case_id, case in cases.items():
        image_id, source = case_id.split("-")
        assert case.reference_mask == out / "references" / f"{image_id}.png"
        assert case.benchmark.mask_source == source and case.benchmark.id == image_id
    annotation = read_mask(out / "masks/000000000000.png") > 0.5
    assert cases["000000000000-annotation"].prompts.mask == out / "masks/000000000000.png"
    ((x, y, label),) = cases["000000000000-click"].prompts.points
    assert annotation[int(y), int(x)] and label == 1
    assert (x, y) == click_point(annotation)
    phrase = cases["000000000000-phrase"].prompts
    assert (phrase.target, phrase.target_backend, phrase.mask) == ("cat", "clipseg", None)
    relevance = cases["000000000000-relevance"].prompts
    assert (relevance.mask_from, relevance.mask, relevance.points) == ("edit", None, [])


def test_phrase_is_blended_words_first_word_or_the_instructions_target():
    assert pie_phrase("cat dog") == "cat"
    assert pie_phrase("") == pie_phrase(None) == "auto"


def test_bad_mask_source_and_backend_are_one_line(tmp_path):
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    with pytest.raises(InputError, match="--mask-source 'scribble'.*annotation, click"):
        pie_bench_to_manifest(root, tmp_path / "o", mask_source="scribble")
    with pytest.raises(InputError, match="--target-backend 'sam'"):
        pie_bench_to_manifest(root, tmp_path / "o", mask_source="phrase", target_backend="sam")


def test_pie_bench_image_path_written_with_backslashes_is_found(tmp_path):
    """A mapping file saved on Windows names its images with backslashes: each is the file
    that path names under annotation_images/."""
    entries = _pie_entries()
    entries["000000000000"]["image_path"] = "0_random_140\\000000000000.jpg"
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    (root / "mapping_file.json").write_text(json.dumps(entries))
    first = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    assert first.image == str(root / "annotation_images/0_random_140/000000000000.jpg")


def test_pie_bench_missing_image_names_the_entry(tmp_path):
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    (root / "annotation_images/1_change_object_80/111000000001.jpg").unlink()
    with pytest.raises(InputError, match="111000000001.*not found"):
        pie_bench_to_manifest(root, tmp_path / "out")


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failed_conversion_leaves_out_as_it_found_it(tmp_path):
    """An entry failing halfway: a new OUT is not left behind with the masks written so far, and
    an earlier conversion in OUT is kept whole, byte for byte."""
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    earlier = tmp_path / "earlier"
    pie_bench_to_manifest(root, earlier)
    kept = _files(earlier)
    (root / "annotation_images/1_change_object_80/111000000001.jpg").unlink()  # the second entry
    for out in (tmp_path / "new", earlier):
        with pytest.raises(InputError, match="111000000001.*not found"):
            pie_bench_to_manifest(root, out, mask_source="click")
    assert not (tmp_path / "new").exists()
    assert _files(earlier) == kept and sorted(p.name for p in earlier.iterdir()) == [
        "captions.json", "manifest.yaml", "masks", "references"]


def test_converting_again_replaces_the_earlier_conversion(tmp_path):
    """OUT holding an earlier conversion takes the new one: its masks are the new ones, and a
    folder the new conversion does not write (PIE-Bench's references/) goes with the old."""
    pie = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    out = tmp_path / "out"
    pie_bench_to_manifest(pie, out)
    assert (out / "references").is_dir()
    img_id = "139306"
    region = np.zeros((8, 10), bool)
    region[2:5, 3:7] = True
    sessions = {img_id: [{"input": f"{img_id}-input.png", "mask": f"{img_id}-mask1.png",
                          "output": f"{img_id}-output1.png", "instruction": "add a hat"}]}
    mb = write_magicbrush(tmp_path / "mb", sessions, {f"{img_id}-mask1.png": _rgba_mask((8, 10), region)}, (8, 10))
    magicbrush_to_manifest(mb, out)
    assert sorted(p.name for p in out.iterdir()) == ["captions.json", "manifest.yaml", "masks"]
    assert [p.name for p in (out / "masks").iterdir()] == [f"{img_id}_1.png"]
    assert [c.id for c in load_manifest(out / "manifest.yaml").cases] == [f"{img_id}_1"]


@pytest.mark.parametrize("theirs", ["notes.txt", "manifest.yaml", "masks/mine.png"])
def test_out_holding_what_a_user_made_is_refused_and_untouched(tmp_path, theirs):
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    out = tmp_path / "out"
    (out / theirs).parent.mkdir(parents=True, exist_ok=True)
    (out / theirs).write_text("my own")
    kept = _files(out)
    with pytest.raises(InputError, match=f"OUT '{out}': holds .*(nothing was touched)") as err:
        pie_bench_to_manifest(root, out)
    assert "\n" not in str(err.value)
    assert _files(out) == kept and sorted(p.name for p in out.iterdir()) == [theirs.split("/")[0]]


def test_out_may_not_be_the_dataset_folder_or_hold_it(tmp_path):
    root = write_pie_bench(tmp_path / "pie", _pie_entries(), (H, W))
    kept = _files(root)
    for out in (root, tmp_path):
        with pytest.raises(InputError, match="is the dataset folder or holds it"):
            pie_bench_to_manifest(root, out)
    assert _files(root) == kept


def _rgba_mask(hw, region):
    """MagicBrush's masked image: the picture, transparent where the edit goes."""
    rgba = np.full((*hw, 4), 200, np.uint8)
    rgba[..., 3] = np.where(region, 0, 255)
    return Image.fromarray(rgba, "RGBA")


def test_magicbrush_to_manifest(tmp_path):
    hw = (6, 8)
    region1 = np.zeros(hw, bool)
    region1[1:3, 2:5] = True
    # turn 2's mask is a white-region RGB image at half size: it is resized (nearest) to 6x8
    small = np.full((3, 4, 3), 90, np.uint8)
    small[0, 0] = small[2, 3] = 255
    region2 = np.zeros(hw, bool)
    region2[0:2, 0:2] = region2[4:6, 6:8] = True
    sessions = {
        "242679": [
            {
                "input": "242679-input.png",
                "mask": "242679-mask1.png",
                "output": "242679-output1.png",
                "instruction": "Put a hat on the dog",
            },
            {
                "input": "242679-output1.png",
                "mask": "242679-mask2.png",
                "output": "242679-output2.png",
                "instruction": "Make the hat red",
            },
        ]
    }
    masks = {
        "242679-mask1.png": _rgba_mask(hw, region1),
        "242679-mask2.png": Image.fromarray(small),
    }
    descriptions = {
        "242679": {
            "242679-input.png": "a dog on grass",
            "242679-output1.png": "a dog with a hat on grass",
            "242679-output2.png": "a dog with a red hat on grass",
        }
    }
    root = write_magicbrush(
        tmp_path / "test", sessions, masks, hw, global_descriptions=descriptions
    )
    (root / "local_descriptions.json").write_text(
        json.dumps({"242679": {"242679-output1.png": "a hat"}})
    )
    manifest = load_manifest(magicbrush_to_manifest(root, tmp_path / "mb"))  # root declared
    one, two = manifest.cases
    assert (one.id, two.id) == ("242679_1", "242679_2")
    assert one.image == str(root / "images/242679/242679-input.png")
    assert two.image == str(root / "images/242679/242679-output1.png")  # single-turn setting
    assert two.instruction == "Make the hat red"
    np.testing.assert_array_equal(read_mask(one.prompts.mask) > 0.5, region1)
    np.testing.assert_array_equal(read_mask(two.prompts.mask) > 0.5, region2)
    # scored against the annotation itself, and against the turn's ground-truth output
    assert one.reference_mask == one.prompts.mask
    assert one.ground_truth == str(root / "images/242679/242679-output1.png")
    assert two.ground_truth == str(root / "images/242679/242679-output2.png")
    assert (one.benchmark.name, one.benchmark.mask_source) == ("magicbrush", "annotation")
    assert one.captions["local"] == "a hat"
    captions = read_captions(tmp_path / "mb" / "captions.json")
    assert captions["242679_1"] == {
        "source": "a dog on grass",
        "target": "a dog with a hat on grass",
        "local": "a hat",
    }
    assert captions["242679_2"] == {
        "source": "a dog with a hat on grass",
        "target": "a dog with a red hat on grass",
    }


def test_magicbrush_without_descriptions_has_empty_captions(tmp_path):
    hw = (4, 4)
    sessions = {
        "7": [
            {
                "input": "7-input.png",
                "mask": "7-mask1.png",
                "output": "7-output1.png",
                "instruction": "x",
            }
        ]
    }
    root = write_magicbrush(
        tmp_path / "dev", sessions, {"7-mask1.png": _rgba_mask(hw, np.eye(4, dtype=bool))}, hw
    )
    magicbrush_to_manifest(root, tmp_path / "out")
    assert read_captions(tmp_path / "out" / "captions.json") == {
        "7_1": {"source": None, "target": None}
    }


def test_nothing_to_click_anywhere_is_one_line(tmp_path):
    entries = {"1": {**_pie_entries()["111000000001"]}}  # an empty annotation
    root = write_pie_bench(tmp_path / "pie", entries, (H, W))
    with pytest.warns(MaskeditWarning), pytest.raises(InputError, match="no case to write"):
        pie_bench_to_manifest(root, tmp_path / "o", mask_source="click")
    assert not (tmp_path / "o" / "manifest.yaml").exists()


@pytest.mark.parametrize("rle", [[1.0, 2.0], [True, 2], "1 2", [[1, 2]]])
def test_pie_mask_decode_refuses_what_is_not_whole_numbers_in_one_line(rle):
    with pytest.raises(InputError, match="PIE-Bench mask: expected"):
        pie_mask_decode(rle, (H, W))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"input": None}, "turn 1: input None is not a file name"),
        ({"mask": 3}, "turn 1: mask 3 is not a file name"),
        ({"output": ""}, "turn 1: output '' is not a file name"),
    ],
)
@pytest.mark.parametrize("convert", [magicbrush_to_manifest, magicbrush_turns_to_manifest])
def test_magicbrush_turn_without_file_names_is_one_line(tmp_path, change, words, convert):
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    region = np.eye(4, dtype=bool)
    root = write_magicbrush(
        tmp_path / "test",
        {"7": [{**turn, "instruction": "x"}]},
        {turn["mask"]: _rgba_mask((4, 4), region)},
        (4, 4),
    )
    sessions = {"7": [{**turn, "instruction": "x", **change}]}
    (root / "edit_sessions.json").write_text(json.dumps(sessions))
    with pytest.raises(InputError, match=words):
        convert(root, tmp_path / "out")
    (root / "edit_sessions.json").write_text(json.dumps({"7": ["7-input.png"]}))
    with pytest.raises(InputError, match="turn 1: expected"):
        convert(root, tmp_path / "out")
    (root / "edit_sessions.json").write_text(json.dumps({"7": 5}))
    with pytest.raises(InputError, match="'7': expected a"):
        convert(root, tmp_path / "out")


def test_a_dataset_folder_one_level_down_is_named(tmp_path):
    write_pie_bench(tmp_path / "PnPInversion" / "data", _pie_entries(), (H, W))
    with pytest.raises(InputError, match=r"file not found \(the dataset folder is '.*data'\?\)"):
        pie_bench_to_manifest(tmp_path / "PnPInversion", tmp_path / "o")
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    masks = {turn["mask"]: _rgba_mask((4, 4), np.eye(4, dtype=bool))}
    write_magicbrush(
        tmp_path / "unzipped" / "test", {"7": [{**turn, "instruction": "x"}]}, masks, (4, 4)
    )
    with pytest.raises(InputError, match=r"file not found \(the dataset folder is '.*test'\?\)"):
        magicbrush_to_manifest(tmp_path / "unzipped", tmp_path / "o")


def test_json_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    """Windows editors save UTF-8 with a byte order mark; the files read the same."""
    root = write_pie_bench(tmp_path / "PIE-Bench", _pie_entries(), (H, W))
    mapping = root / "mapping_file.json"
    mapping.write_bytes(b"\xef\xbb\xbf" + mapping.read_bytes())
    case = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    np.testing.assert_array_equal(read_mask(case.prompts.mask) > 0.5, EXPECTED_NO_BORDER)


def test_magicbrush_mask_white_on_transparent_is_the_white_region(tmp_path):
    """A mask drawn white on a transparent background (nothing of the picture in it) marks the
    white part, as every other maskedit mask reads; MagicBrush's own masks, the picture with a
    transparent hole, still mark the hole."""
    hw = (6, 8)
    region = np.zeros(hw, bool)
    region[1:3, 2:5] = True
    white_on_clear = np.zeros((*hw, 4), np.uint8)
    white_on_clear[region] = 255
    masks = {"7-mask1.png": Image.fromarray(white_on_clear, "RGBA")}
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    root = write_magicbrush(tmp_path / "test", {"7": [{**turn, "instruction": "x"}]}, masks, hw)
    mask_file = root / "images" / "7" / "7-mask1.png"
    np.testing.assert_array_equal(magicbrush_mask(mask_file, hw), region)
    _rgba_mask(hw, region).save(mask_file)  # the picture, transparent where the edit goes
    np.testing.assert_array_equal(magicbrush_mask(mask_file, hw), region)
    white_picture = np.full((*hw, 4), 255, np.uint8)  # a white picture with a transparent hole
    white_picture[region, 3] = 0
    Image.fromarray(white_picture, "RGBA").save(mask_file)
    np.testing.assert_array_equal(magicbrush_mask(mask_file, hw), region)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_pie_bench_annotation_lies_over_the_pixels_of_an_exif_turned_image(tmp_path, orientation):
    """PIE-Bench's run-length mask runs over the image's stored pixels (its code never turns an
    image upright); maskedit edits the image upright, so the annotation is turned with it."""
    root = write_pie_bench(tmp_path / "PIE-Bench", _pie_entries(), (H, W))
    path = root / "annotation_images" / "0_random_140" / "000000000000.png"
    stored = np.repeat(np.where(EXPECTED_NO_BORDER, 255, 0).astype(np.uint8)[..., None], 3, -1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif)
    mapping = json.loads((root / "mapping_file.json").read_text())
    mapping["000000000000"]["image_path"] = "0_random_140/000000000000.png"
    (root / "mapping_file.json").write_text(json.dumps(mapping))
    case = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    shown = read_image(case.image)[..., 0] > 127  # the annotated pixels, as maskedit sees them
    assert shown.shape == ((H, W) if orientation in (1, 3) else (W, H))
    np.testing.assert_array_equal(read_mask(case.prompts.mask) > 0.5, shown)
    reference = read_mask(case.reference_mask) > 0.5
    np.testing.assert_array_equal(reference[1:-1, 1:-1], shown[1:-1, 1:-1])
    assert reference[0].all() and reference[-1].all() and reference[:, 0].all()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"image_path": 5}, r"entry '000000000000': image_path 5 is not a file name"),
        ({"image_path": None}, r"entry '000000000000': image_path None is not a file name"),
        ({"editing_instruction": None}, r"entry '000000000000': editing_instruction is empty"),
        ({"editing_instruction": 5}, r"'000000000000': editing_instruction: expected text, got"),
        ({"editing_instruction": ["a"]}, r"editing_instruction: expected text, got a list"),
        ({"original_prompt": 5}, r"'000000000000': original_prompt: expected text or null"),
        ({"editing_prompt": {"a": 1}}, r"editing_prompt: expected text or null, got a mapping"),
        ({"mask": {"a": 1}}, r"entry '000000000000': PIE-Bench mask: expected a list"),
    ],
)
def test_pie_bench_entry_of_the_wrong_types_is_one_line_naming_it(tmp_path, change, words):
    """A mapping-file entry whose fields are of the wrong type is refused where it is read, naming
    the entry and the field, and nothing is written: never a manifest `maskedit run` refuses,
    nor a traceback."""
    entries = _pie_entries()
    root = write_pie_bench(tmp_path / "pie", entries, (H, W))
    entries["000000000000"].update(change)
    (root / "mapping_file.json").write_text(json.dumps(entries))
    with pytest.raises(InputError, match=words):
        pie_bench_to_manifest(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (root / "mapping_file.json").write_text(json.dumps({"000000000000": ["a.jpg"]}))
    with pytest.raises(InputError, match="'000000000000': expected a mapping of image_path, "):
        pie_bench_to_manifest(root, tmp_path / "out")


def test_pie_bench_prompts_that_are_null_are_captions_of_null(tmp_path):
    entries = _pie_entries()
    entries["000000000000"].update(original_prompt=None, editing_prompt=None)
    root = write_pie_bench(tmp_path / "pie", entries, (H, W))
    first = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    assert first.captions == {"source": None, "target": None}
    first = load_manifest(pie_bench_to_manifest(root, tmp_path / "out")).cases[0]
    assert first.captions == {"source": None, "target": None}


@pytest.mark.parametrize(
    "instruction, words",
    [
        (None, "'7' turn 1: instruction is empty"),
        ("  ", "'7' turn 1: instruction is empty"),
        (5, "'7' turn 1: instruction: expected text, got the number 5"),
        (["make", "red"], "'7' turn 1: instruction: expected text, got a list"),
    ],
)
@pytest.mark.parametrize("convert", [magicbrush_to_manifest, magicbrush_turns_to_manifest])
def test_magicbrush_instruction_that_is_not_text_is_one_line(tmp_path, instruction, words, convert):
    """Refused where the session is read, not written into a manifest `maskedit run` refuses."""
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    masks = {turn["mask"]: _rgba_mask((4, 4), np.eye(4, dtype=bool))}
    root = write_magicbrush(tmp_path / "test", {"7": [{**turn, "instruction": "x"}]}, masks, (4, 4))
    sessions = {"7": [{**turn, "instruction": instruction}]}
    (root / "edit_sessions.json").write_text(json.dumps(sessions))
    with pytest.raises(InputError, match=words):
        convert(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "descriptions, words",
    [
        (
            [1],
            r"global_descriptions.json': expected \{img_id: \{file name: caption\}\}, got a list",
        ),
        ({"7": "a cat"}, r"global_descriptions.json' '7': expected \{file name: caption\}"),
        ({"7": {"7-input.png": 5}}, r"'7' '7-input.png': expected a caption \(text or null\)"),
    ],
)
@pytest.mark.parametrize("convert", [magicbrush_to_manifest, magicbrush_turns_to_manifest])
def test_magicbrush_descriptions_of_the_wrong_shape_are_one_line(
    tmp_path, descriptions, words, convert
):
    """A global_descriptions.json that is not {img_id: {file name: caption}} is named in one line
    (it stopped with an AttributeError, or wrote captions `maskedit run` refused)."""
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    masks = {turn["mask"]: _rgba_mask((4, 4), np.eye(4, dtype=bool))}
    root = write_magicbrush(tmp_path / "test", {"7": [{**turn, "instruction": "x"}]}, masks, (4, 4))
    (root / "global_descriptions.json").write_text(json.dumps(descriptions))
    with pytest.raises(InputError, match=words):
        convert(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (root / "global_descriptions.json").write_text(json.dumps({"7": {"7-input.png": None}}))
    assert load_manifest(convert(root, tmp_path / "out")).cases


@pytest.mark.parametrize("outside", ["../../elsewhere.jpg", "{tmp}/elsewhere.jpg"])
def test_pie_bench_image_path_outside_the_dataset_folder_is_one_line(tmp_path, outside):
    """An image_path that leads out of the dataset folder ('..', an absolute path) is refused
    when converting, not written into a manifest `maskedit run` refuses as outside its root."""
    entries = _pie_entries()
    root = write_pie_bench(tmp_path / "pie", entries, (H, W))
    Image.new("RGB", (W, H)).save(tmp_path / "elsewhere.jpg")
    entries["000000000000"]["image_path"] = outside.format(tmp=tmp_path)
    (root / "mapping_file.json").write_text(json.dumps(entries))
    with pytest.raises(InputError, match="entry '000000000000': image '.*elsewhere.jpg' leads "):
        pie_bench_to_manifest(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../../../elsewhere.png", "sub/7-input.png", ".."])
@pytest.mark.parametrize("convert", [magicbrush_to_manifest, magicbrush_turns_to_manifest])
def test_magicbrush_file_names_that_are_paths_are_one_line(tmp_path, name, convert):
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    masks = {turn["mask"]: _rgba_mask((4, 4), np.eye(4, dtype=bool))}
    root = write_magicbrush(tmp_path / "test", {"7": [{**turn, "instruction": "x"}]}, masks, (4, 4))
    Image.new("RGB", (4, 4)).save(tmp_path / "elsewhere.png")
    (root / "edit_sessions.json").write_text(
        json.dumps({"7": [{**turn, "input": name, "instruction": "x"}]})
    )
    with pytest.raises(InputError, match="'7' turn 1: input '.*' is not a file name"):
        convert(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_case_ids_that_differ_only_in_case_are_refused_when_converting(tmp_path):
    """Two entries whose ids differ only in case would write one masks/ file on macOS and
    Windows, and make a manifest `maskedit run` refuses: the conversion stops at the second,
    naming it, and writes nothing."""
    entries = _pie_entries()
    entries["Cat"] = {**entries["000000000000"]}
    entries["cat"] = {**entries["000000000000"]}
    root = write_pie_bench(tmp_path / "pie", entries, (H, W))
    with pytest.raises(InputError, match="entry 'cat': case id 'cat' and 'Cat' differ only in"):
        pie_bench_to_manifest(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    turn = {"input": "7-input.png", "mask": "7-mask1.png", "output": "7-output1.png"}
    masks = {turn["mask"]: _rgba_mask((4, 4), np.eye(4, dtype=bool))}
    sessions = {img: [{**turn, "instruction": "x"}] for img in ("A7", "a7")}
    root = write_magicbrush(tmp_path / "test", sessions, masks, (4, 4))
    for convert in (magicbrush_to_manifest, magicbrush_turns_to_manifest):
        with pytest.raises(InputError, match="'a7'.*: case id 'a7(_1)?' and 'A7(_1)?' differ only"):
            convert(root, tmp_path / "out")
        assert not (tmp_path / "out").exists()
