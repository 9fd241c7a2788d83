"""Hostile image and mask files: every Pillow or OS failure is one `InputError` naming the file,
and every mask maskedit accepts keeps the promise "outside the mask the output is the input"."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskedit.composite import alpha_composite
from maskedit.errors import InputError, MaskeditWarning
from maskedit.images import image_size, read_image, read_mask

READERS = {"read_image": read_image, "image_size": image_size, "read_mask": read_mask}


def _png(h: int = 40, w: int = 50) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _one_line_error(reader, path: Path, words: str) -> str:
    with pytest.raises(InputError, match=words) as err:
        reader(path)
    message = str(err.value)
    assert "\n" not in message and path.name.replace("\0", "\\x00") in message
    return message


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("cut", [9, 20, 33, 45, 60, 0.5])
def test_a_png_cut_anywhere_is_one_line(tmp_path, reader, cut):
    data = _png()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    (tmp_path / "t.png").write_bytes(data[:n])
    _one_line_error(reader, tmp_path / "t.png", "truncated or corrupt|not a readable image")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_above_pillows_own_bomb_limit_is_refused_from_the_header(tmp_path, reader):
    """A 16000×16000 header (Pillow itself refuses it on open): no decoding, one line."""
    data = _png()
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 16000, 16000, 8, 2, 0, 0, 0))
    (tmp_path / "big.png").write_bytes(data[:8] + header + data[33:])
    _one_line_error(reader, tmp_path / "big.png", "256,000,000 pixels exceeds the limit")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_png_text_chunk_bomb_is_one_line(tmp_path, reader):
    data = _png()
    bomb = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"\0" * (20 << 20)))  # 20 MB of text
    (tmp_path / "z.png").write_bytes(data[:33] + bomb + data[33:])
    _one_line_error(reader, tmp_path / "z.png", "truncated or corrupt")


def test_multi_frame_images_say_which_frame_was_used(tmp_path):
    frames = [Image.new("L", (20, 10), c) for c in (0, 128, 255)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(MaskeditWarning, match="has 3 frames; the first is used"):
        image = read_image(tmp_path / "a.gif")
    assert image.shape == (10, 20, 3) and image.max() == 0
    with pytest.warns(MaskeditWarning, match="mask '.*a.gif': has 3 frames"):
        read_mask(tmp_path / "a.gif")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_paths_no_file_system_takes_are_one_line(tmp_path, reader):
    _one_line_error(reader, tmp_path / "a\0b.png", "contains a NUL byte")
    with pytest.raises(InputError, match="has a name of 304 bytes; the file system allows at most 255") as err:
        reader(tmp_path / ("x" * 300 + ".png"))
    assert "\n" not in str(err.value)
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    _one_line_error(reader, tmp_path / "loop1", "symbolic link loop")


def _tiff_f(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values.astype(np.float32), mode="F").save(path)
    return path


@pytest.mark.parametrize(
    "value, words",
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (2.0, "from 0 to 2"), (-0.5, "from -0.5 to 1")],
)
def test_float_masks_outside_zero_one_are_refused(tmp_path, value, words):
    m = np.zeros((20, 30), np.float32)
    m[5:10, 5:10] = 1.0
    m[0, 0] = value
    _one_line_error(read_mask, _tiff_f(tmp_path / "m.tif", m), words)


def test_a_float_image_with_nan_is_one_line(tmp_path):
    path = _tiff_f(tmp_path / "nan.tif", np.array([[0.5, np.nan], [0.0, 1.0]], np.float32))
    with pytest.raises(InputError, match=r"image '.*nan.tif': float image has NaN or infinite values"):
        read_image(path)


def _mask_files(tmp_path: Path, inside: np.ndarray) -> dict[str, Path]:
    """The same region (soft inside, 0 outside) in every mode the readers accept."""
    soft = np.where(inside, 0.75, 0.0)
    files = {
        "1": Image.fromarray(inside),
        "L": Image.fromarray((soft * 255).astype(np.uint8)),
        "L01": Image.fromarray(inside.astype(np.uint8)),
        "LA": Image.fromarray(np.stack([np.full(inside.shape, 255, np.uint8), (soft * 255).astype(np.uint8)], -1), "LA"),
        "RGBA": Image.fromarray(np.dstack([np.zeros((*inside.shape, 3), np.uint8), (soft * 255).astype(np.uint8)])),
        "P": Image.fromarray((soft * 255).astype(np.uint8)).convert("P"),
        "I;16": Image.fromarray((soft * 65535).astype(np.uint16)),
        "I": Image.fromarray((soft * 65535).astype(np.int32), "I"),
        "F": Image.fromarray(soft.astype(np.float32), "F"),
    }
    out = {}
    for name, img in files.items():
        path = tmp_path / f"m_{name.replace(';', '')}.{'tif' if name in ('F', 'I') else 'png'}"
        img.save(path)
        out[name] = path
    return out


def test_every_accepted_mask_keeps_outside_the_mask_the_input(tmp_path):
    rng = np.random.default_rng(1)
    inside = np.zeros((24, 32), bool)
    inside[4:15, 6:20] = True
    original = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    edit = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    for mode, path in _mask_files(tmp_path, inside).items():
        alpha = read_mask(path, (24, 32))
        assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1, mode
        assert not alpha[~inside].any(), mode
        assert alpha[inside].min() > 0, mode
        out = alpha_composite(edit, original, alpha)
        assert np.array_equal(out[~inside], original[~inside]), mode


def test_a_mask_shaping_erases_gets_the_empty_mask_warning(tiny_models, photo):
    import maskedit
    from maskedit import EditSettings

    one = np.zeros(photo.shape[:2], bool)
    one[30, 40] = True
    with pytest.warns(MaskeditWarning, match="the mask is empty after shaping"):
        res = maskedit.edit(photo, "x", models=tiny_models, mask=one, settings=EditSettings(steps=1, feather=50))
    assert np.abs(res.blended.astype(int) - photo).max() <= 1
    assert any("empty after shaping" in w for w in res.warnings)
    with pytest.raises(InputError, match="NaN"):
        maskedit.edit(photo, "x", models=tiny_models, mask=np.full(photo.shape[:2], np.nan), settings=EditSettings(steps=1))


@pytest.mark.parametrize("hw", [(30, 4000), (1, 3000), (3000, 1)])
def test_extreme_aspect_photos_take_clicks_and_boxes(hw, tiny_models):
    """SAM's resize of a 3000×1 photo would be 0 px wide: it is padded for SAM, cropped back."""
    import maskedit
    from maskedit import EditSettings

    h, w = hw
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskeditWarning)
        clicked = maskedit.edit(img, "x", models=tiny_models, points=[(w // 2, h // 2)], settings=EditSettings(steps=1))
        boxed = maskedit.edit(img, "x", models=tiny_models, box=(0, 0, w, h), settings=EditSettings(steps=1))
    for res in (clicked, boxed):
        assert res.alpha.shape == (h, w) and res.blended.shape == img.shape
        assert np.array_equal(res.blended[res.alpha == 0], img[res.alpha == 0])


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_pipe_or_a_device_is_named_as_such_and_never_waited_on(tmp_path, reader):
    """A FIFO (`<(cat photo.png)` is one) or a device is refused before it is opened (opening a
    FIFO waits for a writer), as what it is, not as an empty file."""
    os.mkfifo(tmp_path / "fifo.png")
    _one_line_error(reader, tmp_path / "fifo.png", "is not a regular file")
    with pytest.raises(InputError, match="'/dev/null': is not a regular file"):
        reader(Path("/dev/null"))
