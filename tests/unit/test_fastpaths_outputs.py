"""write_case writes large images with fast PNG compression: lossless, atomic, small ones as before.

The threshold is lowered here instead of writing 4-megapixel images. The zlib header of a PNG's
first IDAT chunk records the compression level class (FLEVEL: 0 for level 0-1, 2 for level 6).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from maskedit import images, outputs
from maskedit.config import EditSettings
from maskedit.images import read_image, read_mask, write_png
from maskedit.record import EditResult


def zlib_level_class(png: bytes) -> int:
    """FLEVEL (bits 6-7 of the zlib FLG byte) of the first IDAT chunk."""
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            return png[pos + 9] >> 6
        pos += 12 + length
    raise AssertionError("no IDAT chunk")


def _photo(rng, h=48, w=64):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_small_images_keep_the_default_bytes(tmp_path, rng):
    image = _photo(rng)
    write_png(tmp_path / "small.png", image)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")  # Pillow's defaults
    assert (tmp_path / "small.png").read_bytes() == buf.getvalue()
    assert zlib_level_class(buf.getvalue()) == 2  # Pillow's level 6


@pytest.mark.parametrize("grey", [False, True])
def test_large_images_use_level_1_and_stay_lossless(tmp_path, rng, monkeypatch, grey):
    monkeypatch.setattr(images, "FAST_PNG_PIXELS", 1000)
    image = _photo(rng)[..., 0] if grey else _photo(rng)
    images.write_png(tmp_path / "big.png", image)
    data = (tmp_path / "big.png").read_bytes()
    assert zlib_level_class(data) == 0
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    assert data == buf.getvalue()  # deterministic: the same array gives the same bytes
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "big.png")), image)
    assert [p.name for p in tmp_path.iterdir()] == ["big.png"]  # no temp file left


def test_a_failed_large_write_leaves_nothing(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(images, "FAST_PNG_PIXELS", 1000)
    (tmp_path / "big.png").write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        images.write_png(tmp_path / "big.png", _photo(rng))
    assert [p.name for p in tmp_path.iterdir()] == ["big.png"]
    assert (tmp_path / "big.png").read_bytes() == b"old"  # the old file, untouched
    with pytest.raises(ValueError, match="uint8"):
        images.write_png(tmp_path / "f.png", _photo(rng).astype(np.float32))


def _result(rng) -> EditResult:
    original = _photo(rng)
    alpha = np.zeros(original.shape[:2], np.float32)
    alpha[10:30, 20:40] = 1.0
    baseline = _photo(rng)
    blended = np.where(alpha[..., None] > 0, baseline, original)
    return EditResult(
        original=original,
        alpha=alpha,
        baseline=baseline,
        outputs={"pixel": blended, "crop": blended.copy()},
        instruction="make it red",
        settings=EditSettings(text_cfg=7.5, image_cfg=1.5, methods=("pixel", "crop")),
        mask_source="array",
        prompts=None,
        sam=None,
        working_hw=(64, 64),
        models={"kind": "tiny", "editor": "ip2p"},
    )


def test_write_case_with_fast_pngs_reads_back_the_same_pixels(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(images, "FAST_PNG_PIXELS", 1000)  # 48x64 = 3072 pixels: "large"
    result = _result(rng)
    out = outputs.write_case(result, tmp_path / "case")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]  # no partial folder left
    for path in out.glob("*.png"):  # grid included: over the lowered threshold too
        assert zlib_level_class(path.read_bytes()) == 0, path.name
    np.testing.assert_array_equal(read_image(out / "original.png"), result.original)
    np.testing.assert_array_equal(read_image(out / "baseline.png"), result.baseline)
    mask = read_mask(out / "mask.png", result.original.shape[:2])
    np.testing.assert_array_equal(mask > 0.5, result.alpha > 0.5)
    for path in out.glob("blended*.png"):
        np.testing.assert_array_equal(read_image(path), result.outputs["pixel"])


def test_write_case_writes_its_pictures_side_by_side_with_the_same_bytes(tmp_path, rng,
                                                                         monkeypatch):
    """The pictures are encoded in worker threads (Pillow releases the GIL): every file is the
    bytes `write_png` gives for that picture alone, in the caller's thread."""
    import threading

    result = _result(rng)
    threads: set[str] = set()
    real = outputs.write_png

    def spy(path, array):
        threads.add(threading.current_thread().name)
        real(path, array)

    monkeypatch.setattr(outputs, "write_png", spy)
    out = outputs.write_case(result, tmp_path / "case", extra={"k": 1})
    monkeypatch.undo()
    assert threading.current_thread().name not in threads
    alone = {
        "original.png": result.original,
        "baseline.png": result.baseline,
        "blended.png": result.outputs["pixel"],
        "blended_pixel.png": result.outputs["pixel"],
        "blended_crop.png": result.outputs["crop"],
        "grid.png": outputs.grid_for(result),
        "mask.png": images.alpha_to_png_array(result.alpha),
    }
    assert sorted(p.name for p in out.glob("*.png")) == sorted(alone)
    for name, array in alone.items():
        write_png(tmp_path / name, array)
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_a_write_failing_in_a_worker_leaves_no_folder(tmp_path, rng, monkeypatch):
    """One picture's write fails while the others run: one OutputError, no case folder, no temp
    folder, and no write still going on in the background."""
    import errno

    from maskedit.errors import OutputError

    real = outputs.write_png

    def flaky(path, array):
        if path.name == "baseline.png":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, array)

    monkeypatch.setattr(outputs, "write_png", flaky)
    with pytest.raises(OutputError, match="No space left on device"):
        outputs.write_case(_result(rng), tmp_path / "case")
    assert list(tmp_path.iterdir()) == []


def test_write_case_writes_alone_when_no_thread_can_start(tmp_path, rng, monkeypatch):
    """While the interpreter shuts down no new thread starts (`submit` raises RuntimeError): a
    case written then (from a thread the program left running) is written one picture after the
    other, not lost."""
    from concurrent.futures import ThreadPoolExecutor

    def refuse(self, *args, **kwargs):
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(ThreadPoolExecutor, "submit", refuse)
    result = _result(rng)
    out = outputs.write_case(result, tmp_path / "case")
    np.testing.assert_array_equal(read_image(out / "original.png"), result.original)
    assert len(list(out.glob("*.png"))) == 7


def test_a_folder_another_process_writes_meanwhile_is_left_as_it_is(tmp_path, rng, monkeypatch):
    """`--out` was free when the case started saving, and another process wrote it before the
    case's folder was moved in: one OutputError, the other process's files untouched (they were
    swapped out and removed before, as if --force had been given), no temp folder left."""
    from maskedit.errors import OutputError

    out = tmp_path / "case"
    real = outputs._write_pngs

    def meanwhile(images):
        real(images)
        out.mkdir()
        (out / "record.json").write_text("theirs")

    monkeypatch.setattr(outputs, "_write_pngs", meanwhile)
    with pytest.raises(OutputError, match="another process wrote it while this case was being saved"):
        outputs.write_case(_result(rng), out)
    assert [p.name for p in tmp_path.iterdir()] == ["case"]
    assert [p.name for p in out.iterdir()] == ["record.json"]
    assert (out / "record.json").read_text() == "theirs"


@pytest.mark.parametrize("windows", [False, True])
def test_an_empty_out_folder_is_written_into(tmp_path, rng, monkeypatch, windows):
    """An empty `--out` folder takes the case without --force; where the system will not rename
    a folder onto an empty one (Windows), the empty folder is removed first."""
    import os

    out = tmp_path / "case"
    out.mkdir()
    if windows:
        real = os.replace

        def no_rename_onto_folders(src, dst):
            if os.path.isdir(dst) and os.path.isdir(src):
                raise PermissionError(13, "Access is denied")
            real(src, dst)

        monkeypatch.setattr(outputs.os, "replace", no_rename_onto_folders)
    outputs.write_case(_result(rng), out)
    assert (out / "record.json").is_file() and [p.name for p in tmp_path.iterdir()] == ["case"]


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_a_case_folder_is_as_shareable_as_the_umask_makes_new_files(
    tmp_path, rng, umask, file_mode, folder_mode
):
    """The pictures, the folder and the tables get the modes files made the usual way get (not
    mkstemp's 0600 / mkdtemp's 0700), so a shared run folder's report shows its pictures."""
    import os
    import stat

    from maskedit import paths

    before = os.umask(umask)
    paths._umask.cache_clear()
    try:
        out = outputs.write_case(_result(rng), tmp_path / "case")
    finally:
        os.umask(before)
        paths._umask.cache_clear()
    assert stat.S_IMODE(out.stat().st_mode) == folder_mode
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert "blended_crop.png" in modes and "grid.png" in modes
    assert set(modes.values()) == {file_mode}, modes


def test_the_umask_is_read_as_the_system_has_it():
    import os

    from maskedit import paths

    mask = os.umask(0o022)
    os.umask(mask)
    assert paths._umask() == mask
