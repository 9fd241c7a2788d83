"""Manifests of benchmark cases: a declared dataset root, reference masks, ground truths, and
the reference an edit is scored against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maskedit.config import load_manifest
from maskedit.errors import InputError


def _dataset(tmp_path: Path) -> Path:
    data = tmp_path / "dataset"
    (data / "images").mkdir(parents=True)
    for name in ("x.png", "gt.png", "ann.png"):
        (data / "images" / name).write_bytes(b"")
    return data


def _manifest(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "converted"
    folder.mkdir(exist_ok=True)
    path = folder / "manifest.yaml"
    path.write_text(text)
    return path


def test_a_declared_root_lets_cases_read_the_dataset(tmp_path):
    data = _dataset(tmp_path)
    path = _manifest(
        tmp_path,
        f"root: {data}\n"
        "cases:\n"
        f" - id: a\n   image: {data}/images/x.png\n   instruction: hi\n   point: [1, 1]\n"
        f"   reference_mask: {data}/images/ann.png\n   ground_truth: {data}/images/gt.png\n"
        "   benchmark: {name: magicbrush, mask_source: click, id: a}\n",
    )
    manifest = load_manifest(path)
    assert manifest.root == data
    case = manifest.cases[0]
    assert case.reference_mask == data / "images/ann.png"
    assert case.ground_truth == str(data / "images/gt.png")
    assert (case.benchmark.name, case.benchmark.mask_source) == ("magicbrush", "click")


def test_a_relative_root_is_the_manifests_neighbour(tmp_path):
    data = _dataset(tmp_path)
    path = _manifest(
        tmp_path,
        "root: ../dataset\ncases:\n - {id: a, image: ../dataset/images/x.png, instruction: hi, "
        "point: [1, 1]}\n",
    )
    assert load_manifest(path).cases[0].image == str(path.parent / "../dataset/images/x.png")
    assert load_manifest(path).root.resolve() == data.resolve()


@pytest.mark.parametrize(
    "case, key",
    [
        ("image: {d}/images/x.png, point: [1, 1]", "image"),
        ("image: x.png, mask: {d}/images/ann.png", "mask"),
        ("image: x.png, point: [1, 1], reference_mask: {d}/images/ann.png", "reference_mask"),
        ("image: x.png, point: [1, 1], ground_truth: {d}/images/gt.png", "ground_truth"),
    ],
)
def test_without_a_root_every_path_keeps_the_folder_check(tmp_path, case, key):
    data = _dataset(tmp_path)
    fields = case.format(d=data)
    path = _manifest(tmp_path, f"cases:\n - {{id: a, instruction: hi, {fields}}}\n")
    with pytest.raises(InputError, match=f"{key} '.*' is outside the manifest's folder"):
        load_manifest(path)
    assert load_manifest(path, allow_outside=True).cases[0].id == "a"


def test_a_root_does_not_open_everything_else(tmp_path):
    data = _dataset(tmp_path)
    (tmp_path / "secret.png").write_bytes(b"")
    path = _manifest(
        tmp_path,
        f"root: {data}\ncases:\n - {{id: a, image: {tmp_path}/secret.png, instruction: hi, "
        "point: [1, 1]}\n",
    )
    with pytest.raises(InputError, match=f"outside the manifest's folder .* or its root '{data}'"):
        load_manifest(path)


@pytest.mark.parametrize(
    "root, words",
    [("/", "would let the manifest read every file"), ("nowhere", "not found or not a folder")],
)
def test_a_root_must_be_the_datasets_own_folder(tmp_path, root, words):
    path = _manifest(
        tmp_path, f"root: {root}\ncases:\n - {{id: a, image: x.png, instruction: hi}}\n"
    )
    with pytest.raises(InputError, match=words):
        load_manifest(path)


def test_bad_benchmark_tag_is_one_line(tmp_path):
    path = _manifest(
        tmp_path,
        "cases:\n - {id: a, image: x.png, instruction: hi, point: [1, 1], "
        "benchmark: {name: pie-bench, mask_source: scribble}}\n",
    )
    with pytest.raises(InputError, match="benchmark.mask_source"):
        load_manifest(path)


# --- the reference an edit is scored against ----------------------------------------------------


def test_a_reference_is_recorded_and_never_edits(tiny_models, photo):
    from maskedit import EditSettings, edit

    mask = np.zeros(photo.shape[:2], bool)
    mask[20:50, 55:85] = True
    reference = np.zeros_like(mask)
    reference[20:50, 55:70] = True  # half the editing mask
    result = edit(
        photo,
        "make it red",
        models=tiny_models,
        mask=mask,
        reference=reference,
        settings=EditSettings(steps=1),
    )
    np.testing.assert_array_equal(result.alpha > 0.5, mask)  # edited with the mask
    np.testing.assert_array_equal(result.reference > 0.5, reference)
    assert result.mask_info["reference_iou"] == 0.5


@pytest.mark.parametrize("shape", [{"dilate": 4}, {"feather": 2}])
def test_run_and_eval_give_one_mask_iou_for_a_shaped_mask(tiny_models, photo, tmp_path, shape):
    """The record's reference_iou is the mask as edited with, so eval reads the same from
    mask.png: before, the run scored the mask before --dilate and eval the dilated one; and a
    feathered edge's 0.5, stored in mask.png as 128 (inside), is read as stored."""
    from maskedit import EditSettings, edit
    from maskedit.evaluate import score_case_dir, score_result
    from maskedit.metrics import reference_iou
    from maskedit.outputs import write_case

    mask = np.zeros(photo.shape[:2], bool)
    mask[20:50, 55:85] = True
    result = edit(
        photo,
        "make it red",
        models=tiny_models,
        mask=mask,
        reference=mask,
        settings=EditSettings(steps=1, **shape),
    )
    if "dilate" in shape:
        assert result.mask_info["reference_iou"] == round(reference_iou(result.alpha, mask), 6) < 1
    else:
        assert (result.alpha == 0.5).any()  # the edge value that the stored mask rounds up
    rows = score_result(result, "a")
    write_case(result, tmp_path / "a", "a")
    assert [r["mask_iou"] for r in score_case_dir(tmp_path / "a")] == [r["mask_iou"] for r in rows]


def test_a_second_reference_beside_an_automatic_mask_is_refused(tiny_models, photo, tmp_path):
    from PIL import Image

    from maskedit import edit

    Image.fromarray(np.zeros(photo.shape[:2], np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(InputError, match="reference_mask: the mask given beside a target"):
        edit(
            photo,
            "make it red",
            models=tiny_models,
            mask_from="edit",
            mask=tmp_path / "m.png",
            reference=tmp_path / "m.png",
        )


def test_a_folder_linked_to_another_disk_inside_the_root_or_the_manifests_folder_is_inside(
    tmp_path,
):
    """A dataset whose images folder is a symbolic link (to a larger disk), or a photos folder
    beside the manifest that is one, is read as the folder it is named as: the manifest a
    converter wrote runs as it is. A path with '..' is still judged by where it leads."""
    disk = tmp_path / "disk"
    (disk / "images").mkdir(parents=True)
    (disk / "images" / "x.png").write_bytes(b"")
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "annotation_images").symlink_to(disk / "images")
    path = _manifest(
        tmp_path,
        f"root: {data}\ncases:\n - {{id: a, image: {data}/annotation_images/x.png, "
        "instruction: hi, point: [1, 1]}\n",
    )
    assert load_manifest(path).cases[0].image == str(data / "annotation_images/x.png")
    (path.parent / "photos").symlink_to(disk / "images")
    path.write_text("cases:\n - {id: a, image: photos/x.png, instruction: hi, point: [1, 1]}\n")
    assert load_manifest(path).cases[0].image == str(path.parent / "photos/x.png")
    (tmp_path / "secret.png").write_bytes(b"")
    path.write_text(
        "cases:\n - {id: a, image: photos/../../secret.png, instruction: hi, point: [1, 1]}\n"
    )
    with pytest.raises(InputError, match="image '.*secret.png' is outside the manifest's folder"):
        load_manifest(path)
