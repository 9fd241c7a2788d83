"""Read images and masks into the project's conventions, and write PNGs atomically.

Images come out as H×W×3 uint8 RGB, upright (EXIF orientation applied first, so that clicks given
in "what the user sees" pixels match). Masks come out as H×W float32 alpha in [0, 1] whatever the
PNG mode: the original study divided a mode-"1" mask (values 0/1) by 255 and so blended nothing.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from maskedit.errors import InputError, MaskeditWarning
from maskedit.paths import check_path, new_file_mode, os_problem, shown_path

# Refuse images above this many pixels before decoding them (decompression bombs). 64 MP covers
# an 8000×8000 photo; raise it with MASKEDIT_MAX_PIXELS for larger scans.
MAX_PIXELS = int(os.environ.get("MASKEDIT_MAX_PIXELS", 64_000_000))

SAMPLE_PREFIX = "skimage:"
_SAMPLES = {
    "astronaut": lambda d: d.astronaut(),
    "chelsea": lambda d: d.chelsea(),
    "coffee": lambda d: d.coffee(),
    "rocket": lambda d: d.rocket(),
    "motorcycle_left": lambda d: d.stereo_motorcycle()[0],
}


def sample_image(name: str) -> np.ndarray:
    """A public-domain photo bundled with scikit-image (no download), as H×W×3 uint8."""
    from skimage import data

    if name not in _SAMPLES:
        raise InputError(
            f"image '{SAMPLE_PREFIX}{name}': unknown sample; choose from {sorted(_SAMPLES)}"
        )
    return np.ascontiguousarray(_SAMPLES[name](data)[..., :3])


@functools.cache
def _sample_size(name: str) -> tuple[int, int]:
    """(width, height) of a bundled sample, decoded once per process (manifests of thousands of
    cases name the same few samples)."""
    h, w = sample_image(name).shape[:2]
    return w, h


# Pillow refuses images over twice its own limit when it opens them; ours is checked from the
# header instead, and a larger MASKEDIT_MAX_PIXELS must not be overruled by Pillow's.
if Image.MAX_IMAGE_PIXELS is not None and MAX_PIXELS > Image.MAX_IMAGE_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _too_many_pixels(what: str, path: Path, pixels: int, size: str = "") -> InputError:
    return InputError(
        f"{what} '{shown_path(path)}': {size}{pixels:,} pixels exceeds the limit of "
        f"{MAX_PIXELS:,} (set MASKEDIT_MAX_PIXELS to raise it)"
    )


def _detail(err: BaseException) -> str:
    """An exception's message on one line, at most 200 characters (its type when it has none)."""
    return " ".join(str(err).split())[:200] or type(err).__name__


def _corrupt(what: str, path: Path, err: BaseException) -> InputError:
    return InputError(
        f"{what} '{shown_path(path)}': image data is truncated or corrupt ({_detail(err)})"
    )


def _open_header(path: Path, what: str) -> Image.Image:
    """Open an image lazily (header only), refusing missing, empty and oversized files; every
    Pillow or OS failure is one `InputError` naming the file."""
    check_path(path, what)
    try:
        st = path.stat()
    except OSError as err:  # missing, a symbolic link loop, no permission
        raise InputError(f"{what} '{shown_path(path)}': {os_problem(err)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} '{shown_path(path)}': is a directory, expected an image file")
    if not stat.S_ISREG(st.st_mode):  # opening a FIFO would wait for a writer; read once only
        raise InputError(
            f"{what} '{shown_path(path)}': is not a regular file (a pipe, socket or device); "
            "save the image to a file"
        )
    if st.st_size == 0:
        raise InputError(f"{what} '{shown_path(path)}': file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours is below
            img = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(
            f"{what} '{shown_path(path)}': not a readable image (PNG, JPEG, WebP, TIFF, BMP…)"
        ) from None
    except Image.DecompressionBombError as err:  # Pillow's own limit, from the header
        found = re.search(r"\((\d+) pixels\)", str(err))
        raise _too_many_pixels(what, path, int(found[1]) if found else 0) from None
    except OSError as err:
        if err.filename is not None:  # opening failed, not decoding (permission, I/O)
            raise InputError(f"{what} '{shown_path(path)}': {os_problem(err)}") from None
        raise _corrupt(what, path, err) from None
    except Exception as err:  # noqa: BLE001 - SyntaxError, ValueError (a text-chunk bomb), …
        raise _corrupt(what, path, err) from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise _too_many_pixels(what, path, w * h, f"{w}×{h} = ")
    return img


def _open(path: Path, what: str) -> Image.Image:
    """Open and fully decode an image file (EXIF orientation applied), with one clear error for
    every way it can fail. A file of several frames (GIF, TIFF pages, APNG) gives its first,
    with a warning that says so."""
    img = _open_header(path, what)
    try:
        frames = getattr(img, "n_frames", 1)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
            upright = ImageOps.exif_transpose(img)  # before anything else: clicks are upright
    except MemoryError:
        raise InputError(f"{what} '{shown_path(path)}': not enough memory to decode it") from None
    except Exception as err:  # noqa: BLE001 - OSError, SyntaxError, ValueError, struct.error, …
        raise _corrupt(what, path, err) from None
    finally:
        img.close()  # a copy or transposed image is returned; multi-frame files keep a handle
    if isinstance(frames, int) and frames > 1:
        warnings.warn(
            f"{what} '{shown_path(path)}': has {frames} frames; the first is used",
            MaskeditWarning,
            stacklevel=3,
        )
    return upright


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Any PIL mode → H×W×3 uint8. 16/32-bit greyscale is scaled, alpha is dropped (documented)."""
    if img.mode.startswith("I;16") or img.mode == "I":  # any byte order: I;16, I;16B/L/N
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a8 = np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(a8[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():  # NaN would become black pixels, silently
            raise InputError("float image has NaN or infinite values")
        a8 = np.clip(np.round(a * 255.0 if a.max() <= 1.0 else a), 0, 255).astype(np.uint8)
        return np.repeat(a8[..., None], 3, axis=2)
    if img.mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if img.mode == "RGBA":  # alpha ignored: edit what is drawn, not what is transparent
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()  # L, P, CMYK, 1, LA, YCbCr


def read_image(source: str | os.PathLike) -> np.ndarray:
    """Read an image file (or ``skimage:NAME``) as upright H×W×3 uint8 RGB."""
    if isinstance(source, str) and source.startswith(SAMPLE_PREFIX):
        return sample_image(source[len(SAMPLE_PREFIX) :])
    path = Path(source)
    img = _open(path, "image")
    try:
        return _to_rgb8(img)
    except InputError as err:
        raise InputError(f"image '{shown_path(path)}': {err}") from None
    except Exception as err:  # noqa: BLE001 - a mode Pillow cannot convert
        raise _corrupt("image", path, err) from None


def mask_to_alpha(img: Image.Image) -> np.ndarray:
    """Any PIL mask → H×W float32 alpha in [0, 1].

    - "1": 0/1 already. "L" (and "P" through its palette, "I;16", "RGB" through luminance): 0/255
      is scaled by 255, but a mask whose maximum is 1 (a bool saved as 0/1) is taken as 0/1.
    - "RGBA"/"LA": the alpha channel, unless it is fully opaque everywhere, in which case the
      colour's luminance (a black/white mask saved with an opaque alpha).
    - "F" (32-bit float TIFF): taken as alpha, which must be finite and in [0, 1]; anything
      else is an `InputError` (NaN would turn into black pixels outside the mask).
    """
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("L")
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.float32)
        if alpha.min() < 255:
            return alpha / 255.0
        img = img.convert("L")
    if img.mode == "1":
        return np.asarray(img, dtype=np.float32)
    if img.mode.startswith("I;16") or img.mode == "I":
        a = np.asarray(img, dtype=np.float32)
        top = a.max()
        scale = 1.0 if top <= 1 else (255.0 if top <= 255 else 65535.0)
        return np.clip(a / scale, 0.0, 1.0)
    if img.mode == "F":  # floats are alpha as they are; anything else would break the composite
        a = np.asarray(img, dtype=np.float32)
        if not np.isfinite(a).all():
            raise InputError("float mask has NaN or infinite values; alpha must lie in [0, 1]")
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise InputError(
                f"float mask values run from {a.min():g} to {a.max():g}; alpha must lie in "
                "[0, 1] (save 0-255 masks as 8-bit PNG)"
            )
        return a
    try:
        grey = img.convert("L")
    except ValueError:  # a mode with no direct conversion to grey (LAB): through RGB
        grey = img.convert("RGB").convert("L")
    a = np.asarray(grey, dtype=np.float32)
    if a.max() <= 1.0:  # a bool mask written as 0/1 in an 8-bit PNG
        return a
    return a / 255.0


def _from_pil(convert, img: Image.Image, what: str) -> np.ndarray:
    """`convert` of the upright PIL image, every failure one line naming it: a lazily opened
    file gone bad, a mode Pillow cannot convert, or `convert`'s own refusal."""
    try:
        return convert(ImageOps.exif_transpose(img))
    except InputError as err:
        raise InputError(f"{what} (PIL image): {err}") from None
    except Exception as err:  # noqa: BLE001 - whatever Pillow raises
        raise InputError(f"{what} (PIL image): cannot be read ({_detail(err)})") from None


def pil_mask(img: Image.Image, what: str = "mask") -> np.ndarray:
    """A PIL image in memory as H×W float32 alpha in [0, 1], upright, as `read_mask` reads
    a file of its mode."""
    return _from_pil(mask_to_alpha, img, what)


# How far outside [0, 1] a float mask array may stray and be clipped: half a grey level (a
# resampling overshoot, float rounding). Further out it is not alpha (a 0-255 mask, say).
FLOAT_ALPHA_SLACK = 0.5 / 255


def alpha_from_array(mask: np.ndarray, what: str = "mask array") -> np.ndarray:
    """An H×W mask array → float32 alpha in [0, 1], read as its PNG would be: bool as 0/1;
    integers as 0/1, 0/255 or 0/65535 by their largest value (so `np.array(Image.open(m))` and
    `mask.astype(np.uint8)` both work); floats as alpha, which must lie in [0, 1] (as a float
    TIFF's), to within `FLOAT_ALPHA_SLACK`, which is clipped."""
    if mask.dtype.kind not in "biuf":
        raise InputError(f"{what}: dtype {mask.dtype}, expected bool, or numbers in [0, 1]")
    alpha = mask.astype(np.float32)
    if mask.dtype.kind == "b":
        return alpha
    if not np.isfinite(alpha).all():  # NaN would blacken pixels outside the mask
        raise InputError(f"{what}: has NaN or infinite values; alpha is 0 to 1")
    low, high = (float(alpha.min()), float(alpha.max())) if alpha.size else (0.0, 0.0)
    if mask.dtype.kind == "f" and not -FLOAT_ALPHA_SLACK <= low <= high <= 1 + FLOAT_ALPHA_SLACK:
        raise InputError(
            f"{what}: float values run from {low:g} to {high:g}; alpha must lie in [0, 1] (a "
            "0-255 mask: divide it by 255, or give it as uint8)"
        )
    if mask.dtype.kind in "iu":
        alpha /= 1.0 if high <= 1 else (255.0 if high <= 255 else 65535.0)
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def read_mask(path: str | os.PathLike, image_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask file as H×W float32 alpha in [0, 1] (1 = edit allowed), sized like the image."""
    path = Path(path)
    img = _open(path, "mask")
    try:
        alpha = mask_to_alpha(img)
    except InputError as err:
        raise InputError(f"mask '{shown_path(path)}': {err}") from None
    except Exception as err:  # noqa: BLE001 - a mode Pillow cannot convert
        raise _corrupt("mask", path, err) from None
    if image_hw is not None and alpha.shape != tuple(image_hw):
        h, w = image_hw
        raise InputError(
            f"mask '{path}': size {alpha.shape[1]}×{alpha.shape[0]} does not match "
            f"the image's {w}×{h}"
        )
    if ((alpha > 0) & (alpha < LOSSY_FAINT)).any() and _format(path) in LOSSY_FORMATS:
        warnings.warn(
            f"mask '{shown_path(path)}': a JPEG's compression leaves faint grey beside its "
            "edges, read as soft alpha, so the edit reaches a little outside the drawn region; "
            "save masks as PNG",
            MaskeditWarning,
            stacklevel=2,
        )
    return alpha


# A mask stored lossily has faint values where it was drawn black (grey is soft alpha)
LOSSY_FORMATS = frozenset({"JPEG", "MPO"})
LOSSY_FAINT = 0.1


def _format(path: Path) -> str | None:
    """The file's format as its header says it (a decoded, turned copy no longer knows it)."""
    with _open_header(path, "mask") as img:
        return img.format


def alpha_to_png_array(alpha: np.ndarray) -> np.ndarray:
    """float alpha [0, 1] → uint8 0/255 greyscale, the form `mask.png` is written in."""
    return np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)


def stored_alpha(alpha: np.ndarray) -> np.ndarray:
    """H×W float32: `alpha` as mask.png keeps it (8 bits) and `read_mask` reads it back, so a
    fresh edit is scored as its folder is later (a feathered edge's 0.5 is stored as 128)."""
    return alpha_to_png_array(alpha).astype(np.float32) / 255.0


# Above this many pixels a PNG is written with zlib level 1 instead of Pillow's 6: a 4096×4096
# photo then encodes about twice as fast for ~20 % larger files (still lossless). Smaller images
# keep the default level, and so their exact bytes.
FAST_PNG_PIXELS = 4_000_000
FAST_PNG_LEVEL = 1


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as PNG atomically (temp file in the same folder, then rename).

    Pillow writes no timestamps into PNGs, so the same array gives the same bytes.
    """
    big = array.shape[0] * array.shape[1] > FAST_PNG_PIXELS
    options = {"compress_level": FAST_PNG_LEVEL} if big else {}
    path = Path(path)
    if array.dtype != np.uint8:
        raise ValueError(f"write_png: expected uint8, got {array.dtype}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(array).save(f, format="PNG", **options)
        os.chmod(tmp, new_file_mode())  # mkstemp's 0600 would hide the pictures from a share
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resize_rgb(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize H×W×3 uint8 with Lanczos (as instruct-pix2pix's edit_cli); identity when same size."""
    if image.shape[:2] == tuple(hw):
        return image
    h, w = hw
    return np.asarray(
        Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint8
    )


def stored_size(path: str | os.PathLike) -> tuple[tuple[int, int], int]:
    """A file's (width, height) as its pixels are stored, and the EXIF orientation (1-8; 1 when it
    has none) they are shown turned by, reading the header only."""
    with _open_header(Path(path), "image") as img:
        try:
            return img.size, int(img.getexif().get(0x0112, 1))
        except Exception as err:  # noqa: BLE001 - a damaged EXIF block
            raise _corrupt("image", Path(path), err) from None


def image_size(source: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as the user sees it (EXIF orientation applied), reading the header only."""
    if isinstance(source, str) and source.startswith(SAMPLE_PREFIX):
        return _sample_size(source[len(SAMPLE_PREFIX) :])
    (w, h), orientation = stored_size(source)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def image_and_source(image: np.ndarray | Image.Image | str | Path) -> tuple[np.ndarray, str]:
    """An image given as an array (checked: H×W×3 uint8), a PIL image (read like a file: upright,
    any mode) or a file, with what the record says of its source ("array" or the path). An array
    is copied: the result must not change when the caller later writes into theirs."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"image array: expected H×W×3 uint8 RGB, got {image.shape} {image.dtype}"
            )
        if image.size == 0:
            raise InputError(f"image array: is {image.shape[1]}×{image.shape[0]}, expected pixels")
        return image.copy(), "array"
    if isinstance(image, Image.Image):
        return pil_image(image, "image"), "array"
    if not isinstance(image, str | os.PathLike):
        raise InputError(
            f"image: got {type(image).__name__}, expected a file path, an H×W×3 uint8 array "
            "or a PIL image"
        )
    return read_image(image), str(image)


def pil_image(img: Image.Image, what: str) -> np.ndarray:
    """A PIL image in memory as upright H×W×3 uint8 RGB, as `read_image` reads a file."""
    if img.width * img.height == 0:
        raise InputError(f"{what} (PIL image): is {img.width}×{img.height}, expected pixels")
    return _from_pil(_to_rgb8, img, what)
