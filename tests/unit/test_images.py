"""Images and masks read into one convention, whatever the file's mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from maskedit.errors import InputError
from maskedit.images import (
    alpha_from_array,
    image_and_source,
    pil_image,
    pil_mask,
    read_image,
    read_mask,
    write_png,
)

SHAPE = (6, 8)


def _truth() -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[1:4, 2:6] = True
    return m


@pytest.mark.parametrize("mode", ["1", "L255", "L01", "RGBA", "P", "RGB", "LA", "I16"])
def test_every_png_mode_means_the_same_mask(tmp_path, mode):
    m = _truth()
    path = tmp_path / f"m_{mode}.png"
    if mode == "1":
        Image.fromarray(m).save(path)  # a bool array saves as mode "1"
        assert Image.open(path).mode == "1"
    elif mode == "L255":
        Image.fromarray(m.astype(np.uint8) * 255).save(path)
    elif mode == "L01":
        Image.fromarray(m.astype(np.uint8)).save(path)  # the study's bug: 0/1 read as 0..1/255
    elif mode == "RGBA":
        rgba = np.zeros((*SHAPE, 4), np.uint8)
        rgba[..., 3] = m * 255
        Image.fromarray(rgba, "RGBA").save(path)
    elif mode == "P":
        p = Image.fromarray(m.astype(np.uint8), "L").convert("P")
        p.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        p.save(path)
        assert Image.open(path).mode == "P"
    elif mode == "RGB":
        Image.fromarray(np.repeat(m[..., None] * 255, 3, 2).astype(np.uint8)).save(path)
    elif mode == "LA":
        la = np.stack([m * 255, np.full(SHAPE, 255)], -1).astype(np.uint8)
        Image.fromarray(la, "LA").save(path)  # opaque alpha: the grey level is the mask
    elif mode == "I16":
        Image.fromarray(m.astype(np.uint16) * 65535).save(path)
    alpha = read_mask(path, SHAPE)
    assert alpha.dtype == np.float32 and alpha.shape == SHAPE
    np.testing.assert_array_equal(alpha, m.astype(np.float32))


def test_a_mask_in_a_colour_mode_without_a_grey_conversion_reads_through_rgb(tmp_path):
    """A LAB TIFF (Photoshop's Lab colour) has no direct conversion to grey in Pillow: it is read
    through RGB, as its image is (it was refused as truncated or corrupt)."""
    m = _truth()
    rgb = np.repeat(m[..., None] * 255, 3, 2).astype(np.uint8)
    Image.fromarray(rgb).convert("LAB").save(tmp_path / "m.tif")
    assert Image.open(tmp_path / "m.tif").mode == "LAB"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.tif", SHAPE) > 0.5, m)


def test_grey_mask_values_are_kept_as_soft_alpha(tmp_path):
    a = np.array([[0, 64, 128, 255]], np.uint8)
    Image.fromarray(a).save(tmp_path / "g.png")
    np.testing.assert_allclose(read_mask(tmp_path / "g.png"), a / 255.0, atol=1e-7)


def test_a_jpeg_mask_with_faint_grey_says_so_and_a_png_or_a_clean_jpeg_does_not(tmp_path):
    """A JPEG's compression leaves faint values beside a drawn edge: they are soft alpha (a
    little edit outside the region), so reading one warns; the same mask as PNG does not, nor a
    JPEG whose black stayed black."""
    import warnings

    from maskedit.errors import MaskeditWarning

    y, x = np.mgrid[:64, :64]
    drawn = (((y - 30) ** 2 + (x - 33) ** 2) < 18**2).astype(np.uint8) * 255  # a drawn disc
    Image.fromarray(drawn).save(tmp_path / "m.jpg", quality=95)
    with pytest.warns(MaskeditWarning, match=r"m\.jpg': a JPEG's compression .* save masks as PNG"):
        alpha = read_mask(tmp_path / "m.jpg")
    assert ((alpha > 0) & (alpha < 0.1)).any()  # the file does hold faint grey
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "black.jpg")
    Image.fromarray(drawn).save(tmp_path / "m.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_mask(tmp_path / "m.png")
        read_mask(tmp_path / "black.jpg")


def test_mask_size_mismatch_is_an_error(tmp_path):
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(InputError, match=r"m.png.*5×5.*8×6"):
        read_mask(tmp_path / "m.png", SHAPE)


def test_exif_orientation_is_applied_first(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :10] = (255, 0, 0)  # red band on the left of the stored pixels
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # "rotate 90° CW to display"
    pil.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)  # upright: portrait
    assert out[:10, :, 0].mean() > 200 and out[-10:, :, 0].mean() < 50  # band now at the top


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16"])
def test_image_modes_become_rgb8(tmp_path, mode):
    base = Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (4, 1)))
    img = (
        base.convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    )
    ext = "jpg" if mode == "CMYK" else "png"
    img.save(tmp_path / f"i.{ext}")
    out = read_image(tmp_path / f"i.{ext}")
    assert out.dtype == np.uint8 and out.shape == (4, 8, 3)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "CMYK", "I;16"])
def test_a_pil_image_reads_as_its_file_does(tmp_path, mode):
    base = Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (4, 1)))
    img = base.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    img.save(tmp_path / "i.tif")
    got, source = image_and_source(img)
    assert source == "array"
    assert np.array_equal(got, read_image(tmp_path / "i.tif"))


@pytest.mark.parametrize("mode", ["I;16N", "I;16B", "I;16L"])
def test_every_16_bit_layout_is_scaled_like_i16(mode):
    """A 16-bit image or mask in any of Pillow's byte orders is scaled from 0-65535 as I;16 is;
    native order (I;16N) was clipped at 255, so 30000 was white and alpha 1."""
    values = np.array([[0, 30000, 65535]], np.uint16)
    i16 = Image.fromarray(values)
    order = ">u2" if mode == "I;16B" else "<u2" if mode == "I;16L" else "=u2"
    same = Image.frombytes(mode, (3, 1), values.astype(order).tobytes())
    assert np.array_equal(np.asarray(same), values)
    assert np.array_equal(image_and_source(same)[0], image_and_source(i16)[0])
    assert image_and_source(same)[0][0, 1, 0] == 117
    np.testing.assert_array_equal(pil_mask(same), pil_mask(i16))


def test_a_pil_image_is_upright_like_a_file(tmp_path):
    pil = Image.fromarray(np.arange(20 * 40 * 3, dtype=np.uint32).reshape(20, 40, 3).astype(np.uint8))
    exif = pil.getexif()
    exif[0x0112] = 6  # "rotate 90° CW to display"
    pil.save(tmp_path / "r.png", exif=exif)
    with Image.open(tmp_path / "r.png") as opened:
        assert np.array_equal(pil_image(opened, "image"), read_image(tmp_path / "r.png"))
        assert pil_mask(opened).shape == (40, 20)


@pytest.mark.parametrize("mode", ["1", "L255", "L01", "RGBA", "P", "RGB", "LA", "I16"])
def test_a_pil_mask_means_what_its_file_means(tmp_path, mode):
    test_every_png_mode_means_the_same_mask(tmp_path, mode)  # writes m_{mode}.png
    with Image.open(tmp_path / f"m_{mode}.png") as img:
        assert np.array_equal(pil_mask(img), read_mask(tmp_path / f"m_{mode}.png"))


def test_images_and_masks_of_other_types_are_one_line():
    with pytest.raises(InputError, match="image: got list, expected a file path, an H×W×3 uint8 array or a PIL image"):
        image_and_source([[0, 0, 0]])
    with pytest.raises(InputError, match=r"image \(PIL image\): is 0×0"):
        image_and_source(Image.new("RGB", (0, 0)))
    with pytest.raises(InputError, match=r"mask \(PIL image\): float mask has NaN"):
        pil_mask(Image.fromarray(np.full((3, 3), np.nan, np.float32)))


def test_bad_image_files_get_one_line_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    cases = {
        "missing.png": "not found",
        "": "directory",
        "empty.png": "empty",
        "text.png": "not a readable image",
        "trunc.png": "truncated",
    }
    for name, words in cases.items():
        with pytest.raises(InputError, match=words) as err:
            read_image(tmp_path / name)
        assert "\n" not in str(err.value)


def test_write_png_is_byte_stable(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", a)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_mask_arrays_are_read_as_their_pngs_would_be(tmp_path):
    """uint8 0/255 (np.array of a mask file) and 0/1 (`mask.astype(np.uint8)`) give the same
    alpha as the file; a soft 0-255 mask stays soft and JPEG noise (3/255) stays nearly 0, where
    clipping made every nonzero value 1."""
    truth = _truth()
    for array in (truth, truth.astype(np.uint8), truth.astype(np.uint8) * 255, truth * 65535):
        np.testing.assert_array_equal(alpha_from_array(np.asarray(array)), truth.astype(np.float32))
    soft = np.where(truth, 128, 3).astype(np.uint8)
    write_png(tmp_path / "soft.png", soft)
    np.testing.assert_array_equal(alpha_from_array(soft), read_mask(tmp_path / "soft.png"))
    assert alpha_from_array(soft).max() == np.float32(128 / 255)
    with pytest.raises(InputError, match="reference mask array: has NaN"):
        alpha_from_array(np.array([[np.nan]]), "reference mask array")


def test_a_float_mask_array_is_alpha_in_0_1_as_a_float_mask_file_is(tmp_path):
    """A float array is alpha, as a float TIFF is: values outside [0, 1] are one line. Clipped,
    a 0-255 float mask (`np.asarray(Image.open(m), np.float32)`) edited wherever it was not 0:
    JPEG noise of 3 became alpha 1, so the background changed, and a soft edge of 128 became
    hard. Within half a grey level of [0, 1] (a resampling overshoot, float rounding) it is
    clipped."""
    floats = np.array([[-0.001, 0.25], [1.0, 1.001]], np.float32)
    np.testing.assert_array_equal(alpha_from_array(floats), [[0, 0.25], [1, 1]])
    noisy = np.where(_truth(), 255.0, 3.0).astype(np.float32)
    with pytest.raises(InputError, match=r"^mask array: float values run from 3 to 255; alpha "
                                         r"must lie in \[0, 1\] \(a 0-255 mask: divide it by 255"):
        alpha_from_array(noisy)
    with pytest.raises(InputError, match=r"^reference mask array: float values run from -0.5 "):
        alpha_from_array(np.array([[-0.5, 1.0]]), "reference mask array")
    Image.fromarray(noisy).save(tmp_path / "noisy.tif")  # the same values as a file
    with pytest.raises(InputError, match="float mask values run from 3 to 255"):
        read_mask(tmp_path / "noisy.tif")
